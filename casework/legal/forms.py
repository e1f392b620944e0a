"""Legal-aid forms, trimmed before binding to the fields the user may write (principle 2)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, TextAreaField
from wtforms.validators import InputRequired, Optional

from .. import vocab
from .labels import HEARING_LABELS, MATTER_LABELS
from .models import MAX_NOTES

BLANK = [("", "—")]


def _choices(name: str) -> list[tuple[str, object]]:
    return [(value, _l(label)) for value, label in vocab.resolve(name).choices()]


class _TrimmedForm(FlaskForm):
    """Drops every field not in ``writable`` before anything is bound."""

    def __init__(self, *args, writable: set[str], **kwargs):
        self._unbound_fields = [
            (name, field) for name, field in self._unbound_fields
            if name in writable or name == "csrf_token"
        ]
        super().__init__(*args, **kwargs)

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


class MatterForm(_TrimmedForm):
    kind = SelectField(MATTER_LABELS["kind"], validators=[InputRequired()])
    status = SelectField(MATTER_LABELS["status"], validators=[InputRequired()])
    partner_id = SelectField(MATTER_LABELS["partner_id"], validators=[Optional()],
                             description=_l("Partners offering legal aid."))
    opened_on = DateField(MATTER_LABELS["opened_on"], validators=[InputRequired()])
    outcome = SelectField(MATTER_LABELS["outcome"], validators=[InputRequired()],
                          description=_l("Pending until the matter is decided or closed."))
    notes = TextAreaField(MATTER_LABELS["notes"], render_kw={"rows": 4, "maxlength": MAX_NOTES},
                          description=_l("Sensitive: not shown to counsellors."))

    def __init__(self, *args, partners: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        if "kind" in self:
            self.kind.choices = BLANK + _choices("legal_matter_kind")
        if "status" in self:
            self.status.choices = _choices("legal_matter_status")
        if "outcome" in self:
            self.outcome.choices = _choices("legal_outcome")
        if "partner_id" in self:
            self.partner_id.choices = BLANK + partners


class HearingForm(_TrimmedForm):
    scheduled_on = DateField(HEARING_LABELS["scheduled_on"], validators=[InputRequired()],
                             description=_l("A past hearing or one scheduled ahead."))
    kind = SelectField(HEARING_LABELS["kind"], validators=[InputRequired()])
    notes = TextAreaField(HEARING_LABELS["notes"], render_kw={"rows": 3, "maxlength": MAX_NOTES},
                          description=_l("Sensitive: not shown to counsellors."))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "kind" in self:
            self.kind.choices = BLANK + _choices("legal_hearing_kind")
