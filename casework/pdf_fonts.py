"""PDFs see the bundled fonts only, never the machine's.

WeasyPrint finds fonts through fontconfig, which by default also offers every font installed
on the machine: a glyph missing from the bundled Noto fonts would silently come from, say,
Debian's Droid Sans Fallback (installed alongside Chromium), and the same letter would render
differently from one server to the next. Pointing fontconfig at a configuration of its own,
whose only font folder is ``casework/static/fonts``, before WeasyPrint is first used, makes the
output depend on the repository alone, and keeps a missing glyph detectable.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from xml.sax.saxutils import escape

FONTS_DIR = Path(__file__).resolve().parent / "static" / "fonts"


def isolate() -> None:
    """Set ``FONTCONFIG_FILE`` for this process (idempotent; before the first PDF)."""
    if os.environ.get("CASEWORK_FONTCONFIG_ISOLATED") == str(FONTS_DIR):
        return
    folder = Path(tempfile.gettempdir()) / f"casework-fontconfig-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    conf = folder / "fonts.conf"
    text = (
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">\n'
        f"<fontconfig>\n  <dir>{escape(str(FONTS_DIR))}</dir>\n"
        f"  <cachedir>{escape(str(folder / 'cache'))}</cachedir>\n</fontconfig>\n"
    )
    if not conf.exists() or conf.read_text() != text:
        temporary = folder / f"fonts.conf.{os.getpid()}"
        temporary.write_text(text)
        os.replace(temporary, conf)
    os.environ["FONTCONFIG_FILE"] = str(conf)
    os.environ["CASEWORK_FONTCONFIG_ISOLATED"] = str(FONTS_DIR)
