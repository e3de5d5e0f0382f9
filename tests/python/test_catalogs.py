"""Consistency of the message catalogs: core's (core/i18n/<lang>/<area>.json) and each built-in
plugin's (<plugin folder>/i18n/<lang>.json).

These tests read the JSON sources directly. English is the source language; every other language
must define the same ids, with the same {placeholders}. All *.json files of a language folder are
core's areas, so new areas are picked up without changing this file; a plugin's ids all start with
"<plugin>." and, being findings about a spec, each has a fix and a "see".
"""
import json
import re
from pathlib import Path

import pytest

from conftest import BUILTIN, ROOT

I18N = ROOT / "core" / "i18n"
SOURCE = "en"
LANGUAGES = ("en", "ko", "zh", "ja", "es")
TRANSLATIONS = tuple(lang for lang in LANGUAGES if lang != SOURCE)

# Ids with these prefixes are error diagnostics: they need a fix and a "see" reference.
ERROR_PREFIXES = ("registry.", "plugin.", "bundle.", "conformance.", "cli.", "spec.", "io.", "expr.")
NOT_ERRORS_PREFIXES = ()
NOT_ERRORS = set()

ENTRY_KEYS = {"msg", "fix", "see"}
MIN_TRANSLATED_SHARE = 0.8

_ESCAPED_BRACE = re.compile(r"\{\{|\}\}")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def placeholders(text):
    """The names of the {name} fields of a fmt template ({{ and }} are literal braces)."""
    return set(_PLACEHOLDER.findall(_ESCAPED_BRACE.sub("", text)))


def catalog_files(source, lang):
    if source == "core":
        return sorted((I18N / lang).glob("*.json"))
    return [ROOT / PLUGIN_FOLDERS[source] / "i18n" / f"{lang}.json"]


def load_language(source, lang):
    """(merged catalog, list of ids defined more than once, list of files) for one language of a source."""
    files = [f for f in catalog_files(source, lang) if f.is_file()]
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


# The built-in plugins that have messages.
PLUGIN_FOLDERS = {p["name"]: p["folder"] for p in BUILTIN["plugins"] if (ROOT / p["folder"] / "i18n").is_dir()}
SOURCES = ("core", *sorted(PLUGIN_FOLDERS))
CATALOGS = {(source, lang): load_language(source, lang) for source in SOURCES for lang in LANGUAGES}


def catalog(lang, source="core"):
    return CATALOGS[source, lang][0]


def is_error(msg_id, source="core"):
    if source != "core":
        return True  # a plugin's messages are its cross-field checks' findings
    return (msg_id.startswith(ERROR_PREFIXES) and not msg_id.startswith(NOT_ERRORS_PREFIXES)
            and msg_id not in NOT_ERRORS)


def each(languages):
    return pytest.mark.parametrize("source,lang", [(s, lang) for s in SOURCES for lang in languages])


@each(LANGUAGES)
def test_language_has_catalog_files(source, lang):
    files = CATALOGS[source, lang][2]
    assert files, f"no {lang} catalog for {source}: {catalog_files(source, lang)}"


@pytest.mark.parametrize("source", SOURCES[1:])
def test_plugin_ids_start_with_the_plugin_name(source):
    assert PLUGIN_FOLDERS, "no built-in plugin ships messages"
    stray = [i for i in catalog("en", source) if not i.startswith(source + ".")]
    assert not stray, f"{source}: ids outside '{source}.': {stray}"


@each(LANGUAGES)
def test_entries_are_well_formed(source, lang):
    bad = []
    for msg_id, entry in catalog(lang, source).items():
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


@each(LANGUAGES)
def test_no_id_defined_twice(source, lang):
    duplicates = CATALOGS[source, lang][1]
    assert not duplicates, f"{lang}: ids defined more than once: {', '.join(duplicates)}"


@each(TRANSLATIONS)
def test_same_ids_as_english(source, lang):
    english, translated = set(catalog(SOURCE, source)), set(catalog(lang, source))
    missing = sorted(english - translated)
    extra = sorted(translated - english)
    assert not missing and not extra, (
        f"{lang}: missing ids: {missing or 'none'}; ids not in English: {extra or 'none'}")


@each(TRANSLATIONS)
def test_same_placeholders_as_english(source, lang):
    english, translated = catalog(SOURCE, source), catalog(lang, source)
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


@each(LANGUAGES)
def test_errors_have_fix_and_see(source, lang):
    missing = []
    for msg_id, entry in sorted(catalog(lang, source).items()):
        if not is_error(msg_id, source) or not isinstance(entry, dict):
            continue
        if not str(entry.get("fix", "")).strip():
            missing.append(f"{msg_id}: no 'fix'")
        # "see" is always taken from the English catalog.
        if lang == SOURCE and not str(entry.get("see", "")).strip():
            missing.append(f"{msg_id}: no 'see'")
    assert not missing, f"{lang}:\n" + "\n".join(missing)


@each(TRANSLATIONS)
def test_messages_are_translated(source, lang):
    english, translated = catalog(SOURCE, source), catalog(lang, source)
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


@each(PLURAL_S_LANGUAGES)
def test_counts_are_not_followed_by_a_plural_noun(source, lang):
    """'1 warnings' is wrong and '1 warning' wrong for 2: a count reads as 'warnings: {count}'."""
    followed = re.compile(r"\{(" + "|".join(COUNTS) + r")\} [^\W\d_]+s\b")
    bad = [f"{msg_id}: {entry['msg']}" for msg_id, entry in sorted(catalog(lang, source).items())
           if isinstance(entry, dict) and followed.search(str(entry.get("msg", "")))]
    assert not bad, "\n".join(bad)
