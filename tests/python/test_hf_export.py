"""`compile --output-dir`: the HF directory, its safetensors, atomicity, and
C++/Python parity for every mini preset and every valid spec case of a plugin
(transformers loads the export in a fresh process with trust_remote_code and
must give the C++ runtime's logits)."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open

from conftest import BUILTIN, EXE, ROOT, clean_env

MINI_PRESETS = sorted(p.stem for p in (ROOT / "presets").glob("*_mini.yml"))
# The plugins' own valid spec cases (their constructs at small sizes, float32).
PLUGIN_SPECS = sorted(str(p) for plugin in BUILTIN["plugins"]
                      for p in (ROOT / plugin["folder"] / "tests" / "specs" / "valid").glob("*.yml"))
TOKENS = "3 1 4 1 5 9 2 6 5 3 5 8 9 7 9 3"
GENERATE = 6
PARITY_TOLERANCE = 1e-4

LOAD_SCRIPT = r"""
import json, sys
import numpy as np, torch
from transformers import AutoModelForCausalLM
model_dir, tokens, generate, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
model = AutoModelForCausalLM.from_pretrained(model_dir, trust_remote_code=True, dtype=torch.float32)
model.eval()
ids = torch.tensor([[int(t) for t in tokens.split()]])
with torch.no_grad():
    logits = model(ids).logits
    generated = model.generate(ids, max_new_tokens=generate, do_sample=False)
    # Beam search reorders every layer's state; without a cache it recomputes: both must agree.
    beams = [model.generate(ids, max_new_tokens=4, num_beams=3, num_return_sequences=3, do_sample=False,
                            use_cache=cached, output_scores=True, return_dict_in_generate=True) for cached in (True, False)]
    assert torch.equal(beams[0].sequences, beams[1].sequences), (beams[0].sequences, beams[1].sequences)
    assert torch.allclose(beams[0].sequences_scores, beams[1].sequences_scores, atol=1e-4)
np.save(out, logits.float().numpy())
print(json.dumps({"type": type(model).__name__, "generated": generated[0, ids.shape[1]:].tolist(),
                  "names": sorted(model.state_dict())}))
"""


def export(cli, preset, target, *extra):
    r = cli("compile", "--preset", preset, "--output-dir", target, *extra)
    assert r.returncode == 0, r.stderr
    return r


def load_in_python(model_dir, tmp_path):
    out = tmp_path / "python_logits.npy"
    env = clean_env(HF_HUB_OFFLINE=1, TRANSFORMERS_VERBOSITY="error", HF_MODULES_CACHE=tmp_path / "hf_modules")
    r = subprocess.run([sys.executable, "-c", LOAD_SCRIPT, str(model_dir), TOKENS, str(GENERATE), str(out)],
                       capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    return np.load(out), json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("preset", MINI_PRESETS + PLUGIN_SPECS, ids=lambda p: Path(p).stem)
def test_every_mini_preset_loads_in_transformers_with_the_cpp_logits(cli, tmp_path, preset):
    model_dir = tmp_path / "model"
    export(cli, preset, model_dir)
    cpp_logits = tmp_path / "cpp_logits.npy"
    r = cli("run", "--preset", preset, "--tokens", TOKENS, "--dtype", "float32", "--generate", str(GENERATE),
            "--logits-out", cpp_logits)
    assert r.returncode == 0, r.stderr
    cpp_generated = [int(t) for t in r.stdout.split("row 0, generated: ")[1].splitlines()[0].split()]

    python_logits, loaded = load_in_python(model_dir, tmp_path)
    assert loaded["type"] == "EulerStackForCausalLM"
    reference = np.load(cpp_logits)
    assert python_logits.shape == reference.shape
    assert np.abs(python_logits - reference).max() <= PARITY_TOLERANCE
    assert loaded["generated"] == cpp_generated

    # The export holds the Python model's state: its parameters and its persistent buffers (MoE expert_bias).
    with safe_open(str(model_dir / "model.safetensors"), "pt") as f:
        stored = set(f.keys())
    config = json.loads((model_dir / "config.json").read_text())
    tied = config["tie_word_embeddings"]
    assert set(loaded["names"]) == stored | ({"lm_head.weight"} if tied and "lm_head.weight" in loaded["names"] else set())


@pytest.mark.parametrize("spec", PLUGIN_SPECS, ids=lambda p: Path(p).stem)
def test_plugin_spec_cases_agree_on_trained_looking_weights(cli, tmp_path, spec):
    """Parameters that start at zero (sinks, gates) must be used alike too: every tensor of the export is moved
    off its init, then `run --model` and transformers read the same directory."""
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file, save_file

    model_dir = tmp_path / "model"
    export(cli, spec, model_dir)
    weights = load_file(str(model_dir / "model.safetensors"))
    generator = torch.Generator().manual_seed(3)
    moved = {name: (t + 0.05 * torch.randn(t.shape, generator=generator, dtype=torch.float32).to(t.dtype)
                    if t.is_floating_point() else t) for name, t in weights.items()}
    save_file(moved, str(model_dir / "model.safetensors"), metadata={"format": "pt"})
    cpp_logits = tmp_path / "cpp_logits.npy"
    r = cli("run", "--model", model_dir, "--tokens", TOKENS, "--dtype", "float32", "--logits-out", cpp_logits)
    assert r.returncode == 0, r.stderr
    python_logits, _ = load_in_python(model_dir, tmp_path)
    assert np.abs(python_logits - np.load(cpp_logits)).max() <= PARITY_TOLERANCE


def test_export_layout_and_summary(cli, tmp_path):
    target = tmp_path / "llama"
    r = export(cli, "llama_style_mini", target)
    assert r.stdout.splitlines() == [
        f"HF model saved: {target}",
        "model_type: eulerstack",
        "params: 1.0M (1,049,728)",
        "layers: 4",
        f"load: AutoModelForCausalLM.from_pretrained('{target}', trust_remote_code=True)",
    ]
    names = sorted(p.name for p in target.iterdir())
    assert names == ["config.json", "configuration_eulerstack.py", "eulerstack_attention.py", "eulerstack_blocks.py",
                     "eulerstack_ffn.py", "eulerstack_positional.py", "eulerstack_sdk.py", "generation_config.json",
                     "model.safetensors", "modeling_eulerstack.py"]
    config = json.loads((target / "config.json").read_text())
    assert config["model_type"] == "eulerstack"
    assert config["architectures"] == ["EulerStackForCausalLM"]
    assert config["auto_map"]["AutoModelForCausalLM"] == "modeling_eulerstack.EulerStackForCausalLM"
    assert config["n_layers"] == config["num_hidden_layers"] == 4
    assert config["eulerstack_ir"]["params"]["total"] == 1049728
    with safe_open(str(target / "model.safetensors"), "pt") as f:
        assert f.metadata() == {"format": "pt"}
        keys = set(f.keys())
        assert "lm_head.weight" not in keys  # tied: stored once
        assert sum(int(np.prod(f.get_slice(k).get_shape())) for k in keys) == 1049728
    blocks = (target / "eulerstack_blocks.py").read_text()
    assert "from .eulerstack_attention import register" in blocks


def test_export_is_deterministic_and_seeded(cli, tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    export(cli, "samba_style_mini", a)
    export(cli, "samba_style_mini", b)
    export(cli, "samba_style_mini", c, "--seed", "99")
    for name in ("model.safetensors", "config.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    assert (a / "model.safetensors").read_bytes() != (c / "model.safetensors").read_bytes()


def test_bfloat16_preset_exports_bf16_tensors(cli, tmp_path):
    target = tmp_path / "m"
    export(cli, "arch_expert_research_mini", target)
    dtype = json.loads((target / "config.json").read_text())["dtype"]
    with safe_open(str(target / "model.safetensors"), "pt") as f:
        stored = {str(f.get_tensor(k).dtype) for k in f.keys()}
    assert stored == {{"bfloat16": "torch.bfloat16", "float32": "torch.float32", "float16": "torch.float16"}[dtype]}


def test_sharded_export_loads(cli, tmp_path):
    target = tmp_path / "sharded"
    export(cli, "llama_style_mini", target, "--max-shard-size", "1MB")
    shards = sorted(p.name for p in target.glob("model-*.safetensors"))
    assert len(shards) >= 3
    assert shards[0] == f"model-00001-of-{len(shards):05d}.safetensors"
    index = json.loads((target / "model.safetensors.index.json").read_text())
    assert set(index["weight_map"].values()) == set(shards)
    logits, _ = load_in_python(target, tmp_path)
    single = tmp_path / "single"
    export(cli, "llama_style_mini", single)
    reference, _ = load_in_python(single, tmp_path)
    assert np.array_equal(logits, reference)


def test_existing_directory_is_kept_unless_force(cli, tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    r = cli("compile", "--preset", "gpt2_style_mini", "--output-dir", target)
    assert r.returncode == 4
    assert "already exists and is not empty" in r.stderr and "--force" in r.stderr
    assert (target / "notes.txt").read_text() == "mine"
    export(cli, "gpt2_style_mini", target, "--force")
    assert not (target / "notes.txt").exists()
    assert (target / "model.safetensors").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no staging or backup left


def test_bad_shard_size_is_a_usage_error(cli, tmp_path):
    r = cli("compile", "--preset", "gpt2_style_mini", "--output-dir", tmp_path / "x", "--max-shard-size", "lots")
    assert r.returncode == 2
    assert not (tmp_path / "x").exists()


def test_interrupt_leaves_nothing_behind(tmp_path):
    target = tmp_path / "big"
    proc = subprocess.Popen([str(EXE), "compile", "--preset", "arch_expert_research", "--output-dir", str(target)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env())
    deadline = time.time() + 60
    while time.time() < deadline and not any(tmp_path.iterdir()):
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 4, err
    assert "interrupted" in err
    assert list(tmp_path.iterdir()) == []


def test_export_messages_follow_lang(cli, tmp_path):
    r = cli("--lang", "ja", "compile", "--preset", "gpt2_style_mini", "--output-dir", tmp_path / "m")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("HF モデルを保存しました")


def run_on_terminal(args, env):
    """Runs the CLI with stderr on a pseudo-terminal; returns (exit code, what the terminal showed)."""
    import pty
    primary, secondary = pty.openpty()
    proc = subprocess.Popen([str(EXE), *map(str, args)], stdout=subprocess.DEVNULL, stderr=secondary, env=env)
    os.close(secondary)
    shown = b""
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(primary)
    return proc.wait(timeout=300), shown.decode("utf-8", "replace")


def test_progress_line_on_a_terminal_only(cli, tmp_path):
    # starcoder_style_mqa: ~316 MB of weights, above the 64 MiB threshold for showing progress.
    code, shown = run_on_terminal(["--lang", "es", "compile", "--preset", "starcoder_style_mqa",
                                   "--output-dir", tmp_path / "tty"], clean_env())
    assert code == 0, shown
    assert "\r" in shown and "pesos: " in shown and "faltan " in shown
    final = shown.rstrip("\r\n").split("\r")[-1]
    assert final.startswith("pesos: 315.7 MB / 315.7 MB"), final
    r = cli("compile", "--preset", "starcoder_style_mqa", "--output-dir", tmp_path / "pipe")
    assert r.returncode == 0 and r.stderr == ""
    code, shown = run_on_terminal(["compile", "--preset", "gpt2_style_mini", "--output-dir", tmp_path / "small"],
                                  clean_env())
    assert code == 0 and "weights:" not in shown  # small exports stay quiet
