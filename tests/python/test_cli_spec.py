"""validate / explain / compile from the command line."""
import json
import re
import textwrap

import pytest

from conftest import ROOT, clean_env

VALID = textwrap.dedent("""\
    schema_version: 1
    model: {name: tiny, d_model: 64, vocab_size: 256, max_seq_len: 128, n_heads: 2, n_kv_heads: 1}
    tokenizer_contract: {type: hf, pretrained: google/byt5-small}
    embedding: {type: learned, positional: rope}
    layer_templates:
      attn:
        mixer: {type: attention}
        ffn: {type: gated_mlp}
    layer_schedule:
      - {template: attn, repeat: 2}
    head: {type: causal_lm, tie_weights: true}
    """)


def write(tmp_path, text, name="spec.yml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_valid_spec(cli, tmp_path):
    spec = write(tmp_path, VALID)
    result = cli("validate", spec)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{spec}: valid (warnings: 0)\n"


def test_report_adds_the_estimate_and_realism(cli, tmp_path):
    result = cli("validate", "--preset", write(tmp_path, VALID), "--report")
    # 256*64 embedding; per layer q 64*64 + k,v 2*64*32 + o 64*64, gated mlp 3*64*256, two RMSNorms; final norm.
    layer = 64 * 64 * 2 + 2 * 64 * 32 + 3 * 64 * 256 + 2 * 64
    total = 256 * 64 + 2 * layer + 64
    assert f"Estimated params: {total / 1e3:.1f}K ({total:,})" in result.stdout
    assert "Realism warnings: 0" in result.stdout
    assert result.returncode == 0


def test_every_error_of_a_stage_is_reported_with_its_location(cli, tmp_path):
    text = VALID.replace("n_kv_heads: 1}", "n_kv_heads: 1, d_modle: 3}").replace(
        "ffn: {type: gated_mlp}", "ffn: {type: gated_mlp, activation: swish}")
    spec = write(tmp_path, text)
    result = cli("validate", spec)
    assert result.returncode == 1
    err = result.stderr
    assert f"{spec}:2:" in err and "ValidationError: unknown key 'd_modle' in model" in err
    assert "did you mean: d_model" in err
    assert f"{spec}:8:" in err and "'swish' is not one of: swiglu, gelu, relu" in err
    assert err.count("\nFix: ") + err.startswith("Fix: ") == 2
    assert "stage 1 (schema) failed, errors: 2" in err


def test_stage_two_runs_only_after_a_clean_stage_one(cli, tmp_path):
    text = VALID.replace("n_kv_heads: 1}", "n_kv_heads: 3}")
    result = cli("validate", write(tmp_path, text), "--json")
    report = json.loads(result.stdout)
    assert result.returncode == 1
    assert report["failed_stage"] == 2
    (error,) = report["errors"]
    assert (error["category"], error["id"], error["line"]) == ("CompatibilityError", "spec.kv_heads_divide_heads", 2)


def test_json_report_shape(cli, tmp_path):
    report = json.loads(cli("validate", write(tmp_path, VALID), "--json").stdout)
    assert report["valid"] is True and report["failed_stage"] == 0
    assert isinstance(report["params"], int) and report["target_params"] is None


def test_unknown_block_type_is_not_provided_by_any_plugin(cli, tmp_path):
    text = VALID.replace("mixer: {type: attention}", "mixer: {type: branched}")
    result = cli("validate", write(tmp_path, text))
    assert result.returncode == 1
    assert "no mixer named 'branched' is provided by any loaded plugin" in result.stderr
    assert "known mixer types from plugin 'mamba': mamba" in result.stderr


def test_explain_prints_the_seed_layout(cli, tmp_path):
    result = cli("explain", write(tmp_path, VALID))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Model: tiny"
    assert "Dims: d_model=64, n_heads=2, n_kv_heads=1, mlp_ratio=4" in lines
    assert "Vocab: 256, max seq: 128, dtype: bfloat16" in lines
    assert "  attn x2" in lines and "Total layers: 2" in lines
    assert "Head: causal_lm, tie_weights=True" in lines
    assert "Compile target: huggingface" in lines


def test_explain_json_has_the_exact_total(cli, tmp_path):
    data = json.loads(cli("explain", write(tmp_path, VALID), "--json").stdout)
    assert isinstance(data["params"]["total"], int)
    assert data["total_layers"] == 2


def test_compile_requires_exactly_one_mode(cli, tmp_path):
    spec = write(tmp_path, VALID)
    assert cli("compile", spec).returncode == 2
    assert cli("compile", spec, "--print-config", "--validate-only").returncode == 2


def test_compile_validate_only(cli, tmp_path):
    result = cli("compile", write(tmp_path, VALID), "--validate-only")
    assert result.returncode == 0 and "valid" in result.stdout


def test_compile_output_into_a_missing_directory_fails_cleanly(cli, tmp_path):
    target = tmp_path / "missing" / "out.json"
    result = cli("compile", write(tmp_path, VALID), "--output", target)
    assert result.returncode == 4
    assert "IOError: cannot write" in result.stderr
    assert not (tmp_path / "missing").exists()


def test_compile_output_replaces_a_file_atomically(cli, tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    assert cli("compile", write(tmp_path, VALID), "--output", target).returncode == 0
    assert json.loads(target.read_text())["model"]["name"] == "tiny"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json", "spec.yml"]


def test_invalid_spec_leaves_an_existing_output_untouched(cli, tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    bad = write(tmp_path, VALID.replace("n_heads: 2", "n_heads: two"))
    assert cli("compile", bad, "--output", target).returncode == 1
    assert target.read_text() == "old"


@pytest.mark.parametrize("args,code", [(["validate"], 2), (["validate", "--preset", "no_such_preset"], 2),
                                       (["validate", "/nonexistent/spec.yml"], 2)])
def test_missing_specs(cli, args, code):
    assert cli(*args).returncode == code


def test_directory_as_spec_is_an_io_error(cli, tmp_path):
    result = cli("validate", "--preset", str(tmp_path))
    assert result.returncode == 4


def test_yaml_syntax_error_has_a_location(cli, tmp_path):
    spec = write(tmp_path, "schema_version: 1\nmodel: {name: x\n")
    result = cli("validate", spec)
    assert result.returncode == 1
    assert result.stderr.startswith(f"{spec}:") and "YAML syntax error" in result.stderr


def test_language_flag_translates_messages(cli, tmp_path):
    bad = write(tmp_path, VALID.replace("n_heads: 2", "n_heads: two"))
    english = cli("validate", bad).stderr
    korean = cli("--lang", "ko", "validate", bad).stderr
    assert korean != english
    assert "ValidationError" in korean  # categories are never translated
    assert cli("validate", bad, env=clean_env(EULERSTACK_LANG="ja")).stderr == cli("validate", bad, "--lang", "ja").stderr


def test_an_upstream_feature_no_plugin_implements_names_it_and_the_search_path(cli):
    spec = ROOT / "tests" / "specs" / "invalid" / "feature_not_provided.attention_compression.yml"
    (error,) = json.loads(cli("validate", spec, "--json").stdout)["errors"]
    assert error["id"] == "spec.feature_not_provided"
    assert error["message"].startswith("'attention.compression' (DeepSeek-V4 ")
    assert error["message"].endswith("is not provided by any loaded plugin")
    assert any(note.startswith("plugin search path: ") and "(default)" in note for note in error["notes"])


def test_a_problem_without_a_place_in_the_file_has_no_location(cli, tmp_path):
    spec = write(tmp_path, VALID.replace("head: {type: causal_lm, tie_weights: true}\n", ""))
    (error,) = json.loads(cli("validate", spec, "--json").stdout)["errors"]
    assert (error["id"], error["line"], error["column"]) == ("spec.missing_field", None, None)
    assert cli("validate", spec).stderr.startswith(f"{spec}: ValidationError: missing required 'head'")


@pytest.mark.parametrize("lang", ["en", "ko", "zh", "ja", "es"])
def test_summaries_of_one_warning_or_one_error_are_grammatical(cli, tmp_path, lang):
    one_warning = write(tmp_path, VALID.replace("tie_weights: true", "tie_weights: false"), "warn.yml")
    one_error = write(tmp_path, VALID.replace("n_heads: 2", "n_heads: two"), "err.yml")
    summaries = [cli("--lang", lang, "validate", one_warning, "--report").stdout,
                 cli("--lang", lang, "validate", one_error).stderr.splitlines()[-1]]
    for text in summaries:
        # "1 warnings", "1 errors", "1 advertencias", "1 errores": a count-neutral "warnings: 1" instead
        assert not re.search(r"\b1 \w+s\b", text), text
    assert "1" in summaries[0] and "1" in summaries[1]


def _pyyaml_load(path):
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize("name", ["yaml_merge_key", "yaml_merge_key_list", "yaml_explicit_str_tag", "yaml_core_tags"])
def test_merge_keys_and_tags_mean_what_they_mean_upstream(cli, name):
    """The compiled IR holds the values PyYAML's safe_load (upstream's loader) reads from the file."""
    path = ROOT / "tests" / "specs" / "valid" / f"{name}.yml"
    upstream = _pyyaml_load(path)
    result = cli("compile", path, "--print-config")
    assert result.returncode == 0, result.stderr
    ir = json.loads(result.stdout)
    for key, value in upstream["model"].items():
        assert ir["model"][key] == value and type(ir["model"][key]) is type(value), key
    for key, value in upstream["tokenizer_contract"].items():
        assert ir["tokenizer_contract"][key] == value, key
    for key, value in upstream["head"].items():
        assert ir["head"][key] == value and type(ir["head"][key]) is type(value), key
    assert list(ir["layer_templates"]) == list(upstream["layer_templates"])
    for name, template in upstream["layer_templates"].items():
        built = ir["layer_templates"][name]
        for slot in ("mixer", "ffn"):
            assert built[slot]["type"] == template[slot]["type"], (name, slot)
            for key, value in template[slot].items():
                params = value.items() if isinstance(value, dict) else [(key, value)] if key != "type" else []
                for param, param_value in params:
                    assert built[slot]["params"][param] == param_value, (name, slot, param)
        for section in ("norm", "residual"):
            for key, value in template.get(section, {}).items():
                assert built[section][key] == value, (name, section, key)
