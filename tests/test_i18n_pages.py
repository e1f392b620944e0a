"""Every page of the app in every locale: the page's language and direction, and no English
sentence of the catalog left untranslated on it.

One small demo dataset per module (casework.seed: users of every role, survivors and their
service records); every GET endpoint of the url_map that answers HTML is rendered for the
first role that may see it, with ids from the dataset. Pages are fetched once per locale.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from sqlalchemy import select

from casework.extensions import db, limiter
from casework.web import RTL_LOCALES, SUPPORTED_LOCALES
from tests.conftest import _empty_all_tables, csrf_from

ROOT = Path(__file__).resolve().parent.parent
# Answers that are not HTML pages (files for download, charts).
NOT_PAGES = re.compile(r"\.[a-z]+$")
# The demo users (casework/seed.py), one of every role and both caseworkers, tried in this
# order; None is a visitor who has not logged in.
ROLES = ("cw.amara", "cw.tuan", "sup.rosa", "co.lina", "admin", "donor", None)
CANDIDATES = 6  # records tried per id argument
TOKEN = re.compile(r"\w+(?:['’-]\w+)*|[^\w\s]", re.UNICODE)
PLACEHOLDER = re.compile(r"%\(\w+\)[sdifr]|%[sdif]|<[^>]+>")


@pytest.fixture(autouse=True)
def _clean_state():
    """This module's tests share one dataset (``site``), emptied and seeded once."""
    yield


def _id_candidates() -> dict[str, list]:
    from casework.counselling.models import CounsellingEngagement, CounsellingSession
    from casework.legal.models import LegalMatter
    from casework.plans.models import PlanItem
    from casework.programmes.models import Programme
    from casework.referrals.models import Partner, Referral, ReferralLetter
    from casework.reports.models import Report
    from casework.retention.models import ErasureRequest
    from casework.shelters.models import Bed, Shelter
    from casework.survivors.models import Survivor
    from casework.training.models import Enrolment, TrainingProgramme

    def ids(column, *order):
        return list(db.session.scalars(select(column).order_by(*order).limit(CANDIDATES)))

    return {
        "survivor_id": ids(Survivor.id, Survivor.closed_at.is_not(None), Survivor.case_number),
        "partner_id": ids(Partner.id, Partner.name),
        "programmes.programme_id": ids(Programme.id, Programme.name),
        "training.programme_id": ids(TrainingProgramme.id, TrainingProgramme.name),
        "engagement_id": ids(CounsellingEngagement.id, CounsellingEngagement.ended_on.is_not(None)),
        "session_id": ids(CounsellingSession.id, CounsellingSession.id),
        "enrolment_id": ids(Enrolment.id, Enrolment.id),
        "matter_id": ids(LegalMatter.id, LegalMatter.id),
        "item_id": ids(PlanItem.id, PlanItem.id),
        "referral_id": ids(Referral.id, Referral.status != "draft", Referral.id),
        "report_id": ids(Report.id, Report.id),
        "shelter_id": ids(Shelter.id, Shelter.name),
        "bed": [(bed.shelter_id, bed.id) for bed in
                db.session.scalars(select(Bed).order_by(Bed.id).limit(CANDIDATES))],
        "reference": ids(ReferralLetter.reference, ReferralLetter.reference),
        "request_id": ids(ErasureRequest.id, ErasureRequest.id),
    }


def _add_a_draft_referral() -> None:
    """A draft, whatever the demo's random stages gave (its edit page is a page too)."""
    from casework.referrals import service
    from casework.referrals.models import Partner
    from casework.survivors.models import Survivor

    survivor = db.session.scalars(select(Survivor).where(Survivor.closed_at.is_(None))
                                  .order_by(Survivor.case_number)).first()
    partner = db.session.scalars(select(Partner).order_by(Partner.name)).first()
    service.create_referral(survivor.lead_caseworker, survivor, {
        "partner_id": partner.id, "service": partner.services[0], "reason": "Synthetic."})
    db.session.commit()


def _urls(app, rule, candidates) -> list[str]:
    """URLs of ``rule`` filled with the dataset's ids (a few candidates each)."""
    from flask import url_for

    args = sorted(rule.arguments)
    if not args:
        return [rule.rule]
    blueprint = rule.endpoint.split(".")[0]
    if args == ["bed_id", "shelter_id"]:
        combos = [{"shelter_id": s, "bed_id": b} for s, b in candidates["bed"]]
    elif len(args) == 1:
        name = args[0]
        values = candidates.get(f"{blueprint}.{name}", candidates.get(name, []))
        combos = [{name: value} for value in values]
    else:  # pragma: no cover - a new kind of page: give it candidates above
        combos = []
    with app.test_request_context("/"):
        return [url_for(rule.endpoint, **combo) for combo in combos]


def _login(app, username):
    from casework.seed import DEMO_PASSWORD

    client = app.test_client()
    token = csrf_from(client.get("/login").text)
    response = client.post("/login", data={"username": username, "password": DEMO_PASSWORD,
                                           "csrf_token": token})
    assert response.status_code == 302, response.text[:300]
    return client


def _is_page(response) -> bool:
    return response.status_code == 200 and response.mimetype == "text/html"


@pytest.fixture(scope="module")
def site(app):
    """The demo dataset, a logged-in client per role, and the (role, url) of every page."""
    from casework.seed import seed_demo_data

    with app.app_context():
        _empty_all_tables()
        limiter.reset()
    with app.test_request_context("/"):
        seed_demo_data(count=16, seed=2026)
        _add_a_draft_referral()
    clients = {role: _login(app, role) if role else app.test_client() for role in ROLES}
    with app.app_context():
        candidates = _id_candidates()
    pages: list[tuple[str, str | None, str]] = []  # (endpoint, role, url)
    unreached, redirects_only = [], []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if ("GET" not in rule.methods or rule.endpoint == "static"
                or rule.rule.startswith("/api") or NOT_PAGES.search(rule.rule)):
            continue
        found, statuses = None, set()
        for url in _urls(app, rule, candidates):
            for role in ROLES:
                response = clients[role].get(url)
                statuses.add(response.status_code)
                if _is_page(response):
                    found = (rule.endpoint, role, url)
                    break
            if found:
                break
        if found:
            pages.append(found)
        elif statuses and all(300 <= status < 400 for status in statuses):
            redirects_only.append(rule.rule)  # e.g. / sends everyone to their start page
        else:
            unreached.append(rule.rule)
    # Messages flashed while looking (in English) are shown once and gone.
    for role, client in clients.items():
        client.get("/login" if role is None else "/me/profile")
    return {"clients": clients, "pages": pages, "unreached": unreached,
            "redirects_only": redirects_only}


def test_every_page_of_the_app_is_rendered(site):
    assert not site["unreached"], f"pages no role could open: {site['unreached']}"
    assert len(site["pages"]) > 50
    assert site["redirects_only"] == ["/"]


class _Visible(HTMLParser):
    """The text a person sees: text nodes outside script and style, and placeholders."""

    VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link",
                      "meta", "source", "track", "wbr"})

    def __init__(self, locale: str):
        super().__init__(convert_charrefs=True)
        self.nodes: list[str] = []
        self._skip = 0
        self._locale = locale
        # Open elements and whether each is in another language (lang="…" on it or above):
        # the language switcher names each language in its own words, on purpose.
        self._stack: list[tuple[str, bool]] = []

    def _foreign(self) -> bool:
        return bool(self._stack) and self._stack[-1][1]

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "template"):
            self._skip += 1
        attrs = dict(attrs)
        if tag not in self.VOID:
            lang = attrs.get("lang")
            foreign = (lang.split("-")[0] != self._locale) if lang and tag != "html" \
                else self._foreign()
            self._stack.append((tag, foreign))
        if self._foreign():
            return
        if attrs.get("placeholder"):
            self.nodes.append(attrs["placeholder"])
        if tag == "input" and attrs.get("type") in ("submit", "button") and attrs.get("value"):
            self.nodes.append(attrs["value"])

    def handle_endtag(self, tag):
        if tag in ("script", "style", "template") and self._skip:
            self._skip -= 1
        for index in range(len(self._stack) - 1, -1, -1):
            if self._stack[index][0] == tag:
                del self._stack[index:]
                break

    def handle_data(self, data):
        if not self._skip and data.strip() and not self._foreign():
            self.nodes.append(" ".join(data.split()))


def _tokens(text: str) -> tuple[str, ...]:
    return tuple(TOKEN.findall(text))


def _literal_parts(msgid: str) -> list[str]:
    """The English text of a msgid around its placeholders and tags."""
    return [part.strip() for part in PLACEHOLDER.split(msgid) if part.strip()]


def _words(tokens) -> int:
    return sum(1 for token in tokens if re.search(r"[^\W\d_]", token))


@pytest.fixture(scope="module")
def english():
    """msgid -> its translation, per locale (from the catalogs the app uses)."""
    catalogs = {}
    for locale in SUPPORTED_LOCALES:
        if locale == "en":
            continue
        path = ROOT / "translations" / locale / "LC_MESSAGES" / "messages.po"
        with path.open("rb") as handle:
            catalogs[locale] = read_po(handle, locale=locale)
    return catalogs


def _untranslated_detector(catalog):
    """(sentences: {token tuple: msgid}, words: {word: msgid}) that must not appear on a page
    of this locale: every msgid (or English part of one around its placeholders) of 2+
    words, and every single word of 4+ letters, unless its translation is the same text."""
    sentences: dict[tuple[str, ...], str] = {}
    words: dict[str, str] = {}
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for msgid in ids:
            if msgid in strings:
                continue  # the translation is the English text itself (a name, "OK")
            for part in _literal_parts(msgid):
                tokens = _tokens(part)
                if _words(tokens) >= 2:
                    if not any(part in s for s in strings if s):
                        sentences[tokens] = msgid
                elif (_words(tokens) == 1 and len(tokens) == 1 and len(part) >= 4
                      and part == msgid and part.isalpha()):
                    words[part] = msgid
    return sentences, words


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_every_page_is_in_the_locale_with_its_direction(site, english, locale):
    direction = "rtl" if locale in RTL_LOCALES else "ltr"
    if locale != "en":
        sentences, words = _untranslated_detector(english[locale])
        lengths = sorted({len(key) for key in sentences})
    problems: list[str] = []
    left_english: dict[str, set[str]] = {}
    for role in ROLES:
        site["clients"][role].set_cookie("locale", locale)
    for endpoint, role, url in site["pages"]:
        response = site["clients"][role].get(url)
        if not _is_page(response):
            problems.append(f"{url} ({role}): {response.status_code}")
            continue
        html = response.text
        match = re.search(r"<html\b[^>]*>", html)
        tag = match.group(0) if match else ""
        if f'lang="{locale}"' not in tag or f'dir="{direction}"' not in tag:
            problems.append(f"{url} ({role}): {tag or 'no <html>'}")
        if locale == "en":
            continue
        parser = _Visible(locale)
        parser.feed(html)
        page_tokens = _tokens(" \n ".join(parser.nodes))
        for n in lengths:
            for i in range(len(page_tokens) - n + 1):
                msgid = sentences.get(page_tokens[i:i + n])
                if msgid is not None:
                    left_english.setdefault(msgid, set()).add(endpoint)
        for node in parser.nodes:
            word = node.strip(" :*·")
            if word in words:
                left_english.setdefault(words[word], set()).add(endpoint)
    assert not problems, problems
    if left_english:
        listed = "\n  ".join(f"{msgid!r} on {', '.join(sorted(endpoints)[:4])}"
                             for msgid, endpoints in sorted(left_english.items())[:60])
        pytest.fail(f"{locale}: {len(left_english)} English texts of the catalog left "
                    f"untranslated:\n  {listed}", pytrace=False)
