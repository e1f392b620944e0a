"""The PDF engine for letters: WeasyPrint with bundled fonts only, one parsed stylesheet and
one FontConfiguration per process, and templates rendered in a sandboxed Jinja environment.

* ``BundledFontFetcher`` serves ``casework-font:<file>`` from casework/static/fonts and refuses
  everything else (no ``file://``, no network, no ``data:``): a letter cannot make the server
  read a file or call out, whatever text a record holds.
* The stylesheet (templates/letters/letter.css) is parsed once with the shared FontConfiguration;
  its @font-face fonts are loaded then, not per letter.
* WeasyPrint and Pango are not known to be thread-safe with a shared FontConfiguration, so
  renders are serialised per process by a lock.
"""

from __future__ import annotations

import logging
import threading
import unicodedata
from functools import cache
from pathlib import Path

from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from ... import pdf_fonts

pdf_fonts.isolate()  # before WeasyPrint (and fontconfig) is first used

from weasyprint import CSS, HTML  # noqa: E402
from weasyprint.text.fonts import FontConfiguration  # noqa: E402
from weasyprint.urls import URLFetcher, URLFetcherResponse  # noqa: E402

PACKAGE_DIR = Path(__file__).resolve().parents[2]  # casework/
FONTS_DIR = PACKAGE_DIR / "static" / "fonts"
TEMPLATES_DIR = PACKAGE_DIR.parent / "templates" / "letters"
STYLESHEET = "letter.css"
FONT_SCHEME = "casework-font:"
# Base URL of letters: relative URLs resolve to nothing fetchable.
BASE_URL = "casework-letter:/"
PDF_OPTIONS = {"pdf_variant": "pdf/ua-1"}

log = logging.getLogger(__name__)
_LOCK = threading.Lock()


class RefusedFetch(ValueError):
    pass


@cache
def bundled_fonts() -> dict[str, bytes]:
    """The font files that ship with Casework, by file name (read once)."""
    return {path.name: path.read_bytes() for path in sorted(FONTS_DIR.glob("*.ttf"))}


class BundledFontFetcher(URLFetcher):
    """Serves the bundled fonts, refuses every other URL (and records the refusal)."""

    def __init__(self):
        super().__init__(timeout=1, allowed_protocols=("casework-font",), allow_redirects=False)
        self.refused: list[str] = []

    def fetch(self, url, headers=None):
        name = url[len(FONT_SCHEME):] if url.startswith(FONT_SCHEME) else None
        fonts = bundled_fonts()
        if name is None or "/" in name or "\\" in name or name not in fonts:
            self.refused.append(url[:200])
            log.warning("letter renderer refused to fetch %r", url[:200])
            raise RefusedFetch(f"only bundled fonts may be loaded, not {url[:80]!r}")
        return URLFetcherResponse(url, body=fonts[name], headers={"Content-Type": "font/ttf"})


def text_direction(value) -> str:
    """``rtl`` or ``ltr``: the direction of the first strong character of ``value`` (like
    HTML's dir="auto", which WeasyPrint does not implement). Values are isolated in <bdi>
    with it, so a Latin address or "35–49" reads correctly inside an Arabic letter."""
    for ch in str(value):
        kind = unicodedata.bidirectional(ch)
        if kind in ("R", "AL"):
            return "rtl"
        if kind == "L":
            return "ltr"
    return "ltr"


@cache
def jinja_env() -> SandboxedEnvironment:
    env = SandboxedEnvironment(loader=FileSystemLoader(str(TEMPLATES_DIR)), autoescape=True,
                               undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["textdir"] = text_direction
    return env


class _Resources:
    """The FontConfiguration and the parsed stylesheet, shared by every render."""

    def __init__(self):
        self.font_config = FontConfiguration()
        fetcher = BundledFontFetcher()
        self.stylesheet = CSS(filename=str(TEMPLATES_DIR / STYLESHEET), base_url=BASE_URL,
                              url_fetcher=fetcher, font_config=self.font_config)
        if fetcher.refused:  # pragma: no cover - a broken stylesheet, caught by the tests
            raise RuntimeError(f"letter stylesheet asked for {fetcher.refused}")


_resources: _Resources | None = None


def resources() -> _Resources:
    global _resources
    if _resources is None:
        with _LOCK:
            if _resources is None:
                _resources = _Resources()
    return _resources


def render_html(template: str, context: dict) -> str:
    return jinja_env().get_template(template).render(**context)


def html_to_pdf(html: str) -> bytes:
    """PDF/UA-1 bytes of ``html`` with the shared fonts and stylesheet.

    The document's <title> and <html lang> become the PDF's title and language.
    """
    shared = resources()
    fetcher = BundledFontFetcher()
    with _LOCK:
        pdf = HTML(string=html, base_url=BASE_URL, url_fetcher=fetcher).write_pdf(
            stylesheets=[shared.stylesheet], font_config=shared.font_config, **PDF_OPTIONS)
    if fetcher.refused:
        raise RefusedFetch(f"the letter asked for resources that are not bundled: "
                           f"{fetcher.refused[:3]}")
    return pdf


def render_pdf(template: str, context: dict) -> bytes:
    return html_to_pdf(render_html(template, context))
