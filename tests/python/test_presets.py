import json

import pytest

from conftest import clean_env
from presets import FULL_PRESETS, PRESETS, golden_explain, golden_ir


def test_there_are_at_least_16_curated_presets_each_with_a_mini():
    assert len(FULL_PRESETS) >= 16
    for name in FULL_PRESETS:
        assert f"{name}_mini" in PRESETS, f"{name} has no _mini sibling"
    assert "arch_expert_research" in PRESETS and "arch_advanced_jamba" in PRESETS


def test_presets_list_shows_every_preset_with_its_header_line(cli):
    listed = {p["name"]: p for p in json.loads(cli("presets", "list", "--json").stdout)}
    assert set(listed) == set(PRESETS)
    assert all(p["summary"] for p in listed.values())


@pytest.mark.parametrize("name", PRESETS)
def test_preset_validates_cleanly(cli, name):
    result = cli("validate", "--preset", name, "--json")
    report = json.loads(result.stdout)
    assert result.returncode == 0, report["errors"]
    assert report["valid"] and report["errors"] == []
    assert report["warnings"] == [], "bundled presets carry no realism warnings"


@pytest.mark.parametrize("name", [p for p in PRESETS if p.endswith("_mini")])
def test_mini_presets_are_small(cli, name):
    report = json.loads(cli("validate", "--preset", name, "--json").stdout)
    assert report["params"] < 20_000_000


@pytest.mark.parametrize("name", PRESETS)
def test_explain_matches_golden(cli, name):
    result = cli("explain", "--preset", name, env=clean_env(EULERSTACK_LANG="en"))
    assert result.returncode == 0, result.stderr
    assert result.stdout == golden_explain(name).read_text(), "run scripts/update-goldens and review the diff"


@pytest.mark.parametrize("name", PRESETS)
def test_compile_json_matches_golden_and_is_deterministic(cli, name, tmp_path):
    first = cli("compile", "--preset", name, "--print-config")
    second = cli("compile", "--preset", name, "--print-config")
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    out = tmp_path / "config.json"
    assert cli("compile", "--preset", name, "--output", out).returncode == 0
    assert out.read_text() == first.stdout
    assert first.stdout == golden_ir(name).read_text(), "run scripts/update-goldens and review the diff"


def test_explain_json_total_equals_the_ir_breakdown(cli):
    for name in FULL_PRESETS:
        explained = json.loads(cli("explain", "--preset", name, "--json").stdout)
        params = explained["params"]
        assert params["total"] == params["embedding"] + sum(params["layers"]) + params["final_norm"] + params["head"]
        assert len(params["layers"]) == explained["total_layers"]
