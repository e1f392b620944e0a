"""Argon2id password hashing, with the parameters taken from the configuration, and the
bundled list of common passwords that nobody may choose."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import current_app

# ASVS 6.2.1 and 6.2.9: at least 12 characters, and long passphrases allowed. No composition
# rules and no expiry (ASVS 6.2.5, 6.2.10; NIST SP 800-63B 3.1.1.2).
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
COMMON_PASSWORDS = (Path(__file__).resolve().parent.parent / "data" / "common-passwords"
                    / "common-passwords.txt")


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The bundled list (casework/data/common-passwords/README.md says where it is from)."""
    with COMMON_PASSWORDS.open(encoding="utf-8", errors="replace") as handle:
        return frozenset(line.strip().casefold() for line in handle if line.strip())


def is_common(password: str) -> bool:
    """True when ``password`` (case-insensitively, ignoring surrounding spaces) is listed."""
    listed = common_passwords()
    return password.casefold() in listed or password.strip().casefold() in listed


def hasher() -> PasswordHasher:
    config = current_app.config
    return PasswordHasher(
        time_cost=config["ARGON2_TIME_COST"],
        memory_cost=config["ARGON2_MEMORY_COST"],
        parallelism=config["ARGON2_PARALLELISM"],
    )


def hash_password(password: str) -> str:
    return hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return hasher().verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    except UnicodeEncodeError:  # a lone surrogate sent as JSON "\ud800": matches nothing
        return False


def needs_rehash(password_hash: str) -> bool:
    return hasher().check_needs_rehash(password_hash)


# A hash of a password nobody has, checked when a username does not exist, so that a
# wrong username costs the same time as a wrong password.
_DUMMY: dict[tuple, str] = {}


def burn_time(password: str) -> None:
    ph = hasher()
    key = (ph.time_cost, ph.memory_cost, ph.parallelism)
    if key not in _DUMMY:
        _DUMMY[key] = ph.hash("casework-dummy-password")
    verify_password(_DUMMY[key], password)
