"""Tables the database itself keeps append-only (audit log, consent log).

Each table's models module registers its trigger DDL here; the migrations carry the same
statements. Tooling that must empty such tables on purpose (the test suite) asks this list
for the statements to drop and re-create.
"""

from __future__ import annotations

# (create statements by dialect, drop statements by dialect), in registration order.
REGISTRY: list[tuple[dict[str, list[str]], dict[str, list[str]]]] = []


def register(create: dict[str, list[str]], drop: dict[str, list[str]]) -> None:
    REGISTRY.append((create, drop))


def create_statements(dialect: str) -> list[str]:
    return [stmt for create, _ in REGISTRY for stmt in create.get(dialect, [])]


def drop_statements(dialect: str) -> list[str]:
    return [stmt for _, drop in reversed(REGISTRY) for stmt in drop.get(dialect, [])]
