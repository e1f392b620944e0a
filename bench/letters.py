"""Benchmark of referral letter rendering (run by ``make bench``; not a test).

1. Renders 50 letters through the app's renderer (casework/referrals/letters: sandboxed
   Jinja template, one parsed stylesheet and one FontConfiguration reused, restrictive
   url_fetcher) and the same HTML through bare WeasyPrint (a new FontConfiguration and
   stylesheet per letter, the default url_fetcher reading the same font files) in the same
   run, alternating, and prints the median milliseconds of each and their ratio
   (goal: app / bare <= 1.2).
2. Renders 500 letters through the app's renderer and prints the growth of the process's
   resident memory (goal: under 50 MB).

The letters are built from synthetic records in an in-memory SQLite database, in the six
letter languages in turn. ``--check`` exits 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import gc
import resource
import statistics
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RATIO_GOAL = 1.2
MEMORY_GOAL_MB = 50.0


def rss_mb() -> float:
    """Current resident set size (Linux /proc), else the peak from getrusage."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build_letters(app, count: int) -> list[dict]:
    """Template contexts of ``count`` letters from synthetic records, built by the app's own
    code (values already formatted: no database access is left in them)."""
    from casework.auth.service import create_user
    from casework.consent import service as consent
    from casework.extensions import db
    from casework.referrals import service as referrals
    from casework.referrals.letters import referral_context
    from casework.referrals.letters.catalogue import LANGUAGES
    from casework.referrals.models import Partner
    from casework.survivors import service as survivors

    with app.test_request_context("/"):
        db.create_all()
        cw = create_user("bench.cw", "caseworker", "bench-password-123", team="Bench",
                         display_name="Bench Caseworker", email="bench.cw@example.org")
        partner = Partner(name="Bench Partner (demo)", services=["legal_aid"], languages=["en"],
                          accepting_referrals=True, contact_email="intake@bench.example",
                          address="1 Bench Road")
        db.session.add(partner)
        db.session.flush()
        survivor = survivors.create(cw, {
            "intake_date": date(2026, 1, 15), "first_name": "Mai", "last_name": "Example",
            "known_as": "Nguyễn Thị Hà", "date_of_birth": date(1998, 3, 4),
            "phone": "+84 90 123 4567", "address": "12 Đường Láng (synthetic)",
            "gender": "Feminine", "citizenship": ["VN"], "primary_language": "vi",
            "exploitation_types": ["ForcedLabour"]})
        grant = consent.record(cw, survivor, {
            "purpose": "referral_sharing", "partner_id": partner.id, "status": "granted",
            "scope": ["identity", "contact", "demographics", "trafficking_context",
                      "service_history"], "method": "written", "language": "vi"})
        pages = []
        for i in range(count):
            referral = referrals.create_referral(cw, survivor, {
                "partner_id": partner.id, "service": "legal_aid",
                "language": LANGUAGES[i % len(LANGUAGES)],
                "reason": "Synthetic benchmark letter: needs advice on a residence permit."})
            referral.reference = f"RF-BNCH-{i:04d}"
            context = referral_context(cw, referral, grant, code="ABCD-EFGH",
                                       today=datetime.now(UTC).date(),
                                       organisation="Bench Network (demo)")
            pages.append(context)
        db.session.rollback()
    return pages


def bare_renderer():
    """WeasyPrint as anyone would call it: everything built per letter, fonts from disk."""
    from weasyprint import CSS, HTML
    from weasyprint.text.fonts import FontConfiguration

    from casework.referrals.letters import render

    css_text = (render.TEMPLATES_DIR / render.STYLESHEET).read_text()
    css_text = css_text.replace(render.FONT_SCHEME, render.FONTS_DIR.as_uri() + "/")

    def render_bare(html: str) -> bytes:
        font_config = FontConfiguration()
        stylesheet = CSS(string=css_text, font_config=font_config)
        return HTML(string=html).write_pdf(stylesheets=[stylesheet], font_config=font_config,
                                           **render.PDF_OPTIONS)

    return render_bare


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--letters", type=int, default=50)
    parser.add_argument("--memory-letters", type=int, default=500)
    parser.add_argument("--check", action="store_true", help="exit 1 if a goal is missed")
    args = parser.parse_args()

    from casework import create_app
    from casework.referrals.letters.render import render_html, render_pdf

    app = create_app({"CONFIG": "test", "DATABASE_URL": "sqlite://"})
    contexts = build_letters(app, args.letters)
    pages = [render_html("referral.html", context) for context in contexts]
    render_bare = bare_renderer()

    # Warm up both paths (the first render loads fonts and Pango).
    render_pdf("referral.html", contexts[0])
    render_bare(pages[0])

    # The app's path includes the template; bare WeasyPrint gets the same HTML ready-made.
    app_ms, bare_ms = [], []
    for context, html in zip(contexts, pages, strict=True):
        start = time.perf_counter()
        render_pdf("referral.html", context)
        app_ms.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        render_bare(html)
        bare_ms.append((time.perf_counter() - start) * 1000)
    app_median, bare_median = statistics.median(app_ms), statistics.median(bare_ms)
    ratio = app_median / bare_median
    print(f"letters: {len(pages)} in 6 languages, {len(pages[0]) // 1024} kB of HTML each")
    print(f"app renderer:    median {app_median:7.1f} ms")
    print(f"bare WeasyPrint: median {bare_median:7.1f} ms")
    print(f"ratio app/bare:  {ratio:.2f} (goal <= {RATIO_GOAL})")

    gc.collect()
    before = rss_mb()
    for i in range(args.memory_letters):
        render_pdf("referral.html", contexts[i % len(contexts)])
    gc.collect()
    growth = rss_mb() - before
    print(f"memory growth over {args.memory_letters} letters: {growth:.1f} MB "
          f"(goal < {MEMORY_GOAL_MB:.0f} MB; RSS {before:.0f} -> {before + growth:.0f} MB)")

    ok = ratio <= RATIO_GOAL and growth < MEMORY_GOAL_MB
    print("goals met" if ok else "GOALS MISSED")
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
