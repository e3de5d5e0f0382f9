"""Consistency of the message catalogs in core/i18n/<lang>/<area>.json.

These tests read the JSON sources directly (no build needed). English is the
source language; every other language must define the same ids, with the
same {placeholders}. All *.json files of a language folder are its areas, so
new areas are picked up without changing this file.
"""
import json
import re
from pathlib import Path

import pytest

I18N = Path(__file__).resolve().parents[2] / "core" / "i18n"
SOURCE = "en"
LANGUAGES = ("en", "ko", "zh", "ja", "es")
TRANSLATIONS = tuple(lang for lang in LANGUAGES if lang != SOURCE)

# Ids with these prefixes are error diagnostics: they need a fix and a "see" reference.
ERROR_PREFIXES = ("registry.", "plugin.", "bundle.", "conformance.", "cli.", "spec.", "io.", "expr.")
# ...except these: spec.block_issue* only wraps a block's own message and fix, and
NOT_ERRORS_PREFIXES = ("spec.block_issue",)
NOT_ERRORS = set()

ENTRY_KEYS = {"msg", "fix", "see"}
MIN_TRANSLATED_SHARE = 0.8

_ESCAPED_BRACE = re.compile(r"\{\{|\}\}")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def placeholders(text):
    """The names of the {name} fields of a fmt template ({{ and }} are literal braces)."""
    return set(_PLACEHOLDER.findall(_ESCAPED_BRACE.sub("", text)))


def load_language(lang):
    """(merged catalog, list of ids defined more than once, list of area files) for one language."""
    folder = I18N / lang
    files = sorted(folder.glob("*.json"))
    merged, origin, duplicates = {}, {}, []
    for path in files:
        def strict_object(pairs, path=path):
            # JSON itself lets a later key silently replace an earlier one: report it instead.
            obj = {}
            for key, value in pairs:
                if key in obj:
                    duplicates.append(f"{key} (twice in one object of {path.name})")
                obj[key] = value
            return obj

        data = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=strict_object)
        assert isinstance(data, dict), f"{path}: the top level must be an object"
        for key, value in data.items():
            if key in merged:
                duplicates.append(f"{key} ({origin[key]} and {path.name})")
            merged[key], origin[key] = value, path.name
    return merged, duplicates, files


CATALOGS = {lang: load_language(lang) for lang in LANGUAGES}


def catalog(lang):
    return CATALOGS[lang][0]


def is_error(msg_id):
    return (msg_id.startswith(ERROR_PREFIXES) and not msg_id.startswith(NOT_ERRORS_PREFIXES)
            and msg_id not in NOT_ERRORS)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_language_has_catalog_files(lang):
    files = CATALOGS[lang][2]
    assert files, f"no *.json catalog in {I18N / lang}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_entries_are_well_formed(lang):
    bad = []
    for msg_id, entry in catalog(lang).items():
        if not isinstance(entry, dict):
            bad.append(f"{msg_id}: not an object")
            continue
        if not isinstance(entry.get("msg"), str) or not entry["msg"]:
            bad.append(f"{msg_id}: no non-empty 'msg'")
        for key, value in entry.items():
            if key not in ENTRY_KEYS:
                bad.append(f"{msg_id}: unknown field '{key}'")
            elif not isinstance(value, str):
                bad.append(f"{msg_id}: '{key}' is not a string")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_no_id_defined_twice(lang):
    duplicates = CATALOGS[lang][1]
    assert not duplicates, f"{lang}: ids defined more than once: {', '.join(duplicates)}"


@pytest.mark.parametrize("lang", TRANSLATIONS)
def test_same_ids_as_english(lang):
    english, translated = set(catalog(SOURCE)), set(catalog(lang))
    missing = sorted(english - translated)
    extra = sorted(translated - english)
    assert not missing and not extra, (
        f"{lang}: missing ids: {missing or 'none'}; ids not in English: {extra or 'none'}")


@pytest.mark.parametrize("lang", TRANSLATIONS)
def test_same_placeholders_as_english(lang):
    english, translated = catalog(SOURCE), catalog(lang)
    problems = []
    for msg_id in sorted(set(english) & set(translated)):
        source, entry = english[msg_id], translated[msg_id]
        if not isinstance(source, dict) or not isinstance(entry, dict):
            continue  # reported by test_entries_are_well_formed
        for field in ("msg", "fix"):
            if field not in source:
                if field in entry:
                    problems.append(f"{msg_id}.{field}: present, but English has none")
                continue
            if field not in entry:
                problems.append(f"{msg_id}.{field}: missing (English has one)")
                continue
            want, got = placeholders(str(source[field])), placeholders(str(entry[field]))
            if want != got:
                problems.append(f"{msg_id}.{field}: placeholders {sorted(got)}, English has {sorted(want)}")
    assert not problems, f"{lang}:\n" + "\n".join(problems)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_errors_have_fix_and_see(lang):
    missing = []
    for msg_id, entry in sorted(catalog(lang).items()):
        if not is_error(msg_id) or not isinstance(entry, dict):
            continue
        if not str(entry.get("fix", "")).strip():
            missing.append(f"{msg_id}: no 'fix'")
        # "see" is always taken from the English catalog.
        if lang == SOURCE and not str(entry.get("see", "")).strip():
            missing.append(f"{msg_id}: no 'see'")
    assert not missing, f"{lang}:\n" + "\n".join(missing)


@pytest.mark.parametrize("lang", TRANSLATIONS)
def test_messages_are_translated(lang):
    english, translated = catalog(SOURCE), catalog(lang)
    shared = [i for i in english if i in translated
              and isinstance(english[i], dict) and isinstance(translated[i], dict)]
    assert shared, f"{lang}: no ids in common with English"
    same = [i for i in shared if translated[i].get("msg") == english[i].get("msg")]
    share = 1 - len(same) / len(shared)
    assert share >= MIN_TRANSLATED_SHARE, (
        f"{lang}: only {share:.0%} of the messages differ from English "
        f"({len(same)} of {len(shared)} identical, e.g. {same[:10]})")


def test_placeholder_parsing():
    assert placeholders("{path} = {value} is below {min}") == {"path", "value", "min"}
    assert placeholders("'{{template: attn}}' and {{{name}}}") == {"name"}
    assert placeholders("no fields") == set()


# Placeholders that hold a count (which may be 1) and the languages whose nouns take a plural -s.
COUNTS = ("count", "warnings", "errors", "layers")
PLURAL_S_LANGUAGES = ("en", "es")


@pytest.mark.parametrize("lang", PLURAL_S_LANGUAGES)
def test_counts_are_not_followed_by_a_plural_noun(lang):
    """'1 warnings' is wrong and '1 warning' wrong for 2: a count reads as 'warnings: {count}'."""
    followed = re.compile(r"\{(" + "|".join(COUNTS) + r")\} [^\W\d_]+s\b")
    bad = [f"{msg_id}: {entry['msg']}" for msg_id, entry in sorted(catalog(lang).items())
           if isinstance(entry, dict) and followed.search(str(entry.get("msg", "")))]
    assert not bad, "\n".join(bad)
