"""Casework: case management for NGOs serving survivors of human trafficking."""

from __future__ import annotations

import gc
import sys
from pathlib import Path

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # config.py sits beside the package
    sys.path.insert(0, str(ROOT))


# Python's cyclic garbage collector walks its young objects after every 700 net allocations,
# a threshold made for small scripts. One page of a list makes thousands (fifty ORM objects
# and their states, the audit rows, the template's output), all alive until the response is
# sent: each request ran the collector a few times over the same objects. Almost everything
# a request makes is freed by reference counting anyway; with 50,000 requests finish between
# two collections, and cyclic garbage (a few thousand objects a request) waits a little
# longer to be collected. Measured in turns (bench, 100,000 survivors): 700 to 10,000 made
# the caseworker's caseload page 7% faster and the survivor page 3%; 10,000 to 50,000 the
# caseload a further 1.5% (0.3 ms; the survivor page within the noise, and 100,000 no better).
GC_THRESHOLDS = (50_000, 10, 10)


def create_app(config: str | dict | None = None) -> Flask:
    """Build the app. ``config`` is a configuration name, or a dict of settings that
    override the configuration named by its ``"CONFIG"`` key (default: ``CASEWORK_CONFIG``).
    """
    from config import INSTANCE_DIR, load_config

    from . import pdf_fonts

    pdf_fonts.isolate()  # PDFs use the bundled fonts only (see pdf_fonts.py)
    overrides = dict(config) if isinstance(config, dict) else {}
    name = config if isinstance(config, str) else overrides.pop("CONFIG", None)
    settings = load_config(name, overrides)

    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder="static",
        instance_path=str(INSTANCE_DIR),
    )
    app.config.from_mapping(settings)
    # Times are stored in UTC and shown in the organisation's zone, formatted by Babel.
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", app.config["DEFAULT_TIMEZONE"])
    app.config.setdefault("BABEL_DEFAULT_LOCALE", app.config["DEFAULT_LOCALE"])
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(ROOT / "translations"))
    if app.config["DATABASE_URL"].startswith("sqlite:///"):
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    if app.config.get("TRUSTED_PROXIES"):
        # Behind a reverse proxy: the client's address (audit log, rate limits) and the
        # scheme (https links) come from the X-Forwarded-* headers the proxies set, and
        # only from as many hops as the deployment says it has.
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    from . import web

    web.init_app(app)
    if gc.get_threshold()[0] < GC_THRESHOLDS[0]:  # (a server that set its own keeps it)
        gc.set_threshold(*GC_THRESHOLDS)
    return app
