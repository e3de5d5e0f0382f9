import json

from conftest import BUILD, BUILTIN_BUNDLE, ROOT, clean_env

EXPECTED_BLOCKS = {
    "attention": {("mixer", "attention")},
    "hyena": {("mixer", "hyena")},
    "mamba": {("mixer", "mamba")},
    "retnet": {("mixer", "retnet")},
    "ttt": {("mixer", "ttt_layer")},
    "ffn": {("ffn", "mlp"), ("ffn", "gated_mlp")},
    "moe": {("ffn", "moe"), ("router", "softmax"), ("router", "sigmoid")},
    "positional": {("positional", "rope"), ("positional", "alibi"), ("positional", "learned"), ("positional", "none")},
}


def test_build_tree_plugins_found_without_environment(cli, tmp_path):
    # From an unrelated working directory, with no EULERSTACK_* variable set.
    result = cli("plugins", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    assert listing["failures"] == []
    plugins = {p["name"]: p for p in listing["plugins"]}
    assert set(plugins) == set(EXPECTED_BLOCKS)
    assert len({p["file"] for p in plugins.values()}) == len(EXPECTED_BLOCKS), "each plugin is its own shared module"
    for name, blocks in EXPECTED_BLOCKS.items():
        assert {(b["kind"], b["name"]) for b in plugins[name]["blocks"]} == blocks
        assert plugins[name]["file"].startswith(str(BUILD / "plugins"))
        assert plugins[name]["bundle"] == BUILTIN_BUNDLE
    assert [d["origin"] for d in listing["search_path"]] == ["default"]


def test_text_listing_names_every_plugin_and_the_search_path(cli):
    result = cli("plugins")
    assert result.returncode == 0, result.stderr
    assert f"Plugins loaded: {len(EXPECTED_BLOCKS)}" in result.stdout
    for name in EXPECTED_BLOCKS:
        assert f"  {name} 0.1.0 [{BUILTIN_BUNDLE}]" in result.stdout
    assert f"{BUILD / 'plugins'} (default)" in result.stdout


def test_paths_lists_search_order(cli, tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    result = cli("--plugin-dir", first, "plugins", "--paths", "--json",
                 env=clean_env(EULERSTACK_PLUGIN_PATH=second))
    assert result.returncode == 0, result.stderr
    dirs = json.loads(result.stdout)
    assert [(d["dir"], d["origin"]) for d in dirs][:2] == [(str(first), "--plugin-dir"),
                                                         (str(second), "EULERSTACK_PLUGIN_PATH")]
    assert dirs[2]["origin"] == "default"


def test_system_path_replaces_defaults(cli, tmp_path):
    result = cli("plugins", "--json", env=clean_env(EULERSTACK_PLUGIN_SYSTEM_PATH=tmp_path))
    listing = json.loads(result.stdout)
    assert listing["plugins"] == []
    assert [d["origin"] for d in listing["search_path"]] == ["EULERSTACK_PLUGIN_SYSTEM_PATH"]


def test_missing_plugin_dir_is_reported(cli, tmp_path):
    missing = tmp_path / "nowhere"
    result = cli("plugins", "--plugin-dir", missing)
    assert result.returncode == 3
    assert f"plugin directory {missing} (from --plugin-dir) does not exist" in result.stderr
    assert f"Plugins loaded: {len(EXPECTED_BLOCKS)}" in result.stdout


def test_info_prints_schema(cli):
    result = cli("plugins", "info", "mamba")
    assert result.returncode == 0, result.stderr
    assert "layer_templates.<name>.mixer.mamba" in result.stdout
    assert 'variant     enum {mamba1|mamba2}, default "mamba2"' in result.stdout
    assert "d_state     int, default 64, range [1, 1024]" in result.stdout


def test_info_json_for_a_block_and_kind_prefix(cli):
    result = cli("plugins", "info", "router:softmax", "--json")
    assert result.returncode == 0, result.stderr
    (block,) = json.loads(result.stdout)
    assert (block["kind"], block["name"], block["plugin"]) == ("router", "softmax", "moe")
    assert block["params"][0]["name"] == "norm_topk_prob"


def test_info_for_a_plugin_lists_all_its_blocks(cli):
    info = json.loads(cli("plugins", "info", "moe", "--json").stdout)
    assert info["plugin"] == "moe"
    assert {b["name"] for b in info["blocks"]} == {"moe", "softmax", "sigmoid"}
    moe = next(b for b in info["blocks"] if b["name"] == "moe")
    assert [p["name"] for p in moe["inline_params"]] == ["activation", "bias"]
    assert {p["name"]: p["required"] for p in moe["params"]}["experts"] is True


def test_info_unknown_name_suggests(cli):
    result = cli("plugins", "info", "atention")
    assert result.returncode == 3
    assert "no loaded plugin or block is named 'atention'" in result.stderr
    assert "did you mean: attention\n" in result.stderr
    assert result.stderr.count("Fix: ") == 1 and "See: " in result.stderr


def test_schema_lists_core_sections_and_every_block(cli):
    schema = json.loads(cli("schema", "--json").stdout)
    assert schema["schema_version"] == 1
    assert {"model", "tokenizer_contract", "embedding", "head", "training_hints", "compatibility"} <= set(schema["core"])
    d_model = next(p for p in schema["core"]["model"] if p["name"] == "d_model")
    assert d_model["required"] is True and d_model["type"] == "int"
    names = {kind: {b["name"] for b in blocks} for kind, blocks in schema["blocks"].items()}
    assert names == {"mixer": {"attention", "hyena", "mamba", "retnet", "ttt_layer"}, "ffn": {"mlp", "gated_mlp", "moe"},
                     "router": {"softmax", "sigmoid"}, "positional": {"rope", "alibi", "learned", "none"}}
    text = cli("schema").stdout
    assert text.startswith("schema_version: 1\n\nmodel:\n")
    assert "mixer mamba: " in text and "layer_templates.<name>.norm:" in text


def test_plugin_failures_are_listed_once_per_run(cli, tmp_path):
    spec = tmp_path / "spec.yml"
    spec.write_text((ROOT / "tests" / "specs" / "valid" / "base.yml").read_text()
                    .replace("mixer: {type: attention}", "mixer: {type: nosuch_mixer}")
                    .replace("ffn: {type: gated_mlp}", "ffn: {type: kan}"))
    missing = tmp_path / "nowhere"
    report = json.loads(cli("--plugin-dir", missing, "validate", spec, "--json").stdout)
    first, second = report["errors"]
    assert (first["id"], second["id"]) == ("registry.unknown_block", "registry.unknown_block")
    failed = [n for n in first["notes"] if n.startswith("failed to load: ")]
    assert len(failed) == 1 and str(missing) in failed[0]
    assert not any(n.startswith("failed to load: ") for n in second["notes"])
    assert "the plugins that failed to load are listed under the first such error" in second["notes"]
    assert all(any(n.startswith("plugin search path: ") for n in e["notes"]) for e in (first, second))
    text = cli("--plugin-dir", missing, "validate", spec).stderr
    assert text.count("failed to load: ") == 1


def test_info_lists_upstream_parameters_a_plugin_does_not_provide(cli):
    text = cli("plugins", "info", "attention").stdout
    assert "not provided (upstream parameters this plugin does not implement" in text
    assert "    compression  DeepSeek-V4 " in text
    (block,) = json.loads(cli("plugins", "info", "mixer:attention", "--json").stdout)
    assert set(block["unprovided_params"]) == {"compression"}


def test_plugins_test_runs_the_conformance_suite_on_one_plugin(cli):
    result = cli("plugins", "test", "retnet")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[:2] == ["PASS  mixer retnet: its defaults pass its cross-field check",
                         "PASS  mixer retnet: the count formula equals the module's parameters"]
    assert lines[-1] == "every conformance check passed (checks: 7)"
    checks = json.loads(cli("plugins", "test", "moe", "--json").stdout)
    assert checks["ok"]
    assert {(c["kind"], c["block"]) for c in checks["checks"]} == {("ffn", "moe"), ("router", "softmax"),
                                                                   ("router", "sigmoid")}


def test_plugins_test_names_an_unknown_plugin(cli):
    result = cli("plugins", "test", "nosuch", "--lang", "ja")
    assert result.returncode == 3
    assert result.stderr.startswith("PluginError: 'nosuch' という名前の読み込み済みプラグインはありません")


def test_plugins_unknown_action_is_a_usage_error(cli):
    result = cli("plugins", "frobnicate")
    assert result.returncode == 2
    assert "unknown action 'frobnicate'" in result.stderr


def test_a_plugin_dir_naming_a_file_is_reported_as_such(cli):
    library = BUILD / "plugins" / "libeulerstack_ffn.so"
    result = cli("plugins", "--plugin-dir", library)
    assert result.returncode == 3
    assert f"plugin directory {library} (from --plugin-dir) is a file, not a directory" in result.stderr


def test_empty_entries_of_the_plugin_path_never_mean_the_current_directory(cli, tmp_path):
    # A library in the working directory must not be loaded through '', '::' or a trailing ':'.
    (tmp_path / "libeulerstack_ffn.so").write_bytes((BUILD / "plugins" / "libeulerstack_ffn.so").read_bytes())
    result = cli("plugins", "--json", cwd=tmp_path, env=clean_env(EULERSTACK_PLUGIN_PATH="::", EULERSTACK_PLUGIN_SYSTEM_PATH=":"))
    listing = json.loads(result.stdout)
    assert listing["plugins"] == [] and listing["search_path"] == []


def test_a_plugin_directory_writable_by_others_is_warned_about(cli, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    result = cli("--plugin-dir", shared, "validate", "--preset", "gpt2_style_mini")
    assert result.returncode == 0, result.stderr
    assert (f"PluginWarning: {shared} (plugins from --plugin-dir) is writable by other users: any of them can make "
            "eulerstack run their code as you") in result.stderr
    shared.chmod(0o755)
    result = cli("--plugin-dir", shared, "validate", "--preset", "gpt2_style_mini")
    assert "PluginWarning" not in result.stderr


def test_a_plugin_library_writable_by_others_is_warned_about(cli, tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    library = plugins / "libeulerstack_ffn.so"
    library.write_bytes((BUILD / "plugins" / "libeulerstack_ffn.so").read_bytes())
    library.chmod(0o666)
    result = cli("plugins", env=clean_env(EULERSTACK_PLUGIN_SYSTEM_PATH=plugins))
    assert f"PluginWarning: {library} (plugins from EULERSTACK_PLUGIN_SYSTEM_PATH) is writable by other users" in result.stderr
