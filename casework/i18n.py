"""Formatting of values for people: vocabulary labels, dates in the user's locale and zone."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from functools import cache, lru_cache
from gettext import NullTranslations

from flask import Flask, g, has_app_context
from flask_babel import format_date, get_locale, get_timezone, get_translations
from flask_babel import gettext as _
from jinja2 import pass_context

from . import vocab
from .access.fields import field_specs
from .audit.labels import action_label_in
from .extensions import db

# Imports here, not in the functions: these run for each cell of a page's tables.


def _programme_names(programme_ids) -> str:
    """The names of funded programmes, in the order given."""
    from .programmes.models import Programme

    names = []
    for programme_id in programme_ids:
        programme = db.session.get(Programme, programme_id)
        names.append(programme.name if programme else _("(unknown programme)"))
    return ", ".join(names)


def format_value(name: str, value) -> str:
    """How a survivor field's value reads on a page."""
    if value is None or value == []:
        return "—"
    if name == "programme_ids":
        return _programme_names(value)
    if name.endswith("_ids"):
        return ", ".join(_staff_name(v) for v in value)
    if name.endswith("_id") and isinstance(value, uuid.UUID):
        return _staff_name(value)
    if isinstance(value, datetime):
        return medium_datetime(value)
    if isinstance(value, date):
        return medium_date(value)
    spec = _survivor_specs().get(name)
    if spec is not None and spec.vocab:
        vocabulary = vocab.resolve(spec.vocab)
        if isinstance(value, list):
            return ", ".join(vocabulary.display(v) for v in value)
        return vocabulary.display(value)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


@cache
def _survivor_specs():
    from .survivors.models import Survivor  # (the models import this module's neighbours)

    return field_specs(Survivor)


# Labels of fields of any record, for generic displays (timeline). Packages add theirs.
FIELD_LABELS: dict[str, object] = {}


def register_labels(labels: dict) -> None:
    FIELD_LABELS.update(labels)


def field_label(name: str) -> str:
    """The label of a field, by ``record_type.field`` first, then by the bare field name."""
    short = name.rsplit(".", 1)[-1]
    label = FIELD_LABELS.get(name) or FIELD_LABELS.get(short)
    # A field no package labelled reads as its name ("language" → "Language"), through the
    # catalogs, which hold the common ones.
    return str(label) if label else _(short.replace("_", " ").capitalize())


# Fields that name a staff member; their values are shown as the person's name.
USER_FIELDS = frozenset({"lead_caseworker_id", "collaborator_ids", "counsellor_id",
                         "assignee_id", "recorded_by", "created_by", "approved_by"})


def _staff_name(user_id) -> str:
    """A staff member's name, looked up once per request whatever the number of records (a
    caseload names the same few caseworkers on each of its fifty rows)."""
    cache = g.setdefault("_staff_names", {}) if has_app_context() else {}
    if user_id not in cache:
        from .auth.models import User

        user = db.session.get(User, user_id)
        cache[user_id] = user.display_name if user else _("(unknown user)")
    return cache[user_id]


def display_value(name: str, value) -> str | None:
    """A field value for a generic display; None for internal ids not worth showing."""
    short = name.rsplit(".", 1)[-1]
    if short in USER_FIELDS and value:
        values = value if isinstance(value, list) else [value]
        return ", ".join(_staff_name(v) for v in values)
    if short == "id" or short.endswith("_id") or short.endswith("_ids"):
        return None  # references to other records are links, not text
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if value is None or value == []:
        return "—"
    if isinstance(value, datetime):
        return medium_datetime(value)
    if isinstance(value, date):
        return medium_date(value)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


# Fields a generic display leaves out: internal ids and bookkeeping timestamps.
_NOT_SHOWN = frozenset({"id", "survivor_id", "created_at", "updated_at"})


@cache
def _models_by_record_type() -> dict[str, type]:
    """``placement`` → Placement, ``plan_item`` → PlanItem, for every mapped model."""
    return {re.sub(r"(?<!^)(?=[A-Z])", "_", mapper.class_.__name__).lower(): mapper.class_
            for mapper in db.Model.registry.mappers}


def record_field(record_type: str, name: str, value) -> tuple[str, str] | None:
    """(label, shown value) of one presented field of a record, or None to leave it out."""
    if name in _NOT_SHOWN or value is None or value == [] or value == "":
        return None
    model = _models_by_record_type().get(record_type)
    spec = field_specs(model).get(name) if model is not None else None
    if spec is not None and spec.vocab and isinstance(value, str | list):
        vocabulary = vocab.resolve(spec.vocab)
        values = value if isinstance(value, list) else [value]
        shown = ", ".join(vocabulary.display(v) for v in values)
    else:
        shown = display_value(name, value)
    if shown is None:
        return None
    return field_label(f"{record_type}.{name}"), shown


# --- dates on pages: Babel's medium formats, parsed once per locale and time zone -------------
# flask_babel.format_datetime looks the locale, the zone and the pattern up again for every
# value (about 23 µs); a page lists dozens (the access log shows 50). The same output, with
# the patterns parsed once: about a third of the time.


@cache
def _medium_patterns(locale_name: str):
    from babel import Locale
    from babel.dates import get_date_format, get_datetime_format, get_time_format, parse_pattern

    locale = Locale.parse(locale_name)
    return (locale, parse_pattern(get_date_format("medium", locale)),
            parse_pattern(get_time_format("medium", locale)),
            get_datetime_format("medium", locale).replace("'", ""))


def current_locale_name() -> str:
    """The name of the locale pages are shown in now (``pt_BR``), "en" when none is."""
    return str(get_locale() or "en")


def medium_datetime(value: datetime) -> str:
    """``flask_babel.format_datetime(value, "medium")``: in the user's locale and zone (a
    naive value is UTC)."""
    zone = get_timezone()
    return _medium_datetime(current_locale_name(), str(zone), zone, value)


# The same moments come back page after page (a survivor's access log, a timeline): their
# text is kept, per locale and zone, rather than formatted again.
@lru_cache(maxsize=16384)
def _medium_datetime(locale_name: str, zone_name: str, zone, value: datetime) -> str:
    locale, date_pattern, time_pattern, combined = _medium_patterns(locale_name)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    local = value.astimezone(zone)
    return combined.replace("{0}", time_pattern.apply(local, locale)).replace(
        "{1}", date_pattern.apply(local, locale))


def medium_date(value: date) -> str:
    """``flask_babel.format_date(value, "medium")`` (a datetime: its day in the user's zone)."""
    if isinstance(value, datetime):
        return format_date(value, "medium")
    return _medium_date(current_locale_name(), value)


@lru_cache(maxsize=16384)
def _medium_date(locale_name: str, value: date) -> str:
    locale, date_pattern, _time, _combined = _medium_patterns(locale_name)
    return date_pattern.apply(value, locale)


# --- the language of one render ----------------------------------------------------------------
# Flask-Babel finds the request's locale, zone and catalog through several context-local
# lookups on every string and every date (about 6 µs each); a page asks a few hundred times.
# The context processor (casework/web.py) looks them up once per render and hands them to the
# template as ``_language``; the template's gettext and filters read them from there. It runs
# inside ``force_locale`` too, so reports and e-mails keep the language they are made in.


@dataclass(frozen=True, slots=True)
class RenderLanguage:
    locale_name: str  # e.g. "pt_BR"; "en" when none is selected
    zone: tzinfo
    zone_name: str
    translations: NullTranslations


def render_language() -> RenderLanguage:
    zone = get_timezone()
    return RenderLanguage(current_locale_name(), zone, str(zone), get_translations())


def _language(context) -> RenderLanguage:
    # The render's variables are the context's parent (a dict: a plain lookup). Templates
    # imported without context (macros) have none: look it up then.
    language = context.parent.get("_language")
    return language if language is not None else render_language()


@pass_context
def _gettext(context, string):
    return _language(context).translations.ugettext(string)


@pass_context
def _ngettext(context, singular, plural, n):
    return _language(context).translations.ungettext(singular, plural, n)


@pass_context
def _pgettext(context, message_context, string):
    return _language(context).translations.upgettext(message_context, string)


@pass_context
def _npgettext(context, message_context, singular, plural, n):
    return _language(context).translations.unpgettext(message_context, singular, plural, n)


@pass_context
def _datetime_filter(context, value):
    if not value:
        return "—"
    language = _language(context)
    return _medium_datetime(language.locale_name, language.zone_name, language.zone, value)


@pass_context
def _date_filter(context, value):
    if not value:
        return "—"
    if isinstance(value, datetime):
        return medium_date(value)
    return _medium_date(_language(context).locale_name, value)


@pass_context
def _vocab_filter(context, value, name):
    if not value:
        return "—"
    return vocab.display_in(_language(context).locale_name, vocab.resolve(name), value)


@pass_context
def _audit_action_filter(context, action):
    return action_label_in(_language(context).locale_name, action)


def register_filters(app: Flask) -> None:
    app.jinja_env.globals["record_field"] = record_field
    # Replaces Flask-Babel's callables (same catalogs, same newstyle formatting).
    app.jinja_env.install_gettext_callables(gettext=_gettext, ngettext=_ngettext, newstyle=True,
                                            pgettext=_pgettext, npgettext=_npgettext)
    app.jinja_env.filters["audit_action"] = _audit_action_filter
    app.jinja_env.filters["field_value"] = lambda value, name: format_value(name, value)
    app.jinja_env.filters["date"] = _date_filter
    app.jinja_env.filters["datetime"] = _datetime_filter
    app.jinja_env.filters["vocab_label"] = _vocab_filter


# --- country and language names: Babel's CLDR data, not the catalogs ---------------------------


def cldr_name(vocabulary: str, code: str, fallback: str | None = None) -> str:
    """The name of a country (``iso3166``) or language (``iso639``) in the current locale."""
    locale = get_locale()
    if locale is None:
        return fallback or code
    names = locale.territories if vocabulary == "iso3166" else locale.languages
    return names.get(code) or fallback or code


def locale_sort_key(text: str):
    """Sorts names of one language readably without ICU: case and accents folded."""
    import unicodedata

    folded = unicodedata.normalize("NFKD", str(text)).casefold()
    return "".join(ch for ch in folded if not unicodedata.combining(ch))


# --- extraction: every vocabulary label into the catalog ----------------------------------------


def vocabulary_labels() -> list[tuple[str, str]]:
    """(vocabulary name, English label) of every label shown through ``_()`` at display: the
    HTCDS picklists and every ``vocab.local(...)`` vocabulary, but not the country and language
    names (CLDR names them in every language)."""
    import importlib
    import pkgutil

    import casework

    # Importing every module of the package registers every vocab.local(...) vocabulary.
    for module in pkgutil.walk_packages(casework.__path__, "casework."):
        if module.name.rsplit(".", 1)[-1] in ("__main__",):
            continue
        try:
            importlib.import_module(module.name)
        except Exception:  # pragma: no cover - a module that needs an app; its vocabularies
            continue       # are declared in models/forms, which import without one
    found: list[tuple[str, str]] = []
    seen: set[str] = set()
    vocabularies = list(vocab._htcds_picklists().values()) + list(vocab._REGISTERED.values())
    for vocabulary in vocabularies:
        if vocabulary.name in vocab.CLDR_VOCABULARIES:
            continue
        for label in vocabulary.labels:
            if label and label not in seen:
                seen.add(label)
                found.append((vocabulary.name, label))
    return found


def extract_vocabularies(fileobj, keywords, comment_tags, options):
    """A Babel extractor (babel.cfg: ``[casework.i18n:extract_vocabularies: casework/vocab.py]``):
    the messages of casework/vocab.py itself, then every vocabulary label, each with a comment
    naming its vocabulary for the translators."""
    from babel.messages.extract import extract_python

    yield from extract_python(fileobj, keywords, comment_tags, options)
    for name, label in vocabulary_labels():
        yield 1, "_", label, [f"vocabulary {name}"]
