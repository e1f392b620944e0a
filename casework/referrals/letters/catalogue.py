"""The fixed texts of referral letters and consent receipts.

Each text is an English msgid of the gettext catalogs (translations/, ``%(name)s``
placeholders), rendered under ``flask_babel.force_locale(language)``: the letter's language
(the partner's or the survivor's), whatever the language of the user's pages. Arabic is laid
out right to left (``direction``).
"""

from __future__ import annotations

from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

# Languages a letter or receipt can be written in; each has a catalog in translations/.
LANGUAGES = ("en", "es", "fr", "ar", "th", "vi", "uk")
RTL = frozenset({"ar"})


def direction(language: str) -> str:
    return "rtl" if language in RTL else "ltr"


# key -> English msgid (lazy: translated when a Catalogue reads it under its language).
TEXTS: dict[str, object] = {
    "title": _l("Referral letter"),
    "reference": _l("Reference"),
    "date": _l("Date"),
    "to": _l("To"),
    "subject": _l("Referral for: %(service)s"),
    "intro": _l("With the consent of the person named below, we refer them to your "
                "organisation for the service requested in this letter."),
    "about": _l("About the person referred"),
    "nothing_shared": _l("The person did not agree to share personal details in this letter. "
                         "Please contact the caseworker named below."),
    "reason": _l("Reason for the referral"),
    "service": _l("Service requested"),
    "caseworker": _l("Caseworker contact"),
    "consent": _l("Consent"),
    "consent_statement": _l("The person gave consent %(method)s on %(date)s to share the "
                            "information in this letter with %(partner)s: %(scope)s. They may "
                            "withdraw it at any time. Please keep this information "
                            "confidential and use it only for this referral."),
    "consent_expires": _l("This consent is valid until %(date)s."),
    "verification": _l("Verification"),
    "verify_text": _l("To confirm that this letter is genuine, open %(url)s and enter the "
                      "code %(code)s."),
    "history_opened": _l("Case opened on %(date)s."),
    "history_referrals": _l("Services through earlier referrals: %(items)s."),
    "history_none": _l("No earlier referrals."),
    "receipt_title": _l("Consent receipt"),
    "receipt_intro": _l("This receipt records a decision you made about your information. "
                        "Keep it. You can change your mind at any time: tell your caseworker."),
    "decision": _l("Decision"),
    "purpose": _l("Purpose"),
    "partner": _l("Shared with"),
    "scope": _l("What may be shared"),
    "expires": _l("Valid until"),
    "no_expiry": _l("No end date"),
    "recorded_by": _l("Recorded by"),
    "recorded_on": _l("Recorded on"),
    "method": _l("How it was given"),
    "interpreter": _l("Interpreter"),
    "form_text": _l("The text you were shown (version %(version)s)"),
    "fingerprint": _l("Fingerprint of the text"),
    "withdrawn_reason": _l("Reason given"),
    # labels of survivor fields
    "f.first_name": _l("First name"),
    "f.last_name": _l("Last name"),
    "f.known_as": _l("Known as"),
    "f.date_of_birth": _l("Date of birth"),
    "f.phone": _l("Phone"),
    "f.email": _l("Email"),
    "f.address": _l("Address"),
    "f.gender": _l("Gender"),
    "f.age_band": _l("Age group"),
    "f.citizenship": _l("Citizenship"),
    "f.primary_language": _l("Main language"),
    "f.trafficking_status": _l("Trafficking status"),
    "f.exploitation_types": _l("Forms of exploitation"),
    "f.recruitment_methods": _l("How the person was recruited"),
    "f.service_history": _l("Services received"),
    # consent scope groups
    "g.identity": _l("identity"),
    "g.contact": _l("contact details"),
    "g.demographics": _l("demographics"),
    "g.trafficking_context": _l("trafficking context"),
    "g.service_history": _l("services received"),
    # partner services
    "s.shelter": _l("Shelter"),
    "s.counselling": _l("Counselling"),
    "s.vocational_training": _l("Vocational training"),
    "s.legal_aid": _l("Legal aid"),
    "s.health": _l("Health care"),
    "s.other": _l("Other support"),
    # how consent was given
    "m.written": _l("in writing"),
    "m.verbal": _l("verbally"),
    "m.guardian": _l("through their guardian"),
    # consent purposes and decisions
    "p.data_processing": _l("Keeping a record of your case"),
    "p.referral_sharing": _l("Sharing information with a partner organisation"),
    "p.anonymised_statistics": _l("Anonymous statistics"),
    "p.contact": _l("Contacting you"),
    "d.granted": _l("You agreed"),
    "d.refused": _l("You did not agree"),
    "d.withdrawn": _l("You withdrew your consent"),
}


class Catalogue:
    """The texts of one language: ``t["title"]``, ``t.format("subject", service=...)``.

    Every text is translated once, when the catalogue is made, under ``force_locale`` of the
    letter's language (English where the language has no catalog)."""

    def __init__(self, language: str):
        self.language = language if language in LANGUAGES else "en"
        with force_locale(self.language):
            self._texts = {key: str(msgid) for key, msgid in TEXTS.items()}

    def __getitem__(self, key: str) -> str:
        return self._texts[key]

    def format(self, key: str, **values) -> str:
        return self[key] % values


def catalogue(language: str) -> Catalogue:
    return Catalogue(language)
