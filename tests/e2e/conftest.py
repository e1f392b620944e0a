"""Browser journeys: the app served by gunicorn (2 workers) on a free loopback port over a
database of its own (SQLite file, or a PostgreSQL database created and dropped here), migrated
with ``flask db upgrade`` and seeded through the services; Playwright drives Debian's Chromium.

Every fixture is per pytest process, so under ``pytest -n 2`` each worker has its own
database, server and browser. Each journey runs in English and in Arabic, with users of its
own language (``users(lang)``): nothing one run does is seen by the other.

A failing test leaves a screenshot and the HTML of every open page in tests/e2e/artifacts/.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

from ..conftest import scratch_database

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
HERE = Path(__file__).resolve().parent
ARTIFACTS = HERE / "artifacts"
AXE = HERE / "vendor" / "axe.min.js"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PASSWORD = "journey passphrase 2026"
LANGUAGES = ("en", "ar")



# --- the database ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def e2e_database_url(tmp_path_factory):
    with scratch_database(tmp_path_factory, "casework_e2e") as url:
        yield url


def _server_env(database_url: str, instance: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASEWORK_")}
    env.update({
        "CASEWORK_CONFIG": "test",
        "CASEWORK_DATABASE_URL": database_url,
        "CASEWORK_INSTANCE_PATH": str(instance),
        "CASEWORK_MAIL_BACKEND": "locmem",
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    return env


# --- the seed --------------------------------------------------------------------------------


@dataclass
class Cast:
    """The users of one language's runs and the records made for them."""

    lang: str
    team: str
    caseworker: str
    caseworker2: str
    counsellor: str
    supervisor: str
    admin: str
    donor: str
    mfa_secret: str = ""
    partner: str = ""
    shelter: str = ""
    training: str = ""
    programme: str = ""
    report_programme: str = ""
    survivors: dict = field(default_factory=dict)  # label -> (id, case number, first name)

    def totp(self) -> str:
        import pyotp

        return pyotp.TOTP(self.mfa_secret).now()


def _cast(lang: str) -> Cast:
    return Cast(lang=lang, team=f"Team-{lang}", caseworker=f"cw-{lang}",
                caseworker2=f"cw2-{lang}", counsellor=f"co-{lang}", supervisor=f"sup-{lang}",
                admin=f"adm-{lang}", donor=f"donor-{lang}")


def _seed(database_url: str) -> dict[str, Cast]:
    """Users of every role per language, reference data and a few cases, all through the
    services (as an administrator, caseworker or supervisor would make them)."""
    from casework import create_app
    from casework.auth import mfa
    from casework.auth.models import Organisation
    from casework.auth.service import create_user
    from casework.counselling import service as counselling
    from casework.extensions import db
    from casework.me import service as me
    from casework.programmes import service as programmes
    from casework.referrals import service as partners
    from casework.referrals import service as referrals
    from casework.reports import service as reports
    from casework.shelters import service as shelters
    from casework.survivors import service as survivors
    from casework.training import service as training

    app = create_app({"CONFIG": "test", "DATABASE_URL": database_url})
    today = date.today()
    casts = {}
    with app.test_request_context("/"):
        db.session.add(Organisation(name="Journey Test Network", timezone="UTC"))
        for lang in LANGUAGES:
            cast = _cast(lang)
            users = {}
            for role, username in (("caseworker", cast.caseworker),
                                   ("caseworker", cast.caseworker2),
                                   ("counsellor", cast.counsellor),
                                   ("supervisor", cast.supervisor),
                                   ("admin", cast.admin), ("donor", cast.donor)):
                team = cast.team if role in ("caseworker", "counsellor", "supervisor") else None
                users[username] = user = create_user(
                    username, role, PASSWORD, team=team,
                    display_name=f"{role.title()} {lang.upper()} {username}",
                    email=f"{username}@example.org")
                db.session.flush()
                if lang != "en":
                    me.update_profile(user, locale=lang, timezone="UTC")
            caseworker = users[cast.caseworker]
            secret = mfa.pending_secret(caseworker)
            import pyotp

            mfa.confirm_enrolment(caseworker, pyotp.TOTP(secret).at(time.time() - 30))
            cast.mfa_secret = secret
            admin = users[cast.admin]
            partner = partners.create(admin, {
                "name": f"Harbour Legal Aid {lang} (test)", "services": ["legal_aid"],
                "languages": ["en", "ar"], "contact_email": f"intake-{lang}@example.org"})
            cast.partner = partner.name
            provider = partners.create(admin, {
                "name": f"Skills Workshop {lang} (test)", "services": ["vocational_training"],
                "languages": ["en"], "contact_email": f"skills-{lang}@example.org"})
            shelter = shelters.create_shelter(admin, {
                "name": f"Harbour House {lang} (test)",
                "beds": [{"label": f"{lang.upper()}{n}", "restrictions": []}
                         for n in range(1, 5)]})
            cast.shelter = shelter.name
            course = training.create_programme(admin, {
                "name": f"Tailoring {lang} (test)", "provider_partner_id": provider.id,
                "starts_on": today - timedelta(days=10), "ends_on": today + timedelta(days=80),
                "capacity": 10})
            cast.training = course.name
            funded = programmes.create(admin, {
                "name": f"Safe Futures {lang} (test)",
                "starts_on": (today - timedelta(days=400)).replace(day=1),
                "donor_ids": [users[cast.donor].id]})
            cast.programme = funded.name
            other = programmes.create(admin, {
                "name": f"Open Horizons {lang} (test)",
                "starts_on": (today - timedelta(days=400)).replace(day=1), "donor_ids": []})
            cast.report_programme = other.name
            # Cases of the second caseworker: counselling, reassignment, break glass.
            for label, first in (("counselled", "Mira"), ("reassign", "Noor"),
                                 ("glass", "Lale")):
                survivor = survivors.create(users[cast.caseworker2], {
                    "intake_date": today - timedelta(days=40), "gender": "Feminine",
                    "first_name": f"{first}{lang.upper()}", "last_name": "Journeytest",
                    "date_of_birth": date(1994, 3, 2), "narrative": "Synthetic narrative.",
                    "risk_level": "medium", "programme_ids": [funded.id]})
                db.session.flush()
                cast.survivors[label] = (str(survivor.id), survivor.case_number,
                                         f"{first}{lang.upper()}")
                if label == "glass":  # a referral waiting for the supervisor's approval
                    referral = referrals.create_referral(users[cast.caseworker2], survivor, {
                        "partner_id": partner.id, "service": "legal_aid",
                        "reason": "Synthetic reason: advice on residence status."})
                    referrals.act(users[cast.caseworker2], referral, "submit")
                if label == "counselled":
                    counselling.start_engagement(users[cast.caseworker2], survivor, {
                        "counsellor_id": users[cast.counsellor].id,
                        "started_on": today - timedelta(days=30)})
            # A report the donor reads: last month, published by the supervisor.
            end = today.replace(day=1) - timedelta(days=1)
            report = reports.create_draft(users[cast.supervisor], funded.id,
                                          end.replace(day=1), end)
            reports.publish(users[cast.supervisor], report)
            casts[lang] = cast
        db.session.commit()
    with app.app_context():
        db.engine.dispose()
    return casts


# --- the server ------------------------------------------------------------------------------


def _die_with_parent() -> None:
    """In gunicorn's master, before exec: SIGTERM when the pytest process that started it
    dies, however it dies (Linux prctl PR_SET_PDEATHSIG), so no server outlives its run."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(base: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{base}/login", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer within {timeout}s:\n{log.read_text()[-3000:]}")


@dataclass
class Server:
    base: str
    casts: dict[str, Cast]

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture(scope="session")
def e2e_server(e2e_database_url, tmp_path_factory):
    instance = tmp_path_factory.mktemp("e2e-instance")
    env = _server_env(e2e_database_url, instance)
    subprocess.run([str(VENV_BIN / "flask"), "--app", "casework", "db", "upgrade"],
                   cwd=ROOT, env=env, check=True, capture_output=True)
    casts = _seed(e2e_database_url)
    log = instance / "gunicorn.log"
    for _attempt in range(3):  # the free port may be taken between the probe and the bind
        port = _free_port()
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [str(VENV_BIN / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}",
                 "--timeout", "60", "--graceful-timeout", "5", "casework:create_app()"],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent)
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(base, proc, log)
            break
        except RuntimeError:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(10)
            if "Address already in use" not in log.read_text():
                raise
    else:
        raise RuntimeError("no free port for gunicorn")
    try:
        yield Server(base=base, casts=casts)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


# --- the browser -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def e2e_browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"Chromium is not installed at {CHROMIUM}; as root, `make browser-deps` "
                    "installs it (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Browsing:
    """Opens browser contexts for a test and remembers their pages (for the failure hook)."""

    def __init__(self, browser, server: Server, lang: str):
        self.browser = browser
        self.server = server
        self.lang = lang
        self.contexts = []

    def new_page(self) -> Page:
        # Arabic users have Arabic in their profile; before login the browser asks for the
        # run's language too, so that the login page is in it.
        context = self.browser.new_context(
            locale=self.lang, viewport={"width": 1280, "height": 900}, accept_downloads=True,
            base_url=self.server.base)
        context.set_default_timeout(30_000)  # generous: the suite shares the machine
        self.contexts.append(context)
        return context.new_page()

    def pages(self) -> list[Page]:
        return [page for context in self.contexts for page in context.pages]

    def close(self):
        for context in self.contexts:
            context.close()


@pytest.fixture(params=LANGUAGES)
def lang(request):
    return request.param


@pytest.fixture
def cast(e2e_server, lang) -> Cast:
    return e2e_server.casts[lang]


def _artifact_stem(item) -> str:
    return re.sub(r"[^\w.-]+", "_", item.nodeid.split("::", 1)[-1])


@pytest.fixture
def browsing(request, e2e_browser, e2e_server, lang):
    for old in ARTIFACTS.glob(f"{_artifact_stem(request.node)}-*"):  # a previous run's
        old.unlink(missing_ok=True)
    session = Browsing(e2e_browser, e2e_server, lang)
    request.node._e2e_browsing = session
    yield session
    session.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    session = getattr(item, "_e2e_browsing", None)
    if session is None:
        return
    ARTIFACTS.mkdir(exist_ok=True)
    stem = _artifact_stem(item)
    saved = []
    for n, page in enumerate(session.pages()):
        try:
            shot = ARTIFACTS / f"{stem}-{n}.png"
            page.screenshot(path=str(shot), full_page=True)
            (ARTIFACTS / f"{stem}-{n}.html").write_text(
                f"<!-- {page.url} -->\n" + page.content(), encoding="utf-8")
            saved.append(shot.name)
        except Exception as exc:  # a crashed page: keep going with the others
            saved.append(f"(page {n}: {exc})")
    if saved:
        report.sections.append(("e2e artifacts", f"in {ARTIFACTS}: " + ", ".join(saved)))

