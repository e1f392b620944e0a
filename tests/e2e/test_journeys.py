"""Each role's path through Casework in a real browser, in English and in Arabic.

A journey starts at the login page and goes on only by clicking links and buttons and
filling forms. Elements are found by ids, form actions, ``data-*`` attributes and the
records' own data (a case number, a partner's name), never by English interface text, so
the same journey runs in either language; every page must say ``dir="rtl"`` in Arabic.

After every navigation axe-core (tests/e2e/vendor) checks the page; a journey fails on any
violation of impact serious or critical, listing the rule, the impact and the elements.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

from .conftest import AXE, PASSWORD, Browsing, Cast

AXE_SOURCE = AXE.read_text(encoding="utf-8")
BLOCKING_IMPACTS = ("serious", "critical")
DOWNLOAD_TIMEOUT_MS = 90_000
# What a form page shows when the server refused the input.
ERRORS = ".form-errors, .invalid-feedback, #referral-error, .alert-danger"



class Visitor:
    """One signed-in (or signing-in) user in one browser context."""

    def __init__(self, page: Page, lang: str):
        self.page = page
        self.lang = lang
        self.visited: list[str] = []
        self.violations: list[str] = []

    # -- navigation ---------------------------------------------------------------------------

    def start(self, path: str = "/login") -> None:
        """The one address typed in: where the journey starts."""
        self.page.goto(path)
        self.arrived()

    def arrived(self) -> None:
        """Called after every navigation: the page's language, direction and accessibility."""
        page = self.page
        page.wait_for_load_state("load")
        html = page.locator("html")
        expected = "rtl" if self.lang == "ar" else "ltr"
        assert html.get_attribute("dir") == expected, f"{page.url}: dir is not {expected}"
        assert (html.get_attribute("lang") or "").split("-")[0] == self.lang, page.url
        self.visited.append(page.url)
        self._axe()

    def _axe(self) -> None:
        page = self.page
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            page.evaluate(AXE_SOURCE + "\n;0")  # evaluated, so the page's CSP does not apply
        found = page.evaluate("""async () => {
            const result = await axe.run(document, {resultTypes: ['violations']});
            return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                targets: v.nodes.map(n => n.target.join(' '))}));
        }""")
        for v in found:
            if v["impact"] in BLOCKING_IMPACTS:
                where = re.sub(r"^https?://[^/]+", "", page.url)
                targets = ", ".join(v["targets"][:8]) + (" …" if len(v["targets"]) > 8 else "")
                self.violations.append(f"{where}: {v['id']} ({v['impact']}: {v['help']}) "
                                       f"at {targets}")

    def follow(self, target: str | Locator) -> None:
        """Click a link (or a GET form's button) and arrive at the next page."""
        locator = self.page.locator(target) if isinstance(target, str) else target
        with self.page.expect_navigation():
            locator.first.click()
        self.arrived()

    def submit(self, form: str | Locator, *, expect_errors: bool = False) -> None:
        """Press the form's submit button; the next page must show no refusal."""
        locator = self.page.locator(form) if isinstance(form, str) else form
        with self.page.expect_navigation():
            locator.first.locator("button[type=submit]").first.click()
        self.arrived()
        if not expect_errors:
            errors = self.page.locator(f"main :is({ERRORS})")
            if errors.count():
                raise AssertionError(f"{self.page.url} refused the form: "
                                     + " | ".join(errors.all_inner_texts()))

    def download(self, link: str | Locator) -> bytes:
        locator = self.page.locator(link) if isinstance(link, str) else link
        # PDFs are rendered on request (WeasyPrint): slow on a busy machine.
        with self.page.expect_download(timeout=DOWNLOAD_TIMEOUT_MS) as info:
            locator.first.click(timeout=DOWNLOAD_TIMEOUT_MS)
        return Path(info.value.path()).read_bytes()

    # -- forms --------------------------------------------------------------------------------

    def fill(self, selector: str, value: str) -> None:
        self.page.locator(selector).fill(value)

    def choose(self, selector: str, *, value=None, label=None) -> None:
        self.page.locator(selector).select_option(value=value, label=label)

    def choose_containing(self, selector: str, text: str) -> None:
        """Pick the option whose text contains ``text`` (a record's name: not UI text)."""
        options = self.page.locator(f"{selector} option")
        for i in range(options.count()):
            option = options.nth(i)
            if text in option.inner_text():
                self.page.locator(selector).select_option(value=option.get_attribute("value"))
                return
        raise AssertionError(f"no option of {selector} contains {text!r}")

    def tab(self, suffix: str) -> None:
        """One of the survivor's tabs, by the end of its address."""
        self.follow(f"main nav a.nav-link[href$='{suffix}']")

    def nav(self, path: str) -> None:
        """A link of the main navigation, by its address."""
        self.follow(f"header nav a[href='{path}']")

    # -- signing in ---------------------------------------------------------------------------

    def login(self, username: str, otp=None) -> None:
        self.start("/login")
        self.fill("#username", username)
        self.fill("#password", PASSWORD)
        if otp is not None:
            self.fill("#otp", otp())
        self.submit("main form:has(#username)")
        expect(self.page.locator("header form[action='/logout']")).to_have_count(1)

    def assert_accessible(self) -> None:
        assert not self.violations, (
            f"{len(self.violations)} serious or critical accessibility violations:\n"
            + "\n".join(self.violations))


def _visitor(browsing: Browsing) -> Visitor:
    return Visitor(browsing.new_page(), browsing.lang)


def _pdf(data: bytes) -> None:
    assert data.startswith(b"%PDF-"), data[:40]


def _token() -> str:
    return uuid.uuid4().hex[:8]


# --- caseworker ----------------------------------------------------------------------------------


def test_caseworker(browsing: Browsing, cast: Cast):
    me = _visitor(browsing)
    me.login(cast.caseworker, otp=cast.totp)
    page = me.page

    # Search before create: a team case of someone else is found, but only counted.
    me.nav("/survivors/new")
    other = cast.survivors["reassign"]
    me.fill("#check-first_name", other[2])
    me.fill("#check-last_name", "Journeytest")
    me.submit("form[action$='/survivors/new/check']")
    expect(page.locator("#possible-duplicates")).to_be_visible()
    assert page.locator(".duplicate-match, .duplicate-elsewhere").count() >= 1
    # Nobody by the new name: continue to the form, which carries what was typed.
    first = f"Amal{_token()}"
    me.fill("#check-first_name", first)
    me.fill("#check-last_name", {"en": "Whitlock", "ar": "Haddad"}[cast.lang])
    me.fill("#check-date_of_birth", {"en": "1996-07-21", "ar": "1991-02-13"}[cast.lang])
    me.submit("form[action$='/survivors/new/check']")
    expect(page.locator(".no-duplicates")).to_have_count(1)
    me.submit("#possible-duplicates form[action$='/survivors/new']")
    expect(page.locator("#first_name")).to_have_value(first)

    # Register.
    me.fill("#intake_date", date.today().isoformat())
    me.choose("#gender", value="Feminine")
    me.choose("#risk_level", value="medium")
    me.fill("#narrative", "Synthetic narrative for the browser journey.")
    me.submit("main form:has(#first_name)")
    assert re.search(r"/survivors/[0-9a-f-]{36}$", page.url), page.url
    heading = page.locator("main h1").inner_text()
    case_number = re.search(r"CW-\d{4}-\d{6}", heading).group(0)
    expect(page.locator("main")).to_contain_text(first)

    # Consent to share with the legal aid partner.
    me.tab("/consents")
    me.choose("#purpose", value="referral_sharing")
    me.choose("#partner_id", label=cast.partner)
    me.choose("#scope", value=["identity", "contact"])
    me.choose("#status", value="granted")
    me.choose("#method", value="written")
    me.choose("#language", value=cast.lang)
    me.submit("form[action$='/consents']")

    # Admit to a shelter (the first free bed that suits).
    me.tab("/placements")
    me.choose("#shelter_id", label=cast.shelter)
    me.submit("form[action$='/placements']")
    expect(page.locator("main")).to_contain_text(cast.shelter)

    # Counselling: start an engagement with the team's counsellor.
    me.tab("/counselling")
    me.follow("main a[href$='/counselling/engagements/new']")
    me.choose_containing("#counsellor_id", cast.counsellor)
    me.submit("main form:has(#counsellor_id)")
    expect(page.locator("main")).to_contain_text(cast.counsellor)

    # Training.
    me.tab("/training")
    me.choose_containing("#programme_id", cast.training)
    me.submit("main form:has(#programme_id)")
    expect(page.locator("main")).to_contain_text(cast.training)

    # A legal matter.
    me.tab("/legal")
    me.follow("main a[href$='/legal/new']")
    me.choose("#kind", value="immigration")
    me.choose("#partner_id", label=cast.partner)
    me.fill("#notes", "Synthetic: residence permit application.")
    me.submit("main form:has(#kind)")
    expect(page.locator("main a[href*='/legal/matters/']")).not_to_have_count(0)

    # A referral: draft, submit for approval.
    me.tab("/referrals")
    me.choose("#partner_id", label=cast.partner)
    me.choose("#service", value="legal_aid")
    me.choose("#language", value=cast.lang)
    me.fill("#reason", "Needs independent legal advice (synthetic).")
    me.submit("form[action$='/referrals']")
    assert re.search(r"/referrals/[0-9a-f-]{36}$", page.url), page.url
    me.submit("form[data-action=submit]")
    expect(page.locator("[data-status]")).to_have_attribute("data-status", "awaiting_approval")

    # The supervisor approves it, in a browser of their own.
    supervisor = _visitor(browsing)
    supervisor.login(cast.supervisor)
    supervisor.nav("/supervision/")
    supervisor.follow("main a[href$='/supervision/approvals']")
    row = supervisor.page.locator("main tr", has=supervisor.page.locator(
        "a", has_text=case_number))
    supervisor.submit(row.locator("form[data-action=approve]"))
    supervisor.assert_accessible()

    # Issue the letter and download it.
    page.reload()
    me.arrived()
    expect(page.locator("[data-status]")).to_have_attribute("data-status", "approved")
    me.submit("form[data-action=issue]")
    expect(page.locator("[data-status]")).to_have_attribute("data-status", "issued")
    _pdf(me.download("main a[href$='/letter.pdf']"))

    # The timeline shows what was done.
    me.tab("/timeline")
    expect(page.locator("main")).to_contain_text(cast.shelter)
    me.assert_accessible()


# --- counsellor ----------------------------------------------------------------------------------


def test_counsellor(browsing: Browsing, cast: Cast):
    case_number = cast.survivors["counselled"][1]
    me = _visitor(browsing)
    me.login(cast.counsellor)
    page = me.page
    me.follow(page.locator("main a", has_text=case_number))
    me.tab("/counselling")
    me.follow("main a[href$='/counselling/sessions/new']")
    note = f"Private note {_token()}: grounding exercises practised (synthetic)."
    me.fill("#held_on", (date.today() - timedelta(days=1)).isoformat())
    me.fill("#duration_minutes", "50")
    me.choose("#modality", value="in_person")
    page.locator("#attended").check()
    me.fill("#notes", note)
    me.submit("main form:has(#notes)")
    expect(page.locator("main")).to_contain_text(note)
    # A second session, then edit the first one's note.
    me.follow("main a[href$='/counselling/sessions/new']")
    me.fill("#duration_minutes", "45")
    me.choose("#modality", value="phone")
    page.locator("#attended").check()
    me.fill("#notes", "Second session (synthetic).")
    me.submit("main form:has(#notes)")
    edit = page.locator("main a[href*='/counselling/sessions/'][href$='/edit']")
    assert edit.count() == 2, edit.count()
    me.nav("/counselling/")
    expect(page.locator("main")).to_contain_text(case_number)
    me.assert_accessible()

    # The lead caseworker sees that sessions happened, never the note.
    caseworker = _visitor(browsing)
    caseworker.login(cast.caseworker2)
    caseworker.follow(caseworker.page.locator("main a", has_text=case_number))
    caseworker.tab("/counselling")
    assert "Private note" not in caseworker.page.content()
    caseworker.tab("/timeline")
    assert "Private note" not in caseworker.page.content()
    caseworker.assert_accessible()


# --- supervisor ----------------------------------------------------------------------------------


def test_supervisor(browsing: Browsing, cast: Cast):
    me = _visitor(browsing)
    me.login(cast.supervisor)
    page = me.page

    # The dashboard and an approval.
    me.nav("/supervision/")
    expect(page.locator("main a[href*='/supervision/caseload']")).not_to_have_count(0)
    me.follow("main a[href$='/supervision/approvals']")
    _glass_id, glass_case, glass_name = cast.survivors["glass"]
    row = page.locator("main tr", has=page.locator("a", has_text=glass_case))
    me.submit(row.locator("form[data-action=approve]"))
    expect(page.locator("main tr", has=page.locator("a", has_text=glass_case))).to_have_count(0)

    # Reassign a case to the other caseworker.
    me.nav("/supervision/")
    me.follow("main a[href$='/supervision/reassign']")
    moved_id = cast.survivors["reassign"][0]
    page.locator(f"#case-{moved_id}").check()
    me.choose_containing("#to_user_id", cast.caseworker)
    me.fill("#reason", "Balancing caseloads (synthetic).")
    me.submit("main form[method=post]:has(#to_user_id)")
    expect(page.locator(f"#case-{moved_id}")).to_have_count(1)

    # Break the glass on a team case, with a reason.
    me.nav("/survivors/")
    me.follow(page.locator("main a", has_text=glass_case))
    assert glass_name not in page.locator("main").inner_text()
    me.fill("form[action$='/break-glass'] #reason", "Police asked to confirm identity today.")
    me.submit("form[action$='/break-glass']")
    expect(page.locator("main")).to_contain_text(glass_name)

    # Review the team's audit: the break-glass is there.
    me.nav("/supervision/")
    me.follow("main a[href$='/supervision/audit']")
    me.fill("#case_number", glass_case)
    me.choose("#action", value="survivor.break_glass")
    me.submit("main form:has(#case_number)")
    expect(page.locator("main table tbody tr")).not_to_have_count(0)
    expect(page.locator("main")).to_contain_text("Police asked to confirm identity today.")

    # Draft and publish a donor report.
    me.nav("/reports")
    me.follow("main a[href$='/reports/new']")
    me.choose("#programme", label=cast.report_programme)
    last = date.today().replace(day=1) - timedelta(days=1)
    first = (last.replace(day=1) - timedelta(days=60)).replace(day=1)
    me.fill("#first_month", first.strftime("%Y-%m"))
    me.fill("#last_month", last.strftime("%Y-%m"))
    me.submit("main form:has(#programme)")
    me.submit("form[action$='/publish']")
    expect(page.locator("form[action$='/publish']")).to_have_count(0)
    _pdf(me.download("main a[href$='.pdf']"))
    me.assert_accessible()


# --- donor ---------------------------------------------------------------------------------------

DONOR_PATHS = re.compile(r"^(/reports(/[0-9a-f-]{36}(\.pdf|\.csv)?)?|/me/profile|/me/mfa|"
                         r"/me/password|/|/static/.*)$")


def _links(visitor: Visitor) -> set[str]:
    hrefs = visitor.page.eval_on_selector_all(
        "a[href], form[action]", "els => els.map(e => e.getAttribute('href') ?? "
        "e.getAttribute('action'))")
    return {h.split("?")[0].split("#")[0] for h in hrefs if not h.startswith("#")}


def test_donor(browsing: Browsing, cast: Cast):
    me = _visitor(browsing)
    me.login(cast.donor)
    page = me.page
    allowed_actions = {"/logout", "/language", ""}
    strays = {h for h in _links(me) if not DONOR_PATHS.match(h) and h not in allowed_actions}
    assert not strays, f"links a donor should not have: {strays}"
    reports = page.locator("main a[href^='/reports/']:not([href$='.pdf']):not([href$='.csv'])")
    expect(reports).to_have_count(1)
    me.follow(reports)
    expect(page.locator("main table")).not_to_have_count(0)
    strays = {h for h in _links(me) if not DONOR_PATHS.match(h) and h not in allowed_actions}
    assert not strays, f"links a donor should not have: {strays}"
    _pdf(me.download("main a[href$='.pdf']"))
    csv = me.download("main a[href$='.csv']")
    assert csv.count(b"\n") > 2
    me.follow("header a[href='/me/profile']")
    me.assert_accessible()
    # Nothing else: a survivor's page answers 404, as if it did not exist.
    survivor_id = cast.survivors["reassign"][0]
    response = page.goto(f"/survivors/{survivor_id}")
    assert response.status == 404
    response = page.goto("/survivors/")
    assert response.status in (403, 404)


# --- admin ---------------------------------------------------------------------------------------


def test_admin(browsing: Browsing, cast: Cast):
    me = _visitor(browsing)
    me.login(cast.admin)
    page = me.page
    token = _token()

    # The policy page: who can see what, by role and tier.
    me.nav("/admin/policy")
    expect(page.locator("main table")).not_to_have_count(0)

    # A new user.
    me.nav("/admin/users")
    username = f"new-{cast.lang}-{token}"
    me.fill("#username", username)
    me.fill("#display_name", f"New Counsellor {token}")
    me.choose("#role", value="counsellor")
    me.fill("#team", cast.team)
    me.fill("#password", "a long synthetic passphrase")
    me.submit("main form:has(#username)")
    expect(page.locator("main")).to_contain_text(username)

    # A new partner.
    me.nav("/admin/partners")
    me.follow("main a[href$='/admin/partners/new']")
    partner = f"Riverside Counselling {token} (test)"
    me.fill("#name", partner)
    me.fill("#contact_email", f"intake-{token}@example.org")
    me.choose("#services", value=["counselling"])
    me.choose("#languages", value=["en", "ar"])
    page.locator("#accepting_referrals").check()
    me.submit("main form:has(#name)")
    expect(page.locator("main")).to_contain_text(partner)

    # A new shelter with three beds.
    me.nav("/shelters/")
    me.follow("main a[href$='/shelters/new']")
    shelter = f"Lantern Court {token} (test)"
    me.fill("#name", shelter)
    me.fill("#bed_count", "3")
    me.submit("main form:has(#bed_count)")
    expect(page.locator("main")).to_contain_text(shelter)

    # A new funded programme with the donor.
    me.nav("/admin/programmes/")
    me.follow("main a[href$='/admin/programmes/new']")
    programme = f"Bright Bridges {token} (test)"
    me.fill("#name", programme)
    me.fill("#starts_on", date.today().replace(day=1).isoformat())
    me.choose_containing("#donor_ids", cast.donor)
    me.submit("main form:has(#donor_ids)")
    expect(page.locator("main")).to_contain_text(programme)
    me.assert_accessible()
