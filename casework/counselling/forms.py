"""Counselling forms, trimmed before binding to the fields the user may set (principle 2)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Optional

from .. import vocab
from .labels import FIELD_LABELS as L
from .models import MAX_DURATION, MAX_NOTES, MIN_DURATION

BLANK = [("", "—")]


class _TrimmedForm(FlaskForm):
    """Drops every field not in ``allowed`` before anything is bound."""

    def __init__(self, *args, allowed: set[str], **kwargs):
        self._unbound_fields = [
            (name, field) for name, field in self._unbound_fields
            if name in allowed or name == "csrf_token"
        ]
        super().__init__(*args, **kwargs)

    def changes(self) -> dict:
        """The submitted values as the service takes them ('' means cleared)."""
        out = {}
        for field in self:
            if field.name == "csrf_token":
                continue
            value = field.data
            if isinstance(value, str):
                value = value or None
            out[field.name] = value
        return out


class EngagementForm(_TrimmedForm):
    counsellor_id = SelectField(L["counsellor_id"], choices=[], validators=[InputRequired()])
    started_on = DateField(L["started_on"], validators=[InputRequired()])
    co_counsellor_ids = SelectMultipleField(
        L["co_counsellor_ids"], choices=[], validators=[Optional()],
        description=_l("Other counsellors on this engagement. They may read its session "
                       "notes."))

    def __init__(self, *args, counsellors: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        if "counsellor_id" in self:
            self.counsellor_id.choices = BLANK + counsellors
        if "co_counsellor_ids" in self:
            self.co_counsellor_ids.choices = counsellors


class EndEngagementForm(FlaskForm):
    on = DateField(_l("Ended on"), validators=[InputRequired()])


class SessionForm(_TrimmedForm):
    held_on = DateField(L["held_on"], validators=[InputRequired()])
    duration_minutes = IntegerField(
        L["duration_minutes"], validators=[InputRequired()],
        render_kw={"min": MIN_DURATION, "max": MAX_DURATION, "inputmode": "numeric"})
    modality = SelectField(L["modality"], choices=[], validators=[InputRequired()])
    language = SelectField(L["language"], choices=[], validators=[Optional()])
    interpreter_used = BooleanField(L["interpreter_used"])
    attended = BooleanField(L["attended"], description=_l(
        "Untick for a no-show: the survivor did not come."))
    notes = TextAreaField(L["notes"], render_kw={"rows": 6, "maxlength": MAX_NOTES},
                          description=_l("Privileged: only the counsellors of this engagement "
                                         "can read them."))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "modality" in self:
            self.modality.choices = BLANK + [(v, _l(label)) for v, label in
                                             vocab.resolve("counselling_modality").choices()]
        if "language" in self:
            self.language.choices = BLANK + vocab.languages().choices()
