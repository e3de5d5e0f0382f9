"""`meson install` (into a temporary DESTDIR): what is installed, and that the installed CLI
finds its plugins, bundles and presets with no environment variable."""

import json
import re
import subprocess
from pathlib import Path

import pytest

from conftest import BUILD, BUILTIN_BUNDLE, BUILTIN_PLUGINS, ROOT, clean_env
from install_support import install_into, pkg_config_env

# The SDK is a folder: every header in it is installed, and nothing else (version.hpp is configured).
SDK = ROOT / "core" / "sdk" / "include" / "eulerstack"
SDK_HEADERS = {p.relative_to(SDK).as_posix() for p in SDK.rglob("*.hpp")} | {"version.hpp"}


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    return install_into(tmp_path_factory.mktemp("destdir"))


def test_installed_cli_lists_the_builtin_bundle_without_environment(installed):
    result = installed.run("plugins", "--json")
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    assert listing["failures"] == []
    assert {p["name"] for p in listing["plugins"]} == BUILTIN_PLUGINS
    for plugin in listing["plugins"]:
        assert Path(plugin["file"]).parent == installed.plugindir / BUILTIN_BUNDLE
    assert [(b["name"], {p["name"] for p in b["plugins"]}) for b in listing["bundles"]] == [(BUILTIN_BUNDLE, BUILTIN_PLUGINS)]
    assert listing["bundles"][0]["manifest"] == str(installed.plugindir / BUILTIN_BUNDLE / "bundle.json")
    assert [d["origin"] for d in listing["search_path"]] == ["default"]


def test_installed_builtin_bundle_verifies(installed):
    result = installed.run("plugins", "verify", installed.plugindir / BUILTIN_BUNDLE)
    assert result.returncode == 0, result.stderr
    assert f"every file matches the manifest (checked: {3 * len(BUILTIN_PLUGINS)})" in result.stdout


def test_installed_presets_validate_and_explain(installed):
    listed = installed.run("presets", "list")
    assert listed.returncode == 0, listed.stderr
    sources = sorted(p.stem for p in (ROOT / "presets").glob("*.yml"))
    assert sorted(p.stem for p in (installed.datadir / "eulerstack" / "presets").glob("*.yml")) == sources
    preset = sources[0]
    assert preset in listed.stdout
    assert installed.run("validate", "--preset", preset).returncode == 0
    explained = installed.run("explain", "--preset", preset, "--json")
    assert explained.returncode == 0, explained.stderr
    assert json.loads(explained.stdout)["params"]["total"] > 0


def test_installed_sdk_headers_are_the_plugin_sdk_only(installed):
    root = installed.includedir / "eulerstack"
    headers = {p.relative_to(root).as_posix() for p in root.rglob("*.hpp")}
    assert headers == SDK_HEADERS
    assert {"checked_count.hpp", "plugin.hpp", "runtime/module_catalog.hpp", "testing/conformance.hpp"} <= headers
    assert not {"plugin_host.hpp", "bundle.hpp", "messages.hpp"} & headers  # the host's, not a plugin's


def test_python_files_are_installed(installed):
    python = installed.datadir / "eulerstack" / "python"
    for name in ("modeling_eulerstack.py", "configuration_eulerstack.py", "eulerstack_sdk.py"):
        assert (python / name).is_file(), name
    for name in BUILTIN_PLUGINS:
        assert (installed.plugindir / BUILTIN_BUNDLE / f"eulerstack_{name}.py").is_file()


def runpath(path):
    out = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True, check=True).stdout
    found = re.search(r"\((?:RUNPATH|RPATH)\).*\[(.*)\]", out)
    return found.group(1).split(":") if found else []


def test_rpaths_are_origin_relative_and_never_reach_the_build_tree(installed):
    libs = {
        "exe": installed.exe,
        "core": installed.libdir / "libeulerstack_core.so",
        "runtime": installed.libdir / "libeulerstack_runtime.so",
        "testing": installed.libdir / "libeulerstack_testing.so",
        "cli_torch": installed.libdir / "eulerstack" / "libeulerstack_cli_torch.so",
        "plugin": installed.plugindir / BUILTIN_BUNDLE / "libeulerstack_retnet.so",
        "modules": installed.plugindir / BUILTIN_BUNDLE / "libeulerstack_retnet.modules.so",
    }
    paths = {name: runpath(path) for name, path in libs.items()}
    for name, entries in paths.items():
        for entry in entries:
            assert not entry.startswith((str(BUILD), str(ROOT / "core"))), (name, entry)
    assert any(p.startswith("$ORIGIN/..") for p in paths["exe"])
    assert any(p.startswith("$ORIGIN/../../..") for p in paths["plugin"])
    assert any(p.startswith("$ORIGIN/..") for p in paths["cli_torch"])
    for torch_user in ("runtime", "testing", "cli_torch", "modules"):
        assert any(Path(p, "libtorch_cpu.so").exists() for p in paths[torch_user]), (torch_user, paths[torch_user])
    # The torch-free parts never link LibTorch.
    for torch_free in ("exe", "core", "plugin"):
        needed = subprocess.run(["readelf", "-d", str(libs[torch_free])], capture_output=True, text=True).stdout
        assert "libtorch" not in needed, torch_free


def test_pkg_config_files_are_relocatable(installed):
    env = pkg_config_env(installed)
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "eulerstack"], capture_output=True, text=True,
                           env=env, check=True).stdout
    assert f"-I{installed.includedir}" in flags.replace("//", "/") or str(installed.root) in flags
    assert str(ROOT / "core") not in flags and str(BUILD) not in flags
    assert "-leulerstack_core" in flags and "torch_cpu" not in flags
    runtime = subprocess.run(["pkg-config", "--libs", "eulerstack-runtime"], capture_output=True, text=True,
                             env=env, check=True).stdout
    assert "-leulerstack_runtime" in runtime and "-ltorch_cpu" in runtime
    plugindir = subprocess.run(["pkg-config", "--variable=plugindir", "eulerstack"], capture_output=True, text=True,
                               env=env, check=True).stdout.strip()
    assert Path(plugindir).resolve() == installed.plugindir.resolve()
    for variable in ("plugin_map", "plugin_modules_map", "eulerstack"):
        value = subprocess.run(["pkg-config", f"--variable={variable}", "eulerstack"], capture_output=True,
                               text=True, env=env, check=True).stdout.strip()
        assert Path(value).is_file(), variable
