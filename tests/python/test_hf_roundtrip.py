"""Round trips between the two implementations: a LoRA-trained model saved by
transformers loads back into the C++ runtime with the same logits; the C++
loader refuses malformed weights; the seed's pipeline and the examples run."""
import json
import struct
import subprocess
import sys

import numpy as np
import pytest

from conftest import EXE, ROOT, clean_env

TOKENS = "3 1 4 1 5 9 2 6"

LORA_SCRIPT = r"""
import sys
import numpy as np, torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM
source, target, tokens, out = sys.argv[1:5]
torch.manual_seed(0)
model = AutoModelForCausalLM.from_pretrained(source, trust_remote_code=True, dtype=torch.float32)
names = {n.split(".")[-1] for n, _ in model.named_modules()}
targets = [t for t in ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj",
                       "in_proj", "out_proj"] if t in names]
peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=targets))
batch = torch.randint(0, model.config.vocab_size, (2, 12))
optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=1e-2)
loss = peft_model(batch, labels=batch).loss
loss.backward()
optimizer.step()
merged = peft_model.merge_and_unload()
merged.eval()
merged.save_pretrained(target)
with torch.no_grad():
    logits = merged(torch.tensor([[int(t) for t in tokens.split()]])).logits
np.save(out, logits.float().numpy())
"""

SEED_SCRIPT = r"""
import sys, torch
from transformers import AutoModelForCausalLM
from eulerstack.hf.auto_register import register_eulerstack_auto_classes
register_eulerstack_auto_classes()
model = AutoModelForCausalLM.from_pretrained(sys.argv[1], trust_remote_code=True, dtype="bfloat16")
print(type(model).__name__, model.config.n_layers)
ids = torch.randint(0, model.config.vocab_size, (1, 128))
with torch.no_grad():
    out = model(ids)
print(tuple(out.logits.shape))
"""


def python(script, *args, tmp_path):
    env = clean_env(HF_HUB_OFFLINE=1, TRANSFORMERS_VERBOSITY="error", HF_MODULES_CACHE=tmp_path / "hf_modules")
    r = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True, env=env,
                       timeout=900, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.mark.parametrize("preset", ["llama_style_mini", "jamba_style_mini"])
def test_lora_trained_model_saved_by_transformers_loads_in_cpp(cli, tmp_path, preset):
    exported, trained = tmp_path / "exported", tmp_path / "trained"
    assert cli("compile", "--preset", preset, "--output-dir", exported).returncode == 0
    python(LORA_SCRIPT, exported, trained, TOKENS, tmp_path / "python.npy", tmp_path=tmp_path)
    r = cli("run", "--model", trained, "--tokens", TOKENS, "--dtype", "float32", "--logits-out", tmp_path / "cpp.npy")
    assert r.returncode == 0, r.stderr
    python_logits, cpp_logits = np.load(tmp_path / "python.npy"), np.load(tmp_path / "cpp.npy")
    assert np.abs(python_logits - cpp_logits).max() <= 1e-4
    # The training step changed the weights: the exported model's logits differ.
    r = cli("run", "--model", exported, "--tokens", TOKENS, "--dtype", "float32", "--logits-out", tmp_path / "base.npy")
    assert not np.allclose(np.load(tmp_path / "base.npy"), cpp_logits)


@pytest.fixture
def exported(cli, tmp_path):
    target = tmp_path / "model"
    assert cli("compile", "--preset", "llama_style_mini", "--output-dir", target).returncode == 0
    return target


def rewrite_header(file, change, keep_data_bytes=None):
    data = file.read_bytes()
    length = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + length])
    change(header)
    text = json.dumps(header).encode()
    payload = data[8 + length:]
    if keep_data_bytes is not None:
        payload = payload[:keep_data_bytes]
    file.write_bytes(struct.pack("<Q", len(text)) + text + payload)


def run_model(cli, model_dir):
    return cli("run", "--model", model_dir, "--tokens", "1 2")


def test_cpp_loader_refuses_truncated_weights(cli, exported):
    weights = exported / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])
    r = run_model(cli, exported)
    assert r.returncode == 4
    assert "is not a valid safetensors file" in r.stderr and "lie outside the" in r.stderr


def test_cpp_loader_refuses_a_missing_tensor(cli, exported):
    weights = exported / "model.safetensors"
    length = struct.unpack("<Q", weights.read_bytes()[:8])[0]
    header = json.loads(weights.read_bytes()[8:8 + length])
    last = max((k for k in header if k != "__metadata__"), key=lambda k: header[k]["data_offsets"][1])
    begin = header[last]["data_offsets"][0]
    rewrite_header(weights, lambda h: h.pop(last), keep_data_bytes=begin)  # a well-formed file without it
    r = run_model(cli, exported)
    assert r.returncode == 4
    assert f"missing tensor '{last}'" in r.stderr


def test_cpp_loader_refuses_a_gap_in_the_data(cli, exported):
    rewrite_header(exported / "model.safetensors", lambda h: h.pop("model.embed_tokens.weight"))
    r = run_model(cli, exported)
    assert r.returncode == 4
    assert "belong to no tensor" in r.stderr or "the tensors cover" in r.stderr


def test_cpp_loader_refuses_an_unexpected_tensor(cli, exported):
    def rename(h):
        h["model.extra.weight"] = h.pop("model.norm.weight")
    rewrite_header(exported / "model.safetensors", rename)
    r = run_model(cli, exported)
    assert r.returncode == 4
    assert "unexpected tensor 'model.extra.weight'" in r.stderr


def test_cpp_loader_refuses_a_wrong_shape(cli, exported):
    def reshape(h):
        n = h["model.norm.weight"]["shape"][0]
        h["model.norm.weight"]["shape"] = [n // 2, 2]
    rewrite_header(exported / "model.safetensors", reshape)
    r = run_model(cli, exported)
    assert r.returncode == 4
    assert "tensor 'model.norm.weight' has shape" in r.stderr


def test_cpp_loader_refuses_a_directory_without_ir(cli, tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "llama"}')
    r = run_model(cli, tmp_path)
    assert r.returncode == 4
    assert "no eulerstack_ir" in r.stderr


def test_the_seed_pipeline_on_a_mini_preset(cli, tmp_path):
    preset = "arch_advanced_jamba_mini"
    assert cli("validate", "--preset", preset).returncode == 0
    assert cli("explain", "--preset", preset).returncode == 0
    target = tmp_path / "my_jamba_model"
    assert cli("compile", "--preset", preset, "--output-dir", target).returncode == 0
    out = python(SEED_SCRIPT, target, tmp_path=tmp_path).splitlines()
    vocab = json.loads((target / "config.json").read_text())["vocab_size"]
    assert out[0].startswith("EulerStackForCausalLM ")
    assert out[-1] == f"(1, 128, {vocab})"


@pytest.mark.parametrize("example", sorted(p.name for p in (ROOT / "examples").glob("0*.py")))
def test_examples_run(tmp_path, example):
    env = clean_env(EULERSTACK=EXE, HF_HUB_OFFLINE=1, TRANSFORMERS_VERBOSITY="error",
                    HF_MODULES_CACHE=tmp_path / "hf_modules")
    r = subprocess.run([sys.executable, str(ROOT / "examples" / example)], capture_output=True, text=True, env=env,
                       timeout=900, cwd=tmp_path)
    assert r.returncode == 0, r.stderr


# ------------------------------------------------------------------ hostile model directories


def rewrite_config(model_dir, change):
    config = json.loads((model_dir / "config.json").read_text())
    change(config)
    (model_dir / "config.json").write_text(json.dumps(config))


def test_an_edited_ir_is_refused_naming_the_difference(cli, exported):
    def edit(config):
        config["eulerstack_ir"]["layers"][1]["norm"]["type"] = "layernorm"
    rewrite_config(exported, edit)
    r = run_model(cli, exported)
    assert r.returncode == 4
    assert "eulerstack_ir is not what its own sections compile to (first difference at /layers/1/norm/type)" in r.stderr


def test_an_export_from_before_a_block_parameter_existed_still_runs(cli, exported):
    """An IR without a parameter a plugin has since gained runs with that parameter's default; a stored value
    that differs from what the sections compile to is still refused."""
    before = run_model(cli, exported)
    assert before.returncode == 0, before.stderr

    def drop(config):
        for layer in config["eulerstack_ir"]["layers"]:
            layer["mixer"]["params"].pop("attention_sinks", None)
    rewrite_config(exported, drop)
    r = run_model(cli, exported)
    assert r.returncode == 0, r.stderr
    assert r.stdout == before.stdout

    def change(config):
        config["eulerstack_ir"]["layers"][0]["mixer"]["params"]["attention_sinks"] = {"n_per_head": 1,
                                                                                      "learnable": True}
    rewrite_config(exported, change)
    r = run_model(cli, exported)
    assert r.returncode == 4
    assert "(first difference at /layers/0/mixer/params/attention_sinks)" in r.stderr


@pytest.mark.parametrize("field, value, message", [
    ("vocab_size", 1 << 40, "model.vocab_size = 1099511627776 is above the maximum 16777216"),
    ("d_model", "wide", "model.d_model"),
    ("n_heads", 0, "model.n_heads"),
])
def test_an_ir_the_front_end_refuses_is_never_built(cli, exported, field, value, message):
    def edit(config):
        config["eulerstack_ir"]["model"][field] = value
        if field == "vocab_size":  # config.json's own vocab_size wins over the IR's (docs/EXPORT.md#round-trips)
            config[field] = value
    rewrite_config(exported, edit)
    r = run_model(cli, exported)
    assert r.returncode == 1, r.stderr
    assert message in r.stderr and "config.json" in r.stderr


def test_an_ir_with_a_huge_repeat_is_refused_before_any_layer_is_built(cli, exported):
    def edit(config):
        config["eulerstack_ir"]["layer_schedule"][0]["repeat"] = 10 ** 12
    rewrite_config(exported, edit)
    r = run_model(cli, exported)
    assert r.returncode == 1
    assert "layer_schedule[0].repeat = 1000000000000 is above the maximum 16384" in r.stderr


@pytest.mark.parametrize("text, reason", [
    ("{\"eulerstack_ir\": " + "[" * 100000 + "]" * 100000 + "}", "nests deeper than 64 levels"),
    ("{\"eulerstack_ir\": {", "parse error"),
    ("", "parse error"),
])
def test_a_malformed_config_json_is_refused(cli, exported, text, reason):
    (exported / "config.json").write_text(text)
    r = run_model(cli, exported)
    assert r.returncode == 4, r.stderr
    assert "config.json is not usable JSON" in r.stderr and reason in r.stderr


def test_a_header_whose_shape_overflows_is_refused(cli, exported):
    def huge(h):
        h["model.norm.weight"]["shape"] = [1 << 32, 1 << 32]
    rewrite_header(exported / "model.safetensors", huge)
    r = run_model(cli, exported)
    assert r.returncode == 4
    assert "tensor 'model.norm.weight': shape [4294967296,4294967296] of F32 does not fit in 64 bits" in r.stderr


def test_a_header_claiming_a_huge_length_is_refused_unread(cli, exported):
    weights = exported / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(struct.pack("<Q", 1 << 62) + data[8:])
    r = run_model(cli, exported)
    assert r.returncode == 4
    assert "the header claims 4611686018427387904 bytes, more than the 100 MB limit" in r.stderr


def test_a_deeply_nested_header_is_refused(cli, exported):
    weights = exported / "model.safetensors"
    text = b'{"x": ' + b"[" * 50000 + b"]" * 50000 + b"}"
    weights.write_bytes(struct.pack("<Q", len(text)) + text)
    r = run_model(cli, exported)
    assert r.returncode == 4
    assert "nests deeper than 3 levels" in r.stderr


# ------------------------------------------------------------------ model state beside the weights


def expert_bias_names(weights):
    length = struct.unpack("<Q", weights.read_bytes()[:8])[0]
    header = json.loads(weights.read_bytes()[8:8 + length])
    return {name: entry for name, entry in header.items() if name.endswith(".ffn.router.expert_bias")}


def test_the_moe_expert_bias_is_saved_and_loaded_with_the_weights(cli, tmp_path):
    from safetensors.torch import load_file, save_file
    model_dir = tmp_path / "model"
    assert cli("compile", "--preset", "deepseek_style_mla_moe_mini", "--output-dir", model_dir).returncode == 0
    weights = model_dir / "model.safetensors"
    stored = expert_bias_names(weights)
    assert stored and all(entry["dtype"] == "F32" for entry in stored.values())
    tensors = load_file(str(weights))
    assert all(not tensors[name].any() for name in stored)  # zero before any training

    def logits(name):
        out = tmp_path / f"{name}.npy"
        r = cli("run", "--model", model_dir, "--tokens", TOKENS, "--dtype", "float32", "--logits-out", out)
        assert r.returncode == 0, r.stderr
        return np.load(out)

    exported = logits("exported")
    # A trained bias steers the selection (bias_correction is on in this preset): the logits change.
    first = sorted(stored)[0]
    tensors[first][0] = 10.0
    save_file(tensors, str(weights), metadata={"format": "pt"})
    assert not np.allclose(logits("biased"), exported)
    # A checkpoint from before the bias was saved loads with zeros.
    save_file({k: v for k, v in tensors.items() if k not in stored}, str(weights), metadata={"format": "pt"})
    assert np.array_equal(logits("without"), exported)
