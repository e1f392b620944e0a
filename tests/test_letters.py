"""Referral letters and consent receipts: exactly the consented fields, every language with
every glyph, PDF/UA metadata, encrypted storage returned byte for byte, the public
verification, the restrictive url_fetcher, and casework/crypto.py."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
from datetime import date
from pathlib import Path

import pypdf
import pytest
from fontTools.ttLib import TTFont
from sqlalchemy import func, select

from casework import crypto
from casework.audit.models import AuditEvent
from casework.auth.models import Organisation
from casework.extensions import db, limiter
from casework.referrals.letters import catalogue, render
from casework.referrals.models import Partner, ReferralLetter
from tests.conftest import login_api, login_web

# Distinctive values, so that presence and absence in the PDF text are unambiguous.
SURVIVOR = {
    "first_name": "Zyxwqfirst",
    "last_name": "Qlastmarker",
    "known_as": "Knownmarker",
    "date_of_birth": date(1995, 5, 4),
    "phone": "+855 77 313 131",
    "email": "mail.qpzmv@example.org",
    "address": "Addressmarker 77",
    "gender": "Feminine",
    "citizenship": ["KH"],
    "primary_language": "km",
    "trafficking_status": "ActualVictimOfTrafficking",
    "exploitation_types": ["ForcedLabour"],
    "recruitment_methods": ["ThroughFriendsOrSocialEvents"],
    "narrative": "Narrativemarker never leaves",
    "risk_notes": "Risknotesmarker never leaves",
}
# How each field shows in an English letter (whitespace-free probes).
PROBES = {
    "first_name": "Zyxwqfirst",
    "last_name": "Qlastmarker",
    "known_as": "Knownmarker",
    "date_of_birth": "May4,1995",
    "phone": "+85577313131",
    "email": "mail.qpzmv@example.org",
    "address": "Addressmarker77",
    "gender": "Feminine",
    "age_band": "25–34",
    "citizenship": "Cambodia",
    "primary_language": "Khmer",
    "trafficking_status": "Actualvictimoftrafficking",
    "exploitation_types": "Forcedlabour",
    "recruitment_methods": "Throughfriends",
    "service_history": "Caseopenedon",
}
GROUPS = {
    "identity": ("first_name", "last_name", "known_as", "date_of_birth"),
    "contact": ("phone", "email", "address"),
    "demographics": ("gender", "age_band", "citizenship", "primary_language"),
    "trafficking_context": ("trafficking_status", "exploitation_types", "recruitment_methods"),
    "service_history": ("service_history",),
}
NEVER = ("Narrativemarker", "Risknotesmarker")


def make_partner(app, name="Harbour Legal (demo)"):
    with app.app_context():
        partner = Partner(name=name, services=["legal_aid", "shelter"], languages=["en"],
                          accepting_referrals=True, contact_email="intake@harbour.example",
                          address="1 Quay Road (demo)")
        db.session.add(partner)
        if db.session.scalar(select(Organisation)) is None:
            db.session.add(Organisation(name="Lantern Network (demo)",
                                        referrals_need_approval=False))
        db.session.commit()
        return partner.id


def issue(app, api, sid, pid, scope, language="en", reason="Needs legal advice."):
    """Grant consent with ``scope`` and issue a referral letter; (referral json, pdf bytes)."""
    consent = api.post(f"/api/v1/survivors/{sid}/consents", json={
        "purpose": "referral_sharing", "partner_id": str(pid), "scope": scope,
        "status": "granted", "method": "written", "language": "en"})
    assert consent.status_code == 201, consent.json
    referral = api.post("/api/v1/referrals", json={
        "survivor_id": str(sid), "partner_id": str(pid), "service": "legal_aid",
        "reason": reason, "language": language})
    assert referral.status_code == 201, referral.json
    rid = referral.json["id"]
    assert api.post(f"/api/v1/referrals/{rid}/submit").json["status"] == "approved"
    issued = api.post(f"/api/v1/referrals/{rid}/issue")
    assert issued.status_code == 200, issued.json
    pdf = api.get(f"/api/v1/referrals/{rid}/letter.pdf")
    assert pdf.status_code == 200
    return issued.json, pdf.data


def pdf_text(pdf: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages)


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def embedded_fonts(pdf: bytes) -> dict[str, set[int]]:
    """BaseFont name -> the code points its embedded (subset) font maps."""
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    fonts = {}
    for page in reader.pages:
        for ref in page["/Resources"]["/Font"].values():
            font = ref.get_object()
            descendant = font["/DescendantFonts"][0].get_object()
            data = descendant["/FontDescriptor"]["/FontFile2"].get_object().get_data()
            cmap = TTFont(io.BytesIO(data)).getBestCmap() or {}
            fonts.setdefault(str(font["/BaseFont"]), set()).update(cmap)
    return fonts


# Characters that need no glyph: spaces and invisible formatting marks.
INVISIBLE = set(" \n\t\u00a0\u200b\u200c\u200d\u200e\u200f\u2066\u2067\u2068\u2069\u00ad")
# The @font-face families of templates/letters/letter.css and the bundled files behind them.
FAMILY_FILES = {"CW-Sans": "NotoSans-Regular.ttf", "CW-Sans-Bold": "NotoSans-Bold.ttf",
                "CW-Arabic": "NotoSansArabic-Regular.ttf",
                "CW-Arabic-Bold": "NotoSansArabic-Bold.ttf",
                "CW-Thai": "NotoSansThai-Regular.ttf", "CW-Thai-Bold": "NotoSansThai-Bold.ttf",
                "CW-Myanmar": "NotoSansMyanmar-Regular.ttf",
                "CW-Khmer": "NotoSansKhmer-Regular.ttf"}


def font_cmap(file_name: str) -> set[int]:
    return set(TTFont(render.FONTS_DIR / file_name).getBestCmap())


def missing_glyphs(pdf: bytes, *texts: str) -> set[str]:
    """Characters of ``texts`` and of the PDF's text that no embedded font has a glyph for.

    An embedded font is known by its name (subset prefix + @font-face family); its cmap is
    the bundled file's (a subset's own cmap lacks characters drawn only through ligatures,
    as in Khmer). A character drawn as a box (no font had it) is not in any of them.
    """
    covered: set[int] = set()
    for name, subset_cmap in embedded_fonts(pdf).items():
        family = name.lstrip("/").split("+", 1)[1]
        file_name = FAMILY_FILES.get(family) or FAMILY_FILES.get(family.removesuffix("-Bold"))
        assert file_name, f"a font that is not bundled was embedded: {name}"
        covered |= subset_cmap | font_cmap(file_name)
    wanted = set("".join(texts)) | set(pdf_text(pdf))
    return {ch for ch in wanted - INVISIBLE if ord(ch) not in covered}


def test_a_missing_glyph_is_detected(app, caplog):
    """The checks themselves: a character none of the bundled fonts has is reported."""
    pdf = render.html_to_pdf('<html lang="en"><title>x</title><p>abc 中</p></html>')
    missing = missing_glyphs(pdf, "abc 中")
    assert "中" in missing and not {"a", "b", "c"} & missing
    assert ".notdef glyph rendered" in caplog.text


@pytest.fixture
def case(app, make):
    cw = make.user("caseworker", email="amara.cw@example.org")
    sid = make.survivor(cw, **SURVIVOR)
    return {"cw": cw, "sid": sid, "pid": make_partner(app), "api": login_api(app, cw)}


# --- exactly the consented fields ----------------------------------------------------------------


@pytest.mark.parametrize("scope", [
    ["identity"],
    ["contact"],
    ["demographics"],
    ["trafficking_context"],
    ["service_history"],
    ["identity", "contact"],
    ["demographics", "trafficking_context", "service_history"],
    ["identity", "contact", "demographics", "trafficking_context", "service_history"],
])
def test_a_letter_carries_exactly_the_fields_of_the_scope(app, case, scope):
    issued, pdf = issue(app, case["api"], case["sid"], case["pid"], scope)
    text = squeeze(pdf_text(pdf))
    allowed = {name for group in scope for name in GROUPS[group]}
    for name, probe in PROBES.items():
        if name in allowed:
            assert probe in text, f"{name} missing from a letter with scope {scope}"
        else:
            assert probe not in text, f"{name} leaked into a letter with scope {scope}"
    for marker in NEVER:
        assert marker not in text
    # The rest of the letter is always there.
    for always in ("Referralletter", issued["reference"], "HarbourLegal(demo)",
                   "Needslegaladvice.", "Legalaid", "amara.cw@example.org",
                   "LanternNetwork(demo)", "/letters/verify/" + issued["reference"]):
        assert always in text, always


def test_a_letter_without_personal_scope_says_so(app, case):
    # A grant whose scope has only service history: no personal fields at all.
    _, pdf = issue(app, case["api"], case["sid"], case["pid"], ["service_history"])
    text = squeeze(pdf_text(pdf))
    assert "Zyxwqfirst" not in text and "Caseopenedon" in text


# --- languages and glyphs ------------------------------------------------------------------------

def letter_texts(app, language):
    """The letter texts of ``language`` as the renderer has them (from the gettext catalogs)."""
    with app.app_context():
        return catalogue.Catalogue(language)


@pytest.mark.parametrize("language", catalogue.LANGUAGES)
def test_each_language_renders_with_no_missing_glyphs(app, make, language, caplog):
    cw = make.user("caseworker")
    # Names in Khmer and Burmese script, an address in Vietnamese: every script we ship.
    sid = make.survivor(cw, first_name="សុភា", last_name="မြင့်မြင့်",
                        known_as="Nguyễn Thị Hà", address="Đường Hồ Tùng Mậu",
                        date_of_birth=date(1990, 1, 2))
    pid = make_partner(app)
    api = login_api(app, cw)
    _, pdf = issue(app, api, sid, pid, ["identity", "contact", "demographics"],
                   language=language, reason="Ưu tiên hỗ trợ pháp lý. دعم قانوني. ช่วยเหลือ")
    fonts = embedded_fonts(pdf)
    # Only the bundled fonts (their @font-face families are named "CW …") are embedded.
    assert fonts and all(re.fullmatch(r"/[A-Z]{6}\+CW-[A-Za-z]+(-Bold)?", name)
                         for name in fonts), sorted(fonts)
    t = letter_texts(app, language)
    texts = [t["title"], t["intro"], t["about"], t["reason"], t["consent_statement"],
             t["verify_text"], "សុភា", "မြင့်မြင့်", "Nguyễn Thị Hà", "Đường Hồ Tùng Mậu"]
    assert missing_glyphs(pdf, *texts) == set()
    assert ".notdef" not in caplog.text  # WeasyPrint drew no empty box
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert reader.trailer["/Root"]["/Lang"] == language
    assert reader.metadata.title.startswith(t["title"])
    # Scripts that need their own font used it.
    needed = {"ar": "CW-Arabic", "th": "CW-Thai"}.get(language)
    if needed:
        assert any(needed in name for name in fonts)
    assert any("CW-Khmer" in name for name in fonts) and any("CW-Myanmar" in name
                                                            for name in fonts)


def test_arabic_is_right_to_left_and_others_left_to_right(app):
    with app.test_request_context("/"):
        for language in catalogue.LANGUAGES:
            html = render.render_html("referral.html", _context(language))
            expected = "rtl" if language == "ar" else "ltr"
            assert f'<html lang="{language}" dir="{expected}">' in html


def _context(language):
    from markupsafe import Markup

    t = catalogue.Catalogue(language)
    return {"lang": language, "dir": catalogue.direction(language), "t": t,
            "organisation": "Org", "reference": "RF-AAAA-BBBB", "date": "1",
            "partner": {"name": "P", "address": None, "email": None}, "subject": "s",
            "fields": [], "reason": "r", "service": "s",
            "caseworker": {"name": "c", "email": None}, "consent_statement": Markup("c"),
            "consent_expires": None, "verify_text": Markup("v")}


def test_every_letter_text_is_translated_in_every_language(app):
    """The letter texts are msgids of the gettext catalogs: each language's catalog translates
    every one, keeping its placeholders, and a letter shows the translation whatever the
    language of the user's pages."""
    from babel.messages.pofile import read_po

    from casework.referrals.letters.catalogue import TEXTS

    msgids = {key: str(text._args[0]) for key, text in TEXTS.items()}
    placeholder = re.compile(r"%\((\w+)\)s")
    for language in catalogue.LANGUAGES:
        if language == "en":
            continue
        po_path = Path(app.config["BABEL_TRANSLATION_DIRECTORIES"]) / language / "LC_MESSAGES" / "messages.po"
        with po_path.open("rb") as handle:
            po = read_po(handle)
        t = letter_texts(app, language)
        for key, msgid in msgids.items():
            message = po.get(msgid)
            assert message is not None and message.string, (language, msgid)
            assert set(placeholder.findall(message.string)) == set(placeholder.findall(msgid)), (
                language, key)
            assert t[key] == message.string, (language, key)  # compiled and current
    with app.test_request_context("/", headers={"Accept-Language": "ar"}):
        assert catalogue.Catalogue("fr")["title"] == "Lettre d’orientation"


def test_pdf_is_tagged_pdf_ua_with_title_and_language(app, case):
    issued, pdf = issue(app, case["api"], case["sid"], case["pid"], ["identity"], "fr")
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    root = reader.trailer["/Root"]
    assert root["/Lang"] == "fr"
    assert bool(root["/MarkInfo"]["/Marked"]) and "/StructTreeRoot" in root
    assert reader.metadata.title == f"Lettre d’orientation {issued['reference']}"
    xmp = root["/Metadata"].get_object().get_data().decode()
    assert "pdfuaid" in xmp and re.search(r"pdfuaid:part[^0-9]*1", xmp)


# --- storage and download ----------------------------------------------------------------------


def test_the_issued_pdf_is_stored_encrypted_and_returned_byte_for_byte(app, case):
    issued, pdf = issue(app, case["api"], case["sid"], case["pid"], ["identity"])
    again = case["api"].get(f"/api/v1/referrals/{issued['id']}/letter.pdf").data
    page = login_web(app, case["cw"]).get(f"/referrals/{issued['id']}/letter.pdf").data
    assert pdf == again == page
    with app.app_context():
        letter = db.session.scalar(select(ReferralLetter))
        blob = letter.pdf
        assert letter.sha256 == hashlib.sha256(pdf).hexdigest() and letter.size == len(pdf)
        assert b"%PDF" not in blob and b"Zyxwqfirst" not in blob
        assert crypto.decrypt(blob, crypto.aad("referral_letters", "pdf", letter.id)) == pdf
        downloads = db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "referral.letter_downloaded"))
    assert downloads == 3


# --- verification ------------------------------------------------------------------------------


def _code(pdf: bytes) -> str:
    match = re.search(r"code([0-9A-Z]{4}-[0-9A-Z]{4})", squeeze(pdf_text(pdf)))
    assert match, "no verification code in the letter"
    return match.group(1)


def test_verification_without_login_says_nothing_about_the_survivor(app, case, api, web):
    issued, pdf = issue(app, case["api"], case["sid"], case["pid"], ["identity", "contact"])
    reference, code = issued["reference"], _code(pdf)
    good = api.get(f"/api/v1/letters/verify/{reference}?code={code}")
    assert good.status_code == 200
    assert good.json == {"reference": reference, "valid": True,
                         "organisation": "Lantern Network (demo)",
                         "issued_on": date.today().isoformat(), "status": "valid",
                         "revoked": False, "revoked_on": None}
    # Codes are typed from paper: case and dashes do not matter.
    loose = api.get(f"/api/v1/letters/verify/{reference.lower()}?code={code.lower().replace('-', '')}")
    assert loose.json["valid"] is True
    for url in (f"/api/v1/letters/verify/{reference}?code=AAAA-AAAA",
                f"/api/v1/letters/verify/{reference}",
                "/api/v1/letters/verify/RF-0000-0000?code=" + code,
                f"/api/v1/letters/verify/{reference}?code=%00"):
        response = api.get(url)
        assert response.status_code == 200 and response.json["valid"] is False, url
        assert set(response.json) == {"reference", "valid"}
    page = web.get(f"/letters/verify/{reference}?code={code}")
    assert page.status_code == 200 and 'data-status="valid"' in page.text
    assert "Lantern Network (demo)" in page.text
    bad_page = web.get(f"/letters/verify/{reference}?code=ZZZZ-ZZZZ")
    assert bad_page.status_code == 200 and 'data-valid="0"' in bad_page.text
    for response in (good, page):
        for value in ("Zyxwq", "Qlastmarker", "313 131", "Harbour", "legal advice"):
            assert value not in response.text
    with app.app_context():
        actions = list(db.session.scalars(select(AuditEvent.action).where(
            AuditEvent.action.like("letter.%"))))
    assert actions.count("letter.verified") == 3 and "letter.verify_failed" in actions


def test_withdrawing_consent_after_issue_marks_the_letter_withdrawn(app, case, api):
    issued, pdf = issue(app, case["api"], case["sid"], case["pid"], ["identity"])
    url = f"/api/v1/letters/verify/{issued['reference']}?code={_code(pdf)}"
    with app.app_context():
        from casework.consent.models import Consent

        cid = db.session.scalar(select(Consent.id))
    case["api"].post(f"/api/v1/consents/{cid}/withdraw", json={"reason": "Changed her mind."})
    result = api.get(url).json
    assert result["valid"] is True and result["status"] == "withdrawn"
    assert result["revoked"] is True and result["revoked_on"] == date.today().isoformat()
    page = login_web(app, case["cw"]).get(f"/referrals/{issued['id']}")
    assert "withdrawn (consent withdrawn)" in page.text
    # The stored letter itself is unchanged.
    assert case["api"].get(f"/api/v1/referrals/{issued['id']}/letter.pdf").data == pdf


def test_withdrawing_the_referral_revokes_the_letter(app, case, api):
    issued, pdf = issue(app, case["api"], case["sid"], case["pid"], ["identity"])
    case["api"].post(f"/api/v1/referrals/{issued['id']}/withdraw",
                     json={"reason": "Survivor moved away."})
    result = api.get(f"/api/v1/letters/verify/{issued['reference']}?code={_code(pdf)}").json
    assert result["status"] == "revoked" and result["revoked"] is True


def test_verification_is_rate_limited(app, case, api):
    app.config["LETTER_VERIFY_LIMIT"] = "3 per minute"
    try:
        limiter.reset()
        statuses = [api.get("/api/v1/letters/verify/RF-0000-0000?code=AAAA-AAAA").status_code
                    for _ in range(5)]
        assert statuses[:3] == [200, 200, 200] and statuses[3:] == [429, 429]
        web_statuses = [login_web(app, case["cw"]).get(
            "/letters/verify/RF-0000-0000?code=AAAA-AAAA").status_code for _ in range(4)]
        assert 429 in web_statuses
    finally:
        app.config.pop("LETTER_VERIFY_LIMIT")
        limiter.reset()


# --- consent receipts ------------------------------------------------------------------------------


def test_consent_receipt_in_the_survivors_language(app, case, web):
    api = case["api"]
    consent = api.post(f"/api/v1/survivors/{case['sid']}/consents", json={
        "purpose": "referral_sharing", "partner_id": str(case["pid"]), "scope": ["contact"],
        "status": "granted", "method": "verbal", "language": "th",
        "interpreter": "Somchai Interpreter"}).json
    response = api.get(f"/api/v1/consents/{consent['id']}/receipt.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    pdf = response.data
    t = letter_texts(app, "th")
    assert missing_glyphs(pdf, t["receipt_title"], t["receipt_intro"]) == set()
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert reader.trailer["/Root"]["/Lang"] == "th"
    text = squeeze(pdf_text(pdf))
    assert consent["form_sha256"] in text and "SomchaiInterpreter" in text
    assert "Zyxwqfirst" not in text  # a receipt shows the decision, not the record
    page = login_web(app, case["cw"]).get(f"/consents/{consent['id']}/receipt.pdf")
    assert page.status_code == 200 and page.data.startswith(b"%PDF")
    assert web.get(f"/consents/{consent['id']}/receipt.pdf").status_code == 302  # login


# --- the renderer ---------------------------------------------------------------------------------


def test_the_url_fetcher_serves_bundled_fonts_only(app):
    fetcher = render.BundledFontFetcher()
    assert fetcher.fetch("casework-font:NotoSans-Regular.ttf").read()[:4] == b"\x00\x01\x00\x00"
    for url in ("file:///etc/passwd", "http://example.org/x.ttf", "https://example.org/",
                "casework-font:../../config.py", "casework-font:OFL.txt",
                "data:text/plain,hello", "casework-font:missing.ttf"):
        with pytest.raises(render.RefusedFetch):
            fetcher.fetch(url)
    assert len(fetcher.refused) == 7
    # A document asking for anything else is refused whole.
    with pytest.raises(render.RefusedFetch):
        render.html_to_pdf('<html lang="en"><title>x</title><img src="file:///etc/passwd">'
                           '<link rel="stylesheet" href="http://example.org/a.css"></html>')


def test_fonts_and_stylesheet_are_parsed_once(app):
    first = render.resources()
    render.html_to_pdf('<html lang="en"><title>a</title><p>a</p></html>')
    render.html_to_pdf('<html lang="en"><title>b</title><p>b</p></html>')
    assert render.resources() is first
    assert render.resources().font_config is first.font_config


def test_the_bundled_fonts_and_licence_ship(app):
    fonts = render.bundled_fonts()
    for name in ("NotoSans-Regular.ttf", "NotoSans-Bold.ttf", "NotoSansArabic-Regular.ttf",
                 "NotoSansThai-Regular.ttf", "NotoSansMyanmar-Regular.ttf",
                 "NotoSansKhmer-Regular.ttf"):
        assert name in fonts
    assert "SIL OPEN FONT LICENSE Version 1.1" in (render.FONTS_DIR / "OFL.txt").read_text()
    assert sum(len(data) for data in fonts.values()) < 3_000_000


# --- casework/crypto.py ------------------------------------------------------------------------


def _ring(*names: str) -> str:
    return json.dumps({name: base64.b64encode(bytes([i + 1]) * 32).decode()
                       for i, name in enumerate(names)})


def test_crypto_round_trip_and_tamper_detection():
    keys = _ring("k1")
    aad = crypto.aad("referral_letters", "pdf", "row-1")
    blob = crypto.encrypt(b"secret letter", aad, keys=keys)
    assert crypto.decrypt(blob, aad, keys=keys) == b"secret letter"
    assert crypto.key_id_of(blob) == "k1" and b"secret" not in blob
    assert crypto.encrypt(b"secret letter", aad, keys=keys) != blob  # fresh nonce
    for i in (0, 3, 10, len(blob) - 1):  # key id, nonce, ciphertext, tag
        tampered = bytearray(blob)
        tampered[i] ^= 0x01
        with pytest.raises(crypto.DecryptionError):
            crypto.decrypt(bytes(tampered), aad, keys=keys)
    with pytest.raises(crypto.DecryptionError):  # moved to another row
        crypto.decrypt(blob, crypto.aad("referral_letters", "pdf", "row-2"), keys=keys)
    for junk in (b"", b"\x05ab", blob[:20]):
        with pytest.raises(crypto.DecryptionError):
            crypto.decrypt(junk, aad, keys=keys)


def test_crypto_is_ready_for_key_rotation():
    aad = b"t/c/1"
    old = crypto.encrypt(b"data", aad, keys=_ring("2025"))
    ring = _ring("2025", "2026")  # the newest key is the last
    assert crypto.decrypt(old, aad, keys=ring) == b"data"
    assert crypto.needs_rotation(old, keys=ring)
    new = crypto.encrypt(b"data", aad, keys=ring)
    assert crypto.key_id_of(new) == "2026" and not crypto.needs_rotation(new, keys=ring)
    rotated = crypto.rotate(old, aad, keys=ring)
    assert crypto.key_id_of(rotated) == "2026" and crypto.decrypt(rotated, aad, keys=ring) == b"data"
    assert crypto.rotate(new, aad, keys=ring) is new
    with pytest.raises(crypto.DecryptionError):  # its key left the ring too early
        crypto.decrypt(old, aad, keys=_ring("x", "2026"))


@pytest.mark.parametrize("value", ["", "not json", "[]", "{}", '{"k": "not base64!"}',
                                   json.dumps({"k": base64.b64encode(b"short").decode()})])
def test_crypto_refuses_a_bad_key_ring(value):
    with pytest.raises(crypto.KeyRingError):
        crypto.key_ring(value)


def test_crypto_uses_the_apps_key_ring(app):
    with app.app_context():
        blob = crypto.encrypt(b"x", b"a")
        assert crypto.key_id_of(blob) == "test1" and crypto.decrypt(blob, b"a") == b"x"
