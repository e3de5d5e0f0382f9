"""A plugin's LibTorch module library: opened only to build a model, and
reported clearly when it is missing or does not fit."""
import re
import shutil

from conftest import BUILD, clean_env


def copy_plugins(tmp_path):
    """The build tree's plugins without their bundle manifest: loose plugins, so that a removed or
    swapped file reaches the module library's own checks instead of the bundle's (test_bundles.py)."""
    plugins = tmp_path / "plugins"
    shutil.copytree(BUILD / "plugins", plugins,
                    ignore=shutil.ignore_patterns("*.p", "meson.build", "*.o", "bundle.json"))
    return plugins


def test_validate_and_explain_never_open_module_libraries(cli, tmp_path):
    plugins = copy_plugins(tmp_path)
    for library in plugins.rglob("*.modules.so"):
        library.unlink()
    env = clean_env(EULERSTACK_PLUGIN_SYSTEM_PATH=plugins)
    assert cli("validate", "--preset", "jamba_style_mini", env=env).returncode == 0
    assert cli("explain", "--preset", "jamba_style_mini", env=env).returncode == 0
    r = cli("plugins", env=env)
    assert r.returncode == 0, r.stderr  # *.modules.so are not plugins: never listed as failures


def test_a_missing_module_library_is_a_plugin_error(cli, tmp_path):
    plugins = copy_plugins(tmp_path)
    missing = next(plugins.rglob("libeulerstack_mamba.modules.so"))
    missing.unlink()
    env = clean_env(EULERSTACK_PLUGIN_SYSTEM_PATH=plugins)
    r = cli("run", "--preset", "mamba2_style_mini", "--tokens", "1 2", env=env)
    assert r.returncode == 3
    # located at the first layer's mixer in the preset, which needed the library
    assert re.match(r"\S+mamba2_style_mini\.yml:\d+:\d+: PluginError: the module library of plugin 'mamba' "
                    r"could not be loaded:", r.stderr), r.stderr
    assert str(missing) in r.stderr


def test_a_module_library_of_another_plugin_is_refused(cli, tmp_path):
    plugins = copy_plugins(tmp_path)
    retnet = next(plugins.rglob("libeulerstack_retnet.modules.so"))
    shutil.copy(next(plugins.rglob("libeulerstack_ffn.modules.so")), retnet)
    env = clean_env(EULERSTACK_PLUGIN_SYSTEM_PATH=plugins)
    r = cli("run", "--preset", "retnet_style_mini", "--tokens", "1 2", env=env)
    assert r.returncode == 3
    assert "is the module library of plugin 'ffn', not of 'retnet'" in r.stderr


def test_a_missing_python_twin_blocks_only_the_export(cli, tmp_path):
    plugins = copy_plugins(tmp_path)
    next(plugins.rglob("eulerstack_retnet.py")).unlink()
    env = clean_env(EULERSTACK_PLUGIN_SYSTEM_PATH=plugins)
    assert cli("run", "--preset", "retnet_style_mini", "--tokens", "1 2", env=env).returncode == 0
    r = cli("compile", "--preset", "retnet_style_mini", "--output-dir", tmp_path / "out", env=env)
    assert r.returncode == 3
    assert "plugin 'retnet'" in r.stderr and "has no Python module" in r.stderr
    assert not (tmp_path / "out").exists()
