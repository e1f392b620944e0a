"""The survivor form, trimmed to the fields the user may write (principle 2).

The class declares every field once; ``SurvivorForm(writable=...)`` deletes the fields the
user may not write before anything is bound, so a forbidden field can be neither shown nor
populated from a crafted POST.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from .. import vocab
from .labels import FIELD_LABELS as L

BLANK = [("", "—")]


def _choices(name: str):
    return vocab.resolve(name).choices()


class SurvivorForm(FlaskForm):
    # operational
    status = SelectField(L["status"], choices=[])
    lead_caseworker_id = SelectField(L["lead_caseworker_id"], choices=[])
    collaborator_ids = SelectMultipleField(L["collaborator_ids"], choices=[],
                                           description=_l("Caseworkers and counsellors who also "
                                                          "work on this case."))
    programme_ids = SelectMultipleField(L["programme_ids"], choices=[],
                                        description=_l("The funded programmes that pay for "
                                                       "this survivor's services."))
    intake_date = DateField(L["intake_date"], validators=[InputRequired()])
    referral_source = SelectField(L["referral_source"], validators=[Optional()])
    # demographic
    gender = SelectField(L["gender"], validators=[Optional()])
    citizenship = SelectMultipleField(L["citizenship"], validators=[Optional()])
    primary_language = SelectField(L["primary_language"], validators=[Optional()])
    trafficking_status = SelectField(L["trafficking_status"], validators=[Optional()])
    exploitation_types = SelectMultipleField(L["exploitation_types"], validators=[Optional()])
    recruitment_methods = SelectMultipleField(L["recruitment_methods"], validators=[Optional()])
    recruitment_platforms = SelectMultipleField(L["recruitment_platforms"],
                                                validators=[Optional()])
    countries_of_exploitation = SelectMultipleField(L["countries_of_exploitation"],
                                                    validators=[Optional()])
    # identifying
    first_name = StringField(L["first_name"], validators=[Optional(), Length(max=100)])
    last_name = StringField(L["last_name"], validators=[Optional(), Length(max=100)])
    known_as = StringField(L["known_as"], validators=[Optional(), Length(max=100)],
                           description=_l("The name the survivor wants to be called."))
    date_of_birth = DateField(L["date_of_birth"], validators=[Optional()])
    phone = StringField(L["phone"], validators=[Optional(), Length(max=40)])
    email = StringField(L["email"], validators=[Optional(), Length(max=254)])
    address = TextAreaField(L["address"], validators=[Optional(), Length(max=500)])
    # sensitive
    narrative = TextAreaField(L["narrative"], validators=[Optional(), Length(max=20000)],
                              render_kw={"rows": 6})
    risk_level = SelectField(L["risk_level"], validators=[Optional()])
    risk_notes = TextAreaField(L["risk_notes"], validators=[Optional(), Length(max=5000)])

    def __init__(self, *args, writable: set[str], staff_choices: dict, **kwargs):
        # Drop the fields the user may not write before binding: a crafted POST naming one
        # can neither show nor populate it.
        self._unbound_fields = [
            (name, field) for name, field in self._unbound_fields
            if name in writable or name == "csrf_token"
        ]
        super().__init__(*args, **kwargs)
        self._fill_choices(staff_choices)

    def _fill_choices(self, staff_choices: dict) -> None:
        vocab_fields = {
            "referral_source": "referral_source",
            "gender": vocab.GENDER,
            "primary_language": "iso639",
            "trafficking_status": vocab.TRAFFICKING_STATUS,
            "risk_level": "risk_level",
        }
        for name, vocab_name in vocab_fields.items():
            if name in self:
                self[name].choices = BLANK + _choices(vocab_name)
        multi = {
            "citizenship": "iso3166",
            "countries_of_exploitation": "iso3166",
            "exploitation_types": vocab.EXPLOITATION_TYPES,
            "recruitment_methods": vocab.RECRUITMENT_METHODS,
            "recruitment_platforms": vocab.RECRUITMENT_PLATFORMS,
        }
        for name, vocab_name in multi.items():
            if name in self:
                self[name].choices = _choices(vocab_name)
        if "status" in self:
            self.status.choices = staff_choices["status"]
        if "lead_caseworker_id" in self:
            self.lead_caseworker_id.choices = staff_choices["leads"]
            self.lead_caseworker_id.validators = [DataRequired()]
        if "collaborator_ids" in self:
            self.collaborator_ids.choices = staff_choices["collaborators"]
        if "programme_ids" in self:
            self.programme_ids.choices = staff_choices["programmes"]

    def changes(self) -> dict:
        """The submitted values, as the service takes them ('' means cleared)."""
        out = {}
        for field in self:
            if field.name == "csrf_token":
                continue
            value = field.data
            if isinstance(value, str):
                value = value or None
            out[field.name] = value
        return out


class CloseForm(FlaskForm):
    status = SelectField(
        _l("Close as"),
        choices=[("Closed", _l("Closed")), ("ClosedReferred", _l("Closed (referred)"))],
    )
    reason = TextAreaField(_l("Reason for closure"),
                           validators=[DataRequired(), Length(max=2000)],
                           description=_l("Say why, without names of people or places."))


class BreakGlassForm(FlaskForm):
    reason = TextAreaField(_l("Why do you need the identifying details?"),
                           validators=[DataRequired(), Length(min=10, max=2000)],
                           description=_l("Recorded in the audit log and shown in the case's "
                                          "access log."))
