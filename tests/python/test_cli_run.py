"""`eulerstack run`: builds the model with LibTorch, runs ids, generates, saves logits."""
import json
import re

import numpy as np
import pytest

from conftest import ROOT


def test_run_prints_the_model_and_next_token_candidates(cli):
    r = cli("run", "--preset", "llama_style_mini", "--tokens", "1 2 3; 4 5 6", "--top", "3")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("llama-style-mini: parameters: 1,049,728, layers: 4, float32, seed")
    assert len([l for l in lines if l.startswith("row ")]) == 2
    assert re.search(r"row 1, after position 2, most likely next tokens: \d+ \(-?[\d.e+-]+\), \d+", r.stdout)


def test_run_generates_and_the_generation_is_deterministic(cli):
    args = ("run", "--preset", "samba_style_mini", "--tokens", "7 8 9", "--generate", "5")
    first, second = cli(*args), cli(*args)
    assert first.returncode == 0, first.stderr
    generated = re.search(r"row 0, generated: ((?:\d+ ?){5})$", first.stdout, re.M)
    assert generated, first.stdout
    assert first.stdout == second.stdout


def test_run_seed_changes_the_weights(cli):
    a = cli("run", "--preset", "gpt2_style_mini", "--tokens", "1 2", "--seed", "1")
    b = cli("run", "--preset", "gpt2_style_mini", "--tokens", "1 2", "--seed", "2")
    assert a.returncode == b.returncode == 0
    assert a.stdout.splitlines()[1] != b.stdout.splitlines()[1]


def test_run_saves_logits_as_npy(cli, tmp_path):
    out = tmp_path / "logits.npy"
    r = cli("run", "--preset", "mamba2_style_mini", "--tokens", "1 2 3 4", "--logits-out", out)
    assert r.returncode == 0, r.stderr
    logits = np.load(out)
    assert logits.dtype == np.float32
    vocab = logits.shape[-1]
    assert logits.shape == (1, 4, vocab)
    assert np.isfinite(logits).all()
    assert f"[1, 4, {vocab}]" in r.stdout


def test_run_reads_token_rows_from_a_file(cli, tmp_path):
    ids = tmp_path / "ids.txt"
    ids.write_text("1, 2, 3\n4, 5, 6\n")
    r = cli("run", "--preset", "retnet_style_mini", "--tokens-file", ids)
    assert r.returncode == 0, r.stderr
    assert "row 1," in r.stdout


@pytest.mark.parametrize("tokens, reason", [
    ("1 x 3", "'x' is not an integer token id"),
    ("1 2 999999", "token id 999999 is outside the vocabulary"),
    (" ; ", "no token ids were given"),
])
def test_run_rejects_bad_token_ids(cli, tokens, reason):
    r = cli("run", "--preset", "llama_style_mini", "--tokens", tokens)
    assert r.returncode == 2
    assert reason in r.stderr
    assert "Fix: Give integer ids in [0, " in r.stderr


def test_run_needs_exactly_one_input(cli):
    r = cli("run", "--preset", "llama_style_mini")
    assert r.returncode == 2
    assert "--tokens" in r.stderr


def test_run_of_an_invalid_spec_exits_1(cli, tmp_path):
    spec = tmp_path / "bad.yml"
    spec.write_text("schema_version: 1\n")
    r = cli("run", spec, "--tokens", "1")
    assert r.returncode == 1


def test_run_messages_follow_lang(cli):
    r = cli("--lang", "es", "run", "--preset", "llama_style_mini", "--tokens", "1 2")
    assert r.returncode == 0, r.stderr
    assert "parámetros" in r.stdout and "fila 0" in r.stdout


def test_run_position_beyond_learned_table_is_a_runtime_error(cli, tmp_path):
    # A learned position table has max_seq_len rows: one token more cannot be embedded.
    text = (ROOT / "presets" / "gpt2_style_mini.yml").read_text()
    text = text.replace("positional: rope", "positional: learned").replace("  rope_theta: 10000.0\n", "")
    spec = tmp_path / "learned.yml"
    spec.write_text(text)
    max_len = json.loads(cli("compile", spec, "--print-config").stdout)["model"]["max_seq_len"]
    r = cli("run", spec, "--tokens", " ".join(["1"] * (max_len + 1)))
    assert r.returncode == 6, r.stderr
    assert r.stderr.startswith("RuntimeError: the model could not run:")
    assert f"max_seq_len {max_len}" in r.stderr


def test_threads_option(cli):
    one = cli("run", "--preset", "llama_style_mini", "--tokens", "1 2 3", "--threads", "1", "--dtype", "float32")
    two = cli("run", "--preset", "llama_style_mini", "--tokens", "1 2 3", "--threads", "2", "--dtype", "float32")
    assert one.returncode == 0 and two.returncode == 0, one.stderr + two.stderr
    assert one.stdout.splitlines()[0] == two.stdout.splitlines()[0]
    bad = cli("run", "--preset", "llama_style_mini", "--tokens", "1 2 3", "--threads", "0")
    assert bad.returncode == 2 and "--threads needs 1 <= N <= 1024" in bad.stderr


def run_rows(cli, tmp_path, preset, tokens, name):
    out = tmp_path / f"{name}.npy"
    r = cli("run", "--preset", preset, "--tokens", tokens, "--generate", "4", "--logits-out", out, "--top", "2")
    assert r.returncode == 0, r.stderr
    return r.stdout, np.load(out)


@pytest.mark.parametrize("preset", ["llama_style_mini", "jamba_style_mini"])
def test_run_takes_rows_of_different_lengths_each_as_if_alone(cli, tmp_path, preset):
    rows = ["5 9 2 7 1", "3 8", "4 4 6"]
    together, logits = run_rows(cli, tmp_path, preset, "; ".join(rows), "together")
    assert logits.shape[:2] == (3, 5)
    for i, row in enumerate(rows):
        alone, own = run_rows(cli, tmp_path, preset, row, f"row{i}")
        n = len(row.split())
        assert np.abs(logits[i, 5 - n:] - own[0]).max() <= 1e-4
        assert not logits[i, :5 - n].any()  # the padding slots hold zeros
        top = re.search(r"row 0, after position (\d+), most likely next tokens: (\d+)", alone)
        assert top.group(1) == str(n - 1)
        assert re.search(rf"row {i}, after position {n - 1}, most likely next tokens: {top.group(2)} ", together)
        generated = re.search(r"row 0, generated: (.*)$", alone, re.M).group(1)
        assert f"row {i}, generated: {generated}\n" in together
