"""Forms of the shelter pages.

Placement forms are trimmed like SurvivorForm: the fields whose placement fields the user may
not write are dropped before anything is bound (``writable=...``), so a crafted POST can
neither show nor populate them. Each form names the placement fields it writes in
``WRITES``; a page shows a form only when the user may write all of them.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional


class PlacementForm(FlaskForm):
    # form field -> placement fields it writes
    WRITES: dict[str, frozenset[str]] = {}

    def __init__(self, *args, writable: set[str], **kwargs):
        self._unbound_fields = [
            (name, field) for name, field in self._unbound_fields
            if name == "csrf_token" or self.WRITES.get(name, frozenset()) <= writable
        ]
        super().__init__(*args, **kwargs)

    @classmethod
    def writes(cls) -> frozenset[str]:
        return frozenset().union(*cls.WRITES.values())


class AdmitForm(PlacementForm):
    WRITES = {
        "shelter_id": frozenset({"shelter_id"}),
        "bed_id": frozenset({"bed_id"}),
        "admitted_on": frozenset({"admitted_on"}),
        "expected_discharge_on": frozenset({"expected_discharge_on"}),
    }
    shelter_id = SelectField(_l("Shelter"), validators=[DataRequired()], choices=[])
    bed_id = SelectField(_l("Bed"), validators=[Optional()], choices=[],
                         description=_l("Leave on “first free bed” to take the first free bed "
                                        "of the shelter that suits the survivor."))
    admitted_on = DateField(_l("Admitted on"), validators=[InputRequired()])
    expected_discharge_on = DateField(_l("Expected discharge"), validators=[Optional()])


class TransferForm(PlacementForm):
    # A transfer ends this stay on the day the next one begins.
    WRITES = {
        "transfer_shelter_id": frozenset({"shelter_id"}),
        "transfer_bed_id": frozenset({"bed_id"}),
        "transfer_on": frozenset({"discharged_on", "admitted_on"}),
    }
    transfer_shelter_id = SelectField(_l("Move to shelter"), validators=[Optional()], choices=[])
    transfer_bed_id = SelectField(_l("Move to bed"), validators=[Optional()], choices=[],
                                  description=_l("Choose a bed, or a shelter to take its first "
                                                 "free bed that suits."))
    transfer_on = DateField(_l("Moved on"), validators=[InputRequired()])


class DischargeForm(PlacementForm):
    WRITES = {
        "discharged_on": frozenset({"discharged_on"}),
        "discharge_reason": frozenset({"discharge_reason"}),
    }
    discharged_on = DateField(_l("Left on"), validators=[InputRequired()])
    discharge_reason = TextAreaField(_l("Reason for discharge"),
                                     validators=[DataRequired(), Length(max=2000)],
                                     description=_l("Say why, without names of people or "
                                                    "places."))


class ExpectedDischargeForm(PlacementForm):
    WRITES = {"expected_discharge_on": frozenset({"expected_discharge_on"})}
    expected_discharge_on = DateField(_l("Expected discharge"), validators=[Optional()])


# --- reference data (admins) ------------------------------------------------------------------


class ShelterForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    partner_id = SelectField(_l("Run by"), choices=[], validators=[Optional()],
                             description=_l("A partner organisation, or your own."))


class NewShelterForm(ShelterForm):
    bed_count = IntegerField(_l("Number of beds"), default=0,
                             validators=[InputRequired(), NumberRange(min=0, max=200)],
                             description=_l("Labelled 1, 2, 3 …; change labels and "
                                            "restrictions bed by bed afterwards."))
    bed_restrictions = SelectMultipleField(_l("Restrictions of these beds"), choices=[],
                                           validators=[Optional()])


class BedForm(FlaskForm):
    label = StringField(_l("Label"), validators=[DataRequired(), Length(max=40)])
    restrictions = SelectMultipleField(_l("Restrictions"), choices=[], validators=[Optional()],
                                       description=_l("Checked against the survivor's recorded "
                                                      "gender and age band at admission."))
    active = BooleanField(_l("In service"), default=True,
                          description=_l("Beds out of service do not count towards capacity."))
