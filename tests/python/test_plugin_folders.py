"""One folder is one plugin (docs/PLUGINS.md#one-folder-is-one-plugin): each built-in plugin's folder
holds all of it, its name is written once (the folder's), it sees only the SDK's headers, and its
messages reach the user in every language --lang names."""

import json
import re

import pytest

from conftest import BUILD, BUILTIN, BUILTIN_BUNDLE, ROOT

SDK_INCLUDE = ROOT / "core" / "sdk" / "include"
LANGUAGES = ("en", "ko", "zh", "ja", "es")
PLUGINS = {p["name"]: p for p in BUILTIN["plugins"]}


def project_version():
    info = json.loads((BUILD / "meson-info" / "intro-projectinfo.json").read_text())
    return info["version"]


def test_the_list_is_the_plugin_folders():
    declared = sorted(p.parent.relative_to(ROOT).as_posix() for p in (ROOT / "plugins").rglob("meson.build")
                      if p.parent != ROOT / "plugins")
    assert sorted(p["folder"] for p in PLUGINS.values()) == declared
    assert {"attention", "hyena", "mamba", "retnet", "ttt", "ffn", "moe", "positional"} == set(PLUGINS)


@pytest.mark.parametrize("name", sorted(PLUGINS))
def test_a_plugin_is_its_folder(cli, name):
    plugin = PLUGINS[name]
    folder = ROOT / plugin["folder"]
    assert folder.name == name  # the one place the name is written
    assert (ROOT / plugin["descriptor"]).parent == folder and (folder / "meson.build").is_file()
    assert (folder / "tests").is_dir(), "a plugin's tests live in its folder"
    for built in (plugin["library"], plugin["modules_library"], plugin["twin"]):
        assert (BUILD / "plugins" / built).is_file(), built
    listed = {p["name"]: p for p in json.loads(cli("plugins", "--json").stdout)["plugins"]}
    assert listed[name]["version"] == project_version() and listed[name]["bundle"] == BUILTIN_BUNDLE


def test_no_source_names_its_plugin_or_version():
    for source in (ROOT / "plugins").rglob("*.cpp"):
        text = source.read_text()
        # The build names the plugin: no descriptor spells out its name, and no module library does.
        assert not re.search(r'EULERSTACK_PLUGIN_(DESCRIPTOR|MODULES_OF)\b|EULERSTACK_PLUGIN_MODULES\(\s*"', text), source
        assert '"0.1.0"' not in text and '"core"' not in text, source


def test_plugins_include_only_sdk_headers():
    """The build gives plugins only core/sdk/include; this names the offending line when one reaches further."""
    for source in [*(ROOT / "plugins").rglob("*.cpp"), *(ROOT / "plugins").rglob("*.hpp")]:
        if "tests" in source.relative_to(ROOT).parts:
            continue  # a plugin's own tests may use eulerstack's test support
        for header in re.findall(r'#include\s+"(eulerstack/[^"]+)"', source.read_text()):
            assert (SDK_INCLUDE / header).is_file(), f"{source}: {header} is not an SDK header"


def test_hyena_is_a_builtin_mixer(cli, tmp_path):
    info = cli("plugins", "info", "hyena")
    assert info.returncode == 0, info.stderr
    assert "depth" in info.stdout and "filter_hidden" in info.stdout
    spec = tmp_path / "hyena.yml"
    spec.write_text("schema_version: 1\nmodel: {name: t, d_model: 64, vocab_size: 97, max_seq_len: 64, n_heads: 4}\n"
                    "tokenizer_contract: {type: hf, pretrained: google/byt5-small}\n"
                    "embedding: {type: learned, positional: none}\n"
                    "layer_templates:\n  h:\n    mixer: {type: hyena, hyena: {depth: 3}}\n    ffn: {type: mlp}\n"
                    "layer_schedule:\n  - {template: h, repeat: 2}\nhead: {type: causal_lm}\n")
    assert cli("validate", spec).returncode == 0
    ran = cli("run", spec, "--tokens", "1 2 3", "--generate", "2")
    assert ran.returncode == 0, ran.stderr


def catalog_text(plugin, lang, ident, field, **args):
    entry = json.loads((ROOT / PLUGINS[plugin]["folder"] / "i18n" / f"{lang}.json").read_text())[ident]
    return entry[field].format(**args)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_plugin_messages_follow_lang(cli, lang):
    case = ROOT / PLUGINS["retnet"]["folder"] / "tests" / "specs" / "invalid" / "block.retnet.rope_odd_head_dim.yml"
    result = cli("--lang", lang, "validate", case)
    assert result.returncode == 1
    args = {"block": "retnet", "head_dim": "33"}
    assert catalog_text("retnet", lang, "retnet.rope_odd_head_dim", "msg", **args) in result.stderr
    assert catalog_text("retnet", lang, "retnet.rope_odd_head_dim", "fix", **args) in result.stderr
    assert "See: eulerstack plugins info retnet" in result.stderr or lang != "en"

