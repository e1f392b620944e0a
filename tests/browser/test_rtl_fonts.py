"""In a real browser (Debian's Chromium, driven by Playwright): the caseload and a survivor's
page in Arabic and Thai are laid out in the right direction, and every character on them is
drawn with the fonts Casework serves (casework/static/fonts through casework.css), never
with whatever fonts the machine has. The letters' PDFs in those languages embed fonts that
cover their text.

The app runs on a loopback port (a werkzeug server thread) over the suite's database (SQLite
or PostgreSQL), seeded with the demo data. Skipped only where Chromium is not installed
(``make browser-deps`` installs it when run as root; ``make test`` does).
"""

from __future__ import annotations

import io
import os
import re
import threading
import urllib.request

import pytest
from fontTools.ttLib import TTFont
from sqlalchemy import select

from casework.extensions import db, limiter
from tests.conftest import _empty_all_tables

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
# Characters that need no glyph: spaces and invisible formatting marks.
INVISIBLE = set(" \n\t\r\u00a0\u200b\u200c\u200d\u200e\u200f\u2066\u2067\u2068\u2069\u00ad")
NOT_DRAWN = {"SCRIPT", "STYLE", "NOSCRIPT", "TITLE", "HEAD", "TEMPLATE", "OPTION"}

if not os.access(CHROMIUM, os.X_OK):
    pytest.skip(f"Chromium is not installed at {CHROMIUM}; as root, `make browser-deps` "
                "installs it (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import sync_playwright  # noqa: E402


@pytest.fixture(autouse=True)
def _clean_state():
    """The tests of this module share one dataset and one server (``server``)."""
    yield


@pytest.fixture(scope="module")
def server(app):
    from werkzeug.serving import make_server

    from casework.seed import DEMO_PASSWORD, seed_demo_data
    from casework.survivors.models import Survivor

    with app.app_context():
        _empty_all_tables()
        limiter.reset()
    with app.test_request_context("/"):
        seed_demo_data(count=12, seed=2026)
        # A survivor of cw.amara's whose name is in Arabic script and one in Thai script:
        # the pages must draw both scripts in either language.
        survivor = db.session.scalars(select(Survivor).where(Survivor.closed_at.is_(None))
                                      .order_by(Survivor.case_number)).first()
        from casework.survivors import service

        service.update_record(survivor.lead_caseworker, survivor,
                              {"known_as": "سارة", "address": "ถนนสุขุมวิท กรุงเทพฯ"})
        db.session.commit()
        lead = survivor.lead_caseworker.username
        survivor_id = survivor.id
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"base": f"http://127.0.0.1:{httpd.server_port}", "username": lead,
               "password": DEMO_PASSWORD, "survivor_id": survivor_id}
    finally:
        httpd.shutdown()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def served_fonts(server) -> dict[str, set[int]]:
    """The font files casework.css declares, fetched from the server: file -> code points."""
    css = urllib.request.urlopen(f"{server['base']}/static/css/casework.css", timeout=10)
    files = sorted(set(re.findall(r'url\("\.\./fonts/([\w.-]+\.ttf)"\)', css.read().decode())))
    assert {"NotoSans-Regular.ttf", "NotoSansArabic-Regular.ttf",
            "NotoSansThai-Regular.ttf"} <= set(files)
    fonts = {}
    for name in files:
        data = urllib.request.urlopen(f"{server['base']}/static/fonts/{name}", timeout=10).read()
        fonts[name] = set(TTFont(io.BytesIO(data)).getBestCmap())
    return fonts


def _login(page, server):
    page.goto(f"{server['base']}/login")
    page.fill("input[name=username]", server["username"])
    page.fill("input[name=password]", server["password"])
    page.press("input[name=password]", "Enter")
    page.wait_for_url(re.compile(r".*/(survivors|me|supervision)/?.*"))


def _text_elements(node, found):
    """Elements with text of their own (a non-blank text node child), in document order."""
    if node.get("nodeType") == 1 and node.get("nodeName") in NOT_DRAWN:
        return
    children = node.get("children") or []
    if node.get("nodeType") == 1 and any(
            child.get("nodeType") == 3 and child.get("nodeValue", "").strip()
            for child in children):
        found.append(node)
    for child in children:
        _text_elements(child, found)
    if node.get("contentDocument"):
        _text_elements(node["contentDocument"], found)


def _check_page(page, cdp, served_fonts, locale: str, direction: str) -> dict:
    page.wait_for_load_state("networkidle")
    page.evaluate("document.fonts.ready.then(() => true)")
    assert page.evaluate("document.documentElement.lang") == locale
    assert page.evaluate("getComputedStyle(document.body).direction") == direction
    assert page.evaluate("getComputedStyle(document.documentElement).direction") == direction
    stylesheet = "bootstrap.rtl.min.css" if direction == "rtl" else "bootstrap.min.css"
    assert page.locator(f'link[href*="{stylesheet}"]').count() == 1
    loaded = set(page.evaluate(
        "Array.from(document.fonts).filter(f => f.status === 'loaded').map(f => f.family)"))
    # Every glyph drawn came from a web font (CSS.getPlatformFontsForNode per text element).
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument", {"depth": -1})["root"]
    elements: list[dict] = []
    _text_elements(root, elements)
    assert len(elements) > 20
    system_fonts = {}
    drawn = 0
    for element in elements:
        fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": element["nodeId"]})["fonts"]
        drawn += bool(fonts)
        for font in fonts:
            if not font.get("isCustomFont"):
                text = "".join(child.get("nodeValue", "") for child in element.get("children", [])
                               if child.get("nodeType") == 3).strip()
                system_fonts.setdefault(font["familyName"], []).append(
                    f"<{element['nodeName'].lower()}> {text[:40]!r}")
    assert drawn > 20
    assert not system_fonts, f"glyphs drawn with the machine's fonts: {system_fonts}"
    # And every character shown is in one of the font files the server sent.
    covered = set().union(*served_fonts.values())
    shown = page.evaluate("document.body.innerText")
    missing = sorted({ch for ch in shown if ch not in INVISIBLE and ord(ch) not in covered})
    assert not missing, f"characters no served font has: {missing}"
    return {"loaded": loaded, "text": shown}


@pytest.mark.parametrize(("locale", "direction", "script_font"),
                         [("ar", "rtl", "CW Arabic"), ("th", "ltr", "CW Thai")])
def test_caseload_and_survivor_page_direction_and_fonts(server, browser, served_fonts, locale,
                                                        direction, script_font):
    context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        _login(page, server)
        cdp = context.new_cdp_session(page)
        page.goto(f"{server['base']}/survivors/")
        caseload = _check_page(page, cdp, served_fonts, locale, direction)
        assert script_font in caseload["loaded"] and "CW Sans" in caseload["loaded"]
        page.goto(f"{server['base']}/survivors/{server['survivor_id']}")
        record = _check_page(page, cdp, served_fonts, locale, direction)
        # Both scripts are on the survivor's page, whichever the interface language.
        assert "سارة" in record["text"] and "สุขุมวิท" in record["text"]
        assert {"CW Arabic", "CW Thai", "CW Sans"} <= record["loaded"]
        # The check detects a machine font: text styled with a generic family is reported.
        page.evaluate("""() => { const p = document.createElement('p');
            p.id = 'probe'; p.style.fontFamily = 'serif'; p.textContent = 'Probe text';
            document.body.appendChild(p); }""")
        cdp.send("DOM.enable")
        root = cdp.send("DOM.getDocument", {"depth": -1})["root"]
        probe = cdp.send("DOM.querySelector", {"nodeId": root["nodeId"], "selector": "#probe"})
        fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": probe["nodeId"]})["fonts"]
        assert fonts and not any(font.get("isCustomFont") for font in fonts), fonts
    finally:
        context.close()


@pytest.mark.parametrize("language", ["ar", "th"])
def test_letter_pdfs_embed_fonts_that_cover_their_text(app, language):
    from markupsafe import Markup

    from casework.referrals.letters import catalogue, render
    from tests.test_letters import embedded_fonts, missing_glyphs

    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        t = catalogue.Catalogue(language)
        context = {
            "lang": language, "dir": catalogue.direction(language), "t": t,
            "organisation": "شبكة مكافحة الاتجار" if language == "ar" else "เครือข่ายต่อต้าน",
            "reference": "RF-AAAA-BBBB", "date": "1",
            "partner": {"name": "Partner", "address": "ถนนสุขุมวิท", "email": None},
            "subject": t.format("subject", service=t["s.legal_aid"]),
            "fields": [(t["f.first_name"], "سارة"), (t["f.address"], "ถนนสุขุมวิท")],
            "reason": "—", "service": t["s.legal_aid"],
            "caseworker": {"name": "Amara Demo", "email": None},
            "consent_statement": Markup(t.format("consent_statement", method=t["m.written"],
                                                 date="1", partner="P", scope=t["g.identity"])),
            "consent_expires": None,
            "verify_text": Markup(t.format("verify_text", url="https://x.example/v", code="C")),
        }
        pdf = render.render_pdf("referral.html", context)
    texts = [t[key] for key in ("title", "intro", "about", "reason", "consent", "verification")]
    assert missing_glyphs(pdf, *texts, "سارة", "ถนนสุขุมวิท") == set()
    fonts = embedded_fonts(pdf)
    needed = {"ar": "CW-Arabic", "th": "CW-Thai"}[language]
    assert any(needed in name for name in fonts), sorted(fonts)
