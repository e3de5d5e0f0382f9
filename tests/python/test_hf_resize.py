"""`eulerstack run --model DIR` on a directory that transformers' resize_token_embeddings and
save_pretrained changed: config.json's own vocab_size (and dtype) move, the embedding and an untied
head gain rows, and eulerstack_ir may or may not have been rewritten to match. The directory is edited
here the way save_pretrained leaves it, so the test needs no training run."""
import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

ADDED = 16
OLD_VOCAB = 512
TOKENS = f"3 1 4 1 5 {OLD_VOCAB + ADDED - 1}"  # the last id exists only after the resize


def export(cli, preset, target):
    r = cli("compile", "--preset", preset, "--output-dir", target)
    assert r.returncode == 0, r.stderr


def logits_of(cli, model_dir, out, tokens=TOKENS):
    r = cli("run", "--model", model_dir, "--tokens", tokens, "--dtype", "float32", "--logits-out", out)
    assert r.returncode == 0, r.stderr
    return r.stdout, np.load(out)


def resize(model_dir, rewrite_ir, dtype=None):
    """What resize_token_embeddings(vocab + ADDED) and save_pretrained write."""
    weights = model_dir / "model.safetensors"
    tensors = load_file(str(weights))
    generator = torch.Generator().manual_seed(0)
    for name in ("model.embed_tokens.weight", "lm_head.weight"):
        if name in tensors:
            old = tensors[name]
            new_rows = torch.randn(ADDED, old.shape[1], generator=generator).to(old.dtype) * 0.02
            tensors[name] = torch.cat([old, new_rows]).contiguous()
    save_file(tensors, str(weights), metadata={"format": "pt"})
    config = json.loads((model_dir / "config.json").read_text())
    assert config["vocab_size"] == OLD_VOCAB
    config["vocab_size"] = OLD_VOCAB + ADDED
    if dtype:
        config["dtype"] = dtype
    if rewrite_ir:  # what the Python config writes on save
        config["eulerstack_ir"]["model"]["vocab_size"] = config["vocab_size"]
        config["eulerstack_ir"]["model"]["dtype"] = config["dtype"]
    (model_dir / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize("preset", ["llama_style_mini", "mistral_style_mini"])  # tied and untied heads
@pytest.mark.parametrize("rewrite_ir", [True, False], ids=["ir_rewritten", "ir_stale"])
def test_a_resized_model_runs_with_its_new_vocabulary(cli, tmp_path, preset, rewrite_ir):
    model_dir = tmp_path / "model"
    export(cli, preset, model_dir)
    _, before = logits_of(cli, model_dir, tmp_path / "before.npy", tokens="3 1 4 1 5")
    r = cli("run", "--model", model_dir, "--tokens", TOKENS)
    assert r.returncode == 2 and "outside the vocabulary [0, 512)" in r.stderr  # not yet resized

    resize(model_dir, rewrite_ir)
    _, after = logits_of(cli, model_dir, tmp_path / "after.npy")
    assert after.shape == (1, 6, OLD_VOCAB + ADDED)
    # The old rows are untouched: the old tokens' logits over the old vocabulary are as before.
    assert np.abs(after[:, :5, :OLD_VOCAB] - before).max() <= 1e-5


def test_config_dtype_wins_over_a_stale_ir(cli, tmp_path):
    model_dir = tmp_path / "model"
    export(cli, "llama_style_mini", model_dir)
    resize(model_dir, rewrite_ir=False, dtype="bfloat16")
    r = cli("run", "--model", model_dir, "--tokens", TOKENS)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].startswith("llama-style-mini: parameters: ") and ", bfloat16, seed -" in r.stdout


def test_an_ir_edit_outside_what_transformers_changes_is_still_refused(cli, tmp_path):
    model_dir = tmp_path / "model"
    export(cli, "llama_style_mini", model_dir)
    resize(model_dir, rewrite_ir=True)
    config = json.loads((model_dir / "config.json").read_text())
    config["eulerstack_ir"]["layers"][0]["norm"]["type"] = "layernorm"
    (model_dir / "config.json").write_text(json.dumps(config))
    r = cli("run", "--model", model_dir, "--tokens", "1 2")
    assert r.returncode == 4
    assert "first difference at /layers/0/norm/type" in r.stderr
