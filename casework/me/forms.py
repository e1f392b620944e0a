"""The profile form: the user's language and time zone (the name is the administrator's)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField
from wtforms.validators import DataRequired


class ProfileForm(FlaskForm):
    locale = SelectField(_l("Language"), validators=[DataRequired()],
                         description=_l("The language of your pages. Letters and receipts "
                                        "keep the language chosen for them."))
    timezone = SelectField(_l("Time zone"), validators=[DataRequired()],
                           description=_l("Dates and times are shown in this zone."))

    def __init__(self, *args, **kwargs):
        from ..web import available_timezones, locale_names

        super().__init__(*args, **kwargs)
        # Each language in its own name, so anyone finds theirs whatever the page's language.
        self.locale.choices = [(code, name, {"lang": code}) for code, name in locale_names()]
        self.timezone.choices = [(zone, zone) for zone in sorted(available_timezones())]
