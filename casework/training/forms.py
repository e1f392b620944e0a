"""Training forms. Enrolment forms are trimmed to the fields the user may write (and that
make sense in the enrolment's state) before anything is bound."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from .labels import LABELS as L

OUTCOME_CHOICES = [("", _l("Not recorded yet")), ("yes", _l("Employed")),
                   ("no", _l("Not employed"))]


class _Trimmed(FlaskForm):
    """Keeps only the fields named in ``keep`` (and the CSRF token)."""

    def __init__(self, *args, keep: set[str], id_prefix: str | None = None, **kwargs):
        self._unbound_fields = [(name, field) for name, field in self._unbound_fields
                                if name in keep or name == "csrf_token"]
        super().__init__(*args, **kwargs)
        if id_prefix:  # several forms on one page: unique HTML ids, the same field names
            for field in self:
                field.id = field.label.field_id = f"{id_prefix}-{field.name}"
        for name in ("employed_at_3_months", "employed_at_6_months"):
            if name in self:
                self[name].choices = OUTCOME_CHOICES

    def changes(self) -> dict:
        out = {}
        for field in self:
            if field.name == "csrf_token":
                continue
            value = field.data
            if field.name.startswith("employed_at_"):
                value = {"yes": True, "no": False}.get(value)
            elif isinstance(value, str):
                value = value or None
            out[field.name] = value
        return out


class EnrolmentForm(_Trimmed):
    programme_id = SelectField(L["programme_id"], choices=[], validators=[DataRequired()])
    enrolled_on = DateField(L["enrolled_on"], validators=[InputRequired()])
    attendance_rate = IntegerField(L["attendance_rate"],
                                   validators=[Optional(), NumberRange(min=0, max=100)],
                                   description=_l("Per cent of sessions attended, 0 to 100."))
    certified = BooleanField(L["certified"])
    employed_at_3_months = SelectField(L["employed_at_3_months"], choices=[])
    employed_at_6_months = SelectField(L["employed_at_6_months"], choices=[])


class CompleteForm(_Trimmed):
    on = DateField(_l("Completed on"), validators=[InputRequired()])
    certified = BooleanField(L["certified"])


class WithdrawForm(_Trimmed):
    on = DateField(_l("Withdrew on"), validators=[InputRequired()])
    reason = TextAreaField(L["withdraw_reason"], validators=[Optional(), Length(max=2000)],
                           description=_l("Optional. Without names of people or places."))


class ProgrammeForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    provider_partner_id = SelectField(_l("Provider"), choices=[], validators=[DataRequired()],
                                      description=_l("Partners offering vocational training."))
    starts_on = DateField(_l("Starts on"), validators=[InputRequired()])
    ends_on = DateField(_l("Ends on"), validators=[InputRequired()])
    capacity = IntegerField(_l("Places"), validators=[InputRequired(), NumberRange(min=1)])

    def changes(self) -> dict:
        return {field.name: field.data for field in self if field.name != "csrf_token"}
