"""The programme form (admins). Values are checked by the service: one set of messages for the
pages and the API."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from .labels import FIELD_LABELS as L


class ProgrammeForm(FlaskForm):
    name = StringField(L["name"], validators=[DataRequired(), Length(max=200)],
                       description=_l("As donors know it; unique."))
    starts_on = DateField(L["starts_on"], validators=[InputRequired()])
    ends_on = DateField(L["ends_on"], validators=[Optional()],
                        description=_l("Leave empty while the programme is open-ended."))
    donor_ids = SelectMultipleField(
        L["donor_ids"], choices=[], validate_choice=False,
        description=_l("The donor accounts that fund it; they will see its reports. Hold Ctrl "
                       "(Cmd on a Mac) to choose more than one."))

    def __init__(self, *args, donors, **kwargs):
        super().__init__(*args, **kwargs)
        self.donor_ids.choices = [
            (str(u.id), u.display_name if u.active
             else f"{u.display_name} — {_l('deactivated')}") for u in donors]

    def changes(self) -> dict:
        return {"name": self.name.data, "starts_on": self.starts_on.data,
                "ends_on": self.ends_on.data, "donor_ids": list(self.donor_ids.data or [])}
