"""Bundles: the build tree's built-in bundle manifest, `plugins verify`, `plugins manifest`, and
the host refusing a plugin whose files do not match its manifest (docs/PLUGINS.md#bundles)."""

import json
import shutil
import subprocess

import pytest

from conftest import BUILD, BUILTIN_BUNDLE, BUILTIN_PLUGINS, clean_env

FILES = 3 * len(BUILTIN_PLUGINS)  # each built-in plugin: descriptor, module library, twin
FIXTURE = BUILD / "tests" / "fixtures" / "plugins" / "good" / "libfixture_good.so"


def bundle_copy(tmp_path):
    """The build tree's plugin libraries, twins and manifest, nothing else."""
    target = tmp_path / "plugins"
    shutil.copytree(BUILD / "plugins", target,
                    ignore=lambda d, names: [n for n in names if n.endswith(".p") or n == "meson.build"])
    return target


def listing(cli, plugins_dir):
    result = cli("plugins", "--json", env=clean_env(EULERSTACK_PLUGIN_SYSTEM_PATH=plugins_dir))
    return result.returncode, json.loads(result.stdout)


def test_build_tree_is_the_builtin_bundle(cli):
    manifest = json.loads((BUILD / "plugins" / "bundle.json").read_text())
    assert (manifest["format"], manifest["name"]) == (1, BUILTIN_BUNDLE)
    assert {p["name"] for p in manifest["plugins"]} == BUILTIN_PLUGINS
    for plugin in manifest["plugins"]:
        name = plugin["name"]
        assert [f["path"].rsplit("/", 1)[-1] for f in plugin["files"]] == [
            f"libeulerstack_{name}.so", f"libeulerstack_{name}.modules.so", f"eulerstack_{name}.py"]
    result = cli("plugins", "--json")
    assert result.returncode == 0, result.stderr
    bundles = json.loads(result.stdout)["bundles"]
    assert [(b["name"], {p["name"] for p in b["plugins"]}) for b in bundles] == [(BUILTIN_BUNDLE, BUILTIN_PLUGINS)]
    text = cli("plugins").stdout
    assert f"Bundles: 1\n  {BUILTIN_BUNDLE} 0.1.0" in text


def test_verify_passes_on_the_build_tree(cli):
    result = cli("plugins", "verify", BUILD / "plugins")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("  ok  ") == FILES
    assert f"every file matches the manifest (checked: {FILES})" in result.stdout
    as_json = json.loads(cli("plugins", "verify", BUILD / "plugins" / "bundle.json", "--json").stdout)
    assert as_json["ok"] and len(as_json["files"]) == FILES


def test_a_changed_file_refuses_only_its_plugin(cli, tmp_path):
    plugins = bundle_copy(tmp_path)
    modules = plugins / "libeulerstack_retnet.modules.so"
    modules.write_bytes(modules.read_bytes() + b"\0")
    code, listed = listing(cli, plugins)
    assert code == 3
    assert {p["name"] for p in listed["plugins"]} == BUILTIN_PLUGINS - {"retnet"}
    [failure] = listed["failures"]
    assert failure["id"] == "plugin.checksum_mismatch"
    assert failure["file"] == str(plugins / "libeulerstack_retnet.so")
    assert str(modules) in failure["message"] and "the plugin was not loaded" in failure["message"]

    verified = cli("plugins", "verify", plugins)
    assert verified.returncode == 3
    assert verified.stdout.count("  ok  ") == FILES - 1
    assert f"PluginError: {modules} does not match its bundle manifest {plugins / 'bundle.json'}" in verified.stderr
    assert f"1 of {FILES} files do not match the manifest" in verified.stderr
    # A spec using the refused block says why the block is unknown.
    spec = tmp_path / "spec.yml"
    spec.write_text("schema_version: 1\nmodel: {name: t, d_model: 64, vocab_size: 97, max_seq_len: 64, n_heads: 4}\n"
                    "tokenizer_contract: {type: hf, pretrained: google/byt5-small}\n"
                    "embedding: {type: learned, positional: rope}\n"
                    "layer_templates:\n  r:\n    mixer: {type: retnet}\n    ffn: {type: mlp}\n"
                    "layer_schedule:\n  - {template: r, repeat: 1}\nhead: {type: causal_lm}\n")
    refused = cli("validate", spec, env=clean_env(EULERSTACK_PLUGIN_SYSTEM_PATH=plugins))
    assert refused.returncode != 0
    assert "libeulerstack_retnet.modules.so does not match its bundle manifest" in refused.stderr


def test_missing_unlisted_and_renamed_files(cli, tmp_path):
    plugins = bundle_copy(tmp_path)
    (plugins / "eulerstack_ffn.py").unlink()
    (plugins / "extra").mkdir()
    shutil.copy(FIXTURE, plugins / "extra" / "libstray.so")
    code, listed = listing(cli, plugins)
    assert code == 3
    assert {f["id"] for f in listed["failures"]} == {"plugin.bundle_file_missing", "plugin.not_in_manifest"}
    assert {p["name"] for p in listed["plugins"]} == BUILTIN_PLUGINS - {"ffn"}
    verified = cli("plugins", "verify", plugins, "--json")
    assert verified.returncode == 3
    problems = {f["file"]: f["id"] for f in json.loads(verified.stdout)["files"] if not f["ok"]}
    assert problems == {str(plugins / "eulerstack_ffn.py"): "plugin.bundle_file_missing",
                        str(plugins / "extra" / "libstray.so"): "plugin.not_in_manifest"}


def test_manifest_names_must_match_the_descriptors(cli, tmp_path):
    plugins = bundle_copy(tmp_path)
    manifest = json.loads((plugins / "bundle.json").read_text())
    manifest["plugins"][0]["version"] = "9.9.9"
    (plugins / "bundle.json").write_text(json.dumps(manifest))
    verified = cli("plugins", "verify", plugins)
    assert verified.returncode == 3
    assert "but the manifest" in verified.stderr and "9.9.9" in verified.stderr


def test_an_invalid_manifest_refuses_the_bundle(cli, tmp_path):
    plugins = bundle_copy(tmp_path)
    (plugins / "bundle.json").write_text('{"format": 1, "name": "builtin"}')
    code, listed = listing(cli, plugins)
    assert code == 3 and listed["plugins"] == []
    assert {f["id"] for f in listed["failures"]} == {"bundle.bad_manifest"}
    assert "'version'" in listed["failures"][0]["message"]


def test_manifest_command_writes_a_manifest_that_verifies(cli, tmp_path):
    plugins = bundle_copy(tmp_path)
    (plugins / "bundle.json").unlink()
    assert cli("plugins", "verify", plugins).returncode == 3  # bundle.no_manifest
    written = cli("plugins", "manifest", plugins, "--name", "mine", "--version", "2.0", "--description", "d")
    assert written.returncode == 0, written.stderr
    assert f"wrote {plugins / 'bundle.json'}: bundle 'mine' 2.0, plugins: {len(BUILTIN_PLUGINS)}" in written.stdout
    assert cli("plugins", "verify", plugins).returncode == 0
    code, listed = listing(cli, plugins)
    assert code == 0 and [b["name"] for b in listed["bundles"]] == ["mine"]
    assert cli("plugins", "manifest", plugins, "--name", "x").returncode == 2  # no --version


def test_other_languages(cli, tmp_path):
    plugins = bundle_copy(tmp_path)
    target = plugins / "libeulerstack_positional.so"
    target.write_bytes(target.read_bytes() + b"\0")
    for lang, word in [("ko", "매니페스트"), ("zh", "清单"), ("ja", "マニフェスト"), ("es", "manifiesto")]:
        result = cli("--lang", lang, "plugins", "verify", plugins)
        assert result.returncode == 3 and word in result.stderr, lang


def test_manifest_of_a_directory_without_plugins_is_refused(cli, tmp_path):
    written = cli("plugins", "manifest", tmp_path, "--name", "empty", "--version", "1.0")
    assert written.returncode == 3
    assert f"no plugin library found in {tmp_path}" in written.stderr
    assert not (tmp_path / "bundle.json").exists()
