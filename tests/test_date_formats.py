"""Pages format dates with Babel's medium patterns parsed once per locale
(casework/i18n.py ``medium_datetime``, ``medium_date``): the same text as Flask-Babel's
``format_datetime``/``format_date`` in every supported locale and in zones with odd offsets
and daylight saving."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import flask_babel
import pytest
from flask_babel import force_locale

from casework.i18n import medium_date, medium_datetime
from casework.web import SUPPORTED_LOCALES

ZONES = ("UTC", "Asia/Bangkok", "America/Bogota", "Europe/Kyiv", "Asia/Kathmandu",
         "Australia/Lord_Howe")


@pytest.mark.parametrize("zone", ZONES)
def test_fast_formats_read_exactly_as_flask_babel(app, zone):
    rng = random.Random(zone)
    app.config["BABEL_DEFAULT_TIMEZONE"] = zone
    for locale in SUPPORTED_LOCALES:
        with app.test_request_context("/"), force_locale(locale):
            flask_babel.refresh()
            for _ in range(60):
                moment = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(
                    seconds=rng.randrange(400_000_000))
                naive = moment.replace(tzinfo=None)  # stored as UTC
                assert medium_datetime(moment) == flask_babel.format_datetime(moment, "medium")
                assert medium_datetime(naive) == flask_babel.format_datetime(naive, "medium")
                assert medium_date(moment.date()) == flask_babel.format_date(
                    moment.date(), "medium")
                assert medium_date(moment) == flask_babel.format_date(moment, "medium")
