"""Controlled vocabularies of the survivor record.

The HTCDS 2.0 picklists are read from the standard's own field table, shipped unchanged in
``casework/data/htcds`` — "Human Trafficking Case Data Standard (HTCDS) by IOM is licensed
under CC BY 4.0." Values are HTCDS value names, exactly as the API exchanges them; labels are
the standard's English labels (translated through the message catalogs).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import pycountry

HTCDS_TABLE = Path(__file__).parent / "data" / "htcds" / "htcds-field-standards-2.0.csv"


@dataclass(frozen=True)
class Vocabulary:
    name: str
    values: tuple[str, ...]
    labels: tuple[str, ...]

    def __contains__(self, value: object) -> bool:
        return value in self.values

    def choices(self) -> list[tuple[str, str]]:
        """(value, label) pairs for a form, labels in the user's language: lazy gettext of
        the English label (the catalogs have every label: casework.i18n.extract_vocabularies);
        country and language names from Babel's CLDR data for the current locale."""
        if self.name in CLDR_VOCABULARIES:
            from flask import has_request_context

            from .i18n import cldr_name, locale_sort_key

            if has_request_context():
                pairs = [(v, cldr_name(self.name, v, label))
                         for v, label in zip(self.values, self.labels, strict=True)]
                return sorted(pairs, key=lambda pair: locale_sort_key(pair[1]))
            return list(zip(self.values, self.labels, strict=True))
        from flask_babel import lazy_gettext

        return [(v, lazy_gettext(label)) for v, label in zip(self.values, self.labels, strict=True)]

    def display(self, value: str) -> str:
        """The label of ``value`` in the user's language (for pages; letters pick their own).
        Looked up once per language: a list of 50 survivors shows a hundred of them."""
        from flask_babel import get_locale

        locale = get_locale()  # None outside a request: the standard's own English labels
        return display_in(str(locale) if locale is not None else "", self, value)

    def label(self, value: str) -> str:
        try:
            return self.labels[self.values.index(value)]
        except ValueError:
            return value


@lru_cache(maxsize=16384)
def display_in(locale_name: str, vocabulary: Vocabulary, value: str) -> str:
    """``vocabulary.display(value)`` in ``locale_name``, the current locale ("" outside a
    request)."""
    if vocabulary.name in CLDR_VOCABULARIES:
        from .i18n import cldr_name

        return cldr_name(vocabulary.name, value, vocabulary.label(value))
    from flask_babel import gettext

    label = vocabulary.label(value)
    return gettext(label) if label else label


@cache
def _htcds_picklists() -> dict[str, Vocabulary]:
    picklists: dict[str, Vocabulary] = {}
    with HTCDS_TABLE.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            name = (row.get("Field Name including Prefix") or "").strip()
            raw_values = row.get("Value Names (if picklist)") or ""
            if not name or "picklist" not in (row.get("Field Type") or "").lower():
                continue
            values = [v.strip() for v in raw_values.split("\n") if v.strip()]
            if len(values) < 2:  # "Use ISO 3166 ..." instructions, not lists
                continue
            labels = [v.strip() for v in (row.get("Value Labels (if picklist)") or "").split("\n")]
            labels = [label for label in labels if label]
            if len(labels) != len(values):
                labels = values
            picklists[name] = Vocabulary(name, tuple(values), tuple(labels))
    return picklists


def htcds(field: str) -> Vocabulary:
    """The HTCDS picklist of ``field`` (its name with prefix, e.g. ``prs_Gender``)."""
    return _htcds_picklists()[field]


_REGISTERED: dict[str, Vocabulary] = {}
# Named by Babel's CLDR data in every language (Locale.territories, Locale.languages), so they
# are not in the message catalogs.
CLDR_VOCABULARIES = frozenset({"iso3166", "iso639"})


def local(name: str, pairs: list[tuple[str, str]]) -> Vocabulary:
    """A vocabulary of Casework's own; ``info={"vocab": name}`` finds it by its name."""
    vocabulary = Vocabulary(name, tuple(v for v, _ in pairs), tuple(label for _, label in pairs))
    _REGISTERED[name] = vocabulary
    return vocabulary


GENDER = "prs_Gender"
TRAFFICKING_STATUS = "vic_TraffickingStatus"
EXPLOITATION_TYPES = "vic_TypeOfExploitation"
RECRUITMENT_METHODS = "vic_MethodOfRecruitment"
RECRUITMENT_PLATFORMS = "vic_RecruitmentWebsitesAndApps"
CASE_STATUS = "cas_Status"
REFERRAL_REASON = "cas_ReasonForIncomingReferral"
SUPPORT_PLAN_TYPE = "spl_Type"

REFERRAL_SOURCES = local(
    "referral_source",
    [
        ("SelfReferral", "Self-referral"),
        ("Hotline", "Hotline"),
        ("Police", "Police"),
        ("CourtOrProsecution", "Court or prosecution"),
        ("NonPoliceGovernmentalOrganization", "Government organisation (not police)"),
        ("NGO", "NGO"),
        ("HealthService", "Health service"),
        ("Community", "Community member or family"),
        ("Other", "Other"),
    ],
)

RISK_LEVELS = local("risk_level", [("low", "Low"), ("medium", "Medium"), ("high", "High")])

# Age bands as the donor reports and HTCDS exports use them; derived from the birth date.
AGE_BANDS = local(
    "age_band",
    [
        ("0-11", "0–11"),
        ("12-17", "12–17"),
        ("18-24", "18–24"),
        ("25-34", "25–34"),
        ("35-49", "35–49"),
        ("50+", "50 and over"),
    ],
)


@cache
def countries() -> Vocabulary:
    """ISO 3166-1 alpha-2, as HTCDS asks for citizenship and places."""
    items = sorted(((c.alpha_2, c.name) for c in pycountry.countries), key=lambda p: p[1])
    return local("iso3166", items)


@cache
def languages() -> Vocabulary:
    """ISO 639-1 two-letter codes (HTCDS allows them for the primary language)."""
    items = sorted(
        ((lang.alpha_2, lang.name) for lang in pycountry.languages if hasattr(lang, "alpha_2")),
        key=lambda p: p[1],
    )
    return local("iso639", items)


def age_band_for(years: int) -> str:
    if years < 12:
        return "0-11"
    if years < 18:
        return "12-17"
    if years < 25:
        return "18-24"
    if years < 35:
        return "25-34"
    if years < 50:
        return "35-49"
    return "50+"


def resolve(name: str) -> Vocabulary:
    """The vocabulary a field's ``info["vocab"]`` names."""
    local_vocabularies = {
        "risk_level": RISK_LEVELS,
        "age_band": AGE_BANDS,
        "referral_source": REFERRAL_SOURCES,
    }
    if name in local_vocabularies:
        return local_vocabularies[name]
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name == "iso3166":
        return countries()
    if name == "iso639":
        return languages()
    return htcds(name)
