"""The referral form (new or draft), trimmed to the fields the user may write.

Choices are checked by the service (one set of messages for the page and the API)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import Length, Optional

from .labels import FIELD_LABELS as L
from .models import LETTER_LANGUAGES, PARTNER_SERVICES

BLANK = [("", "—")]


class ReferralForm(FlaskForm):
    partner_id = SelectField(L["partner_id"], choices=[], validate_choice=False)
    service = SelectField(L["service"], choices=[], validate_choice=False)
    language = SelectField(L["language"], choices=[], validate_choice=False,
                           description=_l("The letter is written in this language."))
    reason = TextAreaField(L["reason"], validators=[Optional(), Length(max=5000)],
                           render_kw={"rows": 4},
                           description=_l("Shown in the letter to the partner. Write only what "
                                          "they need to know."))

    def __init__(self, *args, writable: set[str], partners, **kwargs):
        self._unbound_fields = [(name, field) for name, field in self._unbound_fields
                                if name in writable or name == "csrf_token"]
        super().__init__(*args, **kwargs)
        choices = {
            "partner_id": BLANK + [
                (str(p.id), p.name if p.accepting_referrals
                 else f"{p.name} — {_l('not accepting referrals')}") for p in partners],
            "service": BLANK + PARTNER_SERVICES.choices(),
            "language": LETTER_LANGUAGES.choices(),
        }
        for name, values in choices.items():
            if name in self:
                self[name].choices = values

    def changes(self) -> dict:
        out = {}
        for field in self:
            if field.name == "csrf_token":
                continue
            value = field.data
            out[field.name] = (value or None) if isinstance(value, str) else value
        return out


class ActionForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[Optional(), Length(max=2000)],
                           render_kw={"rows": 1})


class VerifyForm(FlaskForm):
    class Meta:
        csrf = False  # a GET form on a public page: nothing to protect

    code = StringField(_l("Verification code"), validators=[Length(max=40)],
                       description=_l("Printed at the end of the letter, like ABCD-1234."))
