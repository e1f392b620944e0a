"""The consent form, trimmed to the fields the user may write (like SurvivorForm).

Choices are checked by the service (one set of messages for the page and the API), so the
select fields do not validate them again."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import Length, Optional

from .. import vocab
from .labels import FIELD_LABELS as L
from .models import METHODS, PURPOSES, SCOPES

BLANK = [("", "—")]


class ConsentForm(FlaskForm):
    purpose = SelectField(L["purpose"], choices=[], validate_choice=False)
    partner_id = SelectField(L["partner_id"], choices=[], validate_choice=False,
                             description=_l("Only for consent to share with a partner."))
    scope = SelectMultipleField(L["scope"], choices=[], validate_choice=False,
                                description=_l("The kinds of information the survivor agreed "
                                               "to share with this partner."))
    status = SelectField(L["status"], choices=[], validate_choice=False)
    method = SelectField(L["method"], choices=[], validate_choice=False)
    language = SelectField(L["language"], choices=[], validate_choice=False)
    interpreter = StringField(L["interpreter"], validators=[Optional(), Length(max=120)],
                              description=_l("Name of the interpreter, if one was used."))
    form_version = SelectField(L["form_version"], choices=[], validate_choice=False)
    expires_on = DateField(L["expires_on"], validators=[Optional()],
                           description=_l("Leave empty if it does not expire."))
    notes = TextAreaField(L["notes"], validators=[Optional(), Length(max=2000)],
                          render_kw={"rows": 2})

    def __init__(self, *args, writable: set[str], partners, versions, **kwargs):
        # Fields the user may not write are dropped before binding.
        self._unbound_fields = [(name, field) for name, field in self._unbound_fields
                                if name in writable or name == "csrf_token"]
        super().__init__(*args, **kwargs)
        choices = {
            "purpose": BLANK + PURPOSES.choices(),
            "partner_id": BLANK + [(str(p.id), p.name) for p in partners],
            "scope": SCOPES.choices(),
            "status": [("granted", _l("Granted")), ("refused", _l("Refused"))],
            "method": METHODS.choices(),
            "language": BLANK + vocab.languages().choices(),
            "form_version": [(v, v) for v in versions],
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
            if isinstance(value, str):
                value = value or None
            out[field.name] = value
        return out


class WithdrawForm(FlaskForm):
    reason = TextAreaField(_l("Reason for withdrawing"), validators=[Length(max=2000)],
                           render_kw={"rows": 1},
                           description=_l("In the survivor's words, or “not given”."))
    method = SelectField(_l("How withdrawn"), choices=[], validators=[Optional()])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.method.choices = METHODS.choices()
