"""Plugins that would crash the host when loaded carelessly (issue 18): an entry symbol that holds a
null pointer, and a descriptor of another ABI whose layout after abi_version and the build stamp
differs. Each is a load error with its reason; the host and the other plugins carry on."""
import json
import shutil

import pytest

from conftest import BUILD, clean_env

FIXTURES = BUILD / "tests" / "fixtures" / "plugins"


@pytest.mark.parametrize("fixture, library, reason", [
    ("null_entry", "libfixture_null_entry.so", "is not a pointer into the library (null or foreign)"),
    ("other_abi_layout", "libfixture_other_abi_layout.so", "uses plugin ABI"),
])
def test_a_broken_entry_is_a_load_error_not_a_crash(cli, tmp_path, fixture, library, reason):
    shutil.copy(FIXTURES / fixture / library, tmp_path)
    r = cli("--plugin-dir", tmp_path, "plugins", "--json")
    assert r.returncode == 3, r.stderr  # not -11 (SIGSEGV)
    listing = json.loads(r.stdout)
    [failure] = listing["failures"]
    assert failure["file"] == str(tmp_path / library) and reason in failure["message"], failure
    assert {p["name"] for p in listing["plugins"]} >= {"attention", "ffn"}  # the others still load
    r = cli("--plugin-dir", tmp_path, "validate", "--preset", "gpt2_style_mini")
    assert r.returncode == 0, r.stderr
    assert f"PluginWarning: {tmp_path / library} was not loaded" in r.stderr


def test_plugins_paths_loads_no_plugin(cli, tmp_path):
    shutil.copy(FIXTURES / "initializer_marker" / "libfixture_initializer_marker.so", tmp_path)
    marker = tmp_path / "marker"
    r = cli("--plugin-dir", tmp_path, "plugins", "--paths", env=clean_env(EULERSTACK_TEST_MARKER=marker))
    assert r.returncode == 0, r.stderr
    assert f"{tmp_path} (--plugin-dir)" in r.stdout
    assert not marker.exists()
    r = cli("--plugin-dir", tmp_path, "plugins", env=clean_env(EULERSTACK_TEST_MARKER=marker))
    assert marker.read_text() == "loaded\n"  # the fixture does mark a load


@pytest.mark.parametrize("command", ["validate", "compile"])
def test_a_missing_plugin_dir_is_said_up_front(cli, tmp_path, command):
    extra = ["--validate-only"] if command == "compile" else []
    r = cli("--plugin-dir", tmp_path / "missing", command, "--preset", "gpt2_style_mini", *extra)
    assert r.returncode == 0, r.stderr
    assert f"PluginWarning: {tmp_path / 'missing'} was not loaded" in r.stderr
