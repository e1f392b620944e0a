"""The message catalogs are complete and sound.

Messages are extracted afresh (the same babel.cfg and keywords as ``make translations``) into a
temporary template; each language's catalog (translations/<lang>/LC_MESSAGES/messages.po) must
have every msgid, no fuzzy entry, no empty translation, and the same placeholders as its msgid
(python-format entries; each plural form against msgid_plural, where a form may leave out only
the count). Babel's own checks (those ``pybabel compile`` runs) pass, and the compiled .mo
files are present and current.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.frontend import CommandLineInterface
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from casework.web import SUPPORTED_LOCALES

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "translations"
LANGUAGES = [code for code in SUPPORTED_LOCALES if code != "en"]
# The extraction keywords of `make translations` (Makefile); checked below to stay the same.
KEYWORDS = ["_l", "lazy_gettext", "ngettext:1,2", "lazy_ngettext:1,2"]
PLACEHOLDER = re.compile(r"%\((\w+)\)[sdifr]|%[sdif]")
COUNTS = {"num", "count"}
SHOWN = 40  # problems listed per check


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """The messages the code and templates hold now (not the committed messages.pot)."""
    import os

    out = tmp_path_factory.mktemp("i18n") / "messages.pot"
    argv = ["pybabel", "-q", "extract", "-F", str(ROOT / "babel.cfg"), "-c", "TRANSLATORS:",
            "-o", str(out)]
    for keyword in KEYWORDS:
        argv += ["-k", keyword]
    cwd = os.getcwd()
    os.chdir(ROOT)  # babel.cfg's patterns are relative to the extracted folder
    try:
        assert CommandLineInterface().run([*argv, "."]) in (None, 0)
    finally:
        os.chdir(cwd)
    with out.open("rb") as handle:
        return read_po(handle)


def _catalog(language: str):
    path = TRANSLATIONS / language / "LC_MESSAGES" / "messages.po"
    assert path.exists(), f"{path} is missing: run make translations"
    with path.open("rb") as handle:
        return read_po(handle, locale=language)


def _names(text: str) -> set[str]:
    return {match.group(0) for match in PLACEHOLDER.finditer(text)}


def _fail(problems: list[str], what: str, language: str) -> None:
    if problems:
        listed = "\n  ".join(problems[:SHOWN])
        more = f"\n  … and {len(problems) - SHOWN} more" if len(problems) > SHOWN else ""
        pytest.fail(f"{language}: {len(problems)} {what}:\n  {listed}{more}", pytrace=False)


def test_the_makefile_extracts_with_the_same_keywords():
    makefile = (ROOT / "Makefile").read_text()
    for keyword in KEYWORDS:
        assert f"-k {keyword}" in makefile, keyword
    assert "-F babel.cfg" in makefile


def test_the_template_holds_the_vocabulary_labels(template):
    """Every HTCDS and Casework vocabulary label is a msgid; country and language names are
    not (Babel's CLDR data names them in every language)."""
    from casework.i18n import vocabulary_labels

    labels = {label for _name, label in vocabulary_labels()}
    assert len(labels) > 150
    ids = {m.id for m in template if m.id}
    assert labels <= ids, sorted(labels - ids)[:10]
    assert "Self-referral" in ids and "Thailand" not in ids and "Kazakh" not in ids


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_catalog_has_every_message_and_no_fuzzy_entry(template, language):
    catalog = _catalog(language)
    assert not catalog.fuzzy, f"{language}: the catalog header is marked fuzzy"
    missing = [repr(m.id) for m in template if m.id and catalog.get(m.id) is None]
    _fail(missing, "msgids missing from the catalog (run make translations)", language)
    fuzzy = [repr(m.id) for m in catalog if m.id and m.fuzzy]
    _fail(fuzzy, "fuzzy entries", language)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_is_translated(template, language):
    catalog = _catalog(language)
    empty = []
    for m in template:
        if not m.id:
            continue
        found = catalog.get(m.id)
        if found is None:
            continue  # reported by the test above
        forms = found.string if isinstance(found.string, tuple | list) else (found.string,)
        if not forms or not all(form and form.strip() for form in forms):
            empty.append(repr(m.id[0] if isinstance(m.id, tuple) else m.id))
    _fail(empty, "untranslated messages", language)


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_keep_the_placeholders_of_their_msgid(template, language):
    catalog = _catalog(language)
    wrong = []
    for m in catalog:
        if not m.id or not m.string:
            continue
        if isinstance(m.id, tuple):
            singular, plural = m.id
            want = _names(plural) | _names(singular)
            required = {p for p in want if not any(f"({c})" in p for c in COUNTS)}
            for index, form in enumerate(m.string):
                if not form:
                    continue
                got = _names(form)
                if not got <= want or not required <= got:
                    wrong.append(f"{plural!r} [{index}]: {sorted(want)} vs {sorted(got)}")
        elif "python-format" in m.flags or _names(m.id):
            if _names(m.string) != _names(m.id):
                wrong.append(f"{m.id!r}: {sorted(_names(m.id))} vs {sorted(_names(m.string))}")
    _fail(wrong, "translations whose placeholders differ from their msgid", language)
    # And Babel's own checks, as pybabel compile runs them.
    errors = [f"{m.id!r}: {'; '.join(map(str, errs))}" for m, errs in catalog.check()]
    _fail(errors, "entries pybabel compile refuses", language)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_compiled_catalog_is_present_and_current(language):
    po_path = TRANSLATIONS / language / "LC_MESSAGES" / "messages.po"
    mo_path = po_path.with_suffix(".mo")
    assert mo_path.exists(), f"{mo_path} is missing: make compile-translations"
    assert mo_path.stat().st_mtime >= po_path.stat().st_mtime, (
        f"{mo_path} is older than its .po: make compile-translations")
    catalog = _catalog(language)
    with mo_path.open("rb") as handle:
        compiled = read_mo(handle)
    expected = {m.id: m.string for m in catalog if m.id and m.string and not m.fuzzy
                and (not isinstance(m.string, tuple) or all(m.string))}
    got = {(tuple(m.id) if isinstance(m.id, list) else m.id):
           (tuple(m.string) if isinstance(m.string, list) else m.string)
           for m in compiled if m.id and m.string}
    expected = {key: tuple(value) if isinstance(value, list) else value
                for key, value in expected.items()}
    stale = [repr(key) for key in expected if got.get(key) != expected[key]]
    _fail(stale, "translations the compiled catalog does not have", language)
