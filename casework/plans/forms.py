"""The plan item form, trimmed to the fields the user may write before anything is bound."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from .. import vocab
from .labels import LABELS as L


class PlanItemForm(FlaskForm):
    type = SelectField(L["type"], choices=[], validators=[DataRequired()])
    objective = TextAreaField(L["objective"], validators=[Optional(), Length(max=5000)],
                              render_kw={"rows": 3})
    due_on = DateField(L["due_on"], validators=[InputRequired()])
    done_on = DateField(L["done_on"], validators=[Optional()])
    assignee_id = SelectField(L["assignee_id"], choices=[], validators=[DataRequired()])

    def __init__(self, *args, keep: set[str], assignees=(), **kwargs):
        self._unbound_fields = [(name, field) for name, field in self._unbound_fields
                                if name in keep or name == "csrf_token"]
        super().__init__(*args, **kwargs)
        if "type" in self:
            self.type.choices = [("", "—")] + vocab.htcds(vocab.SUPPORT_PLAN_TYPE).choices()
        if "assignee_id" in self:
            self.assignee_id.choices = [(str(u.id), f"{u.display_name} ({u.role})")
                                        for u in assignees]

    def changes(self) -> dict:
        out = {}
        for field in self:
            if field.name == "csrf_token":
                continue
            value = field.data
            out[field.name] = (value or None) if isinstance(value, str) else value
        return out
