"""Every full-size preset exports: the streamed safetensors hold exactly the
parameters (names, shapes, dtype) that transformers builds from the exported
config.json and modeling code, and as many as `explain` counts, plus the
model's persistent buffers (the MoE routers' expert_bias, float32). One preset at
a time (the largest writes ~4 GB), each deleted before the next; the weights
are read by header only (numerical parity is the mini presets' job)."""
import json
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT, clean_env

FULL_PRESETS = sorted(p.stem for p in (ROOT / "presets").glob("*.yml") if not p.stem.endswith("_mini"))

CHECK_SCRIPT = r"""
import json, sys
import torch
from safetensors import safe_open
from transformers import AutoConfig, AutoModelForCausalLM
model_dir = sys.argv[1]
config = AutoConfig.from_pretrained(model_dir, trust_remote_code=True)
with torch.device("meta"):
    model = AutoModelForCausalLM.from_config(config, trust_remote_code=True)
with safe_open(model_dir + "/model.safetensors", "pt") as f:
    stored = {name: (f.get_slice(name).get_dtype(), f.get_slice(name).get_shape()) for name in f.keys()}
    metadata = f.metadata()
state = set(model.state_dict())
print(json.dumps({"built": {name: list(p.shape) for name, p in model.named_parameters()},
                  "buffers": {name: list(b.shape) for name, b in model.named_buffers() if name in state},
                  "stored": stored, "metadata": metadata, "dtype": str(config.dtype)}))
"""

SAFETENSORS_DTYPE = {"torch.bfloat16": "BF16", "torch.float16": "F16", "torch.float32": "F32"}


@pytest.mark.parametrize("preset", FULL_PRESETS)
def test_full_preset_exports_what_transformers_builds(cli, tmp_path, preset):
    explained = json.loads(cli("explain", "--json", "--preset", preset).stdout)["params"]["total"]
    model_dir = tmp_path / "model"
    try:
        r = cli("compile", "--preset", preset, "--output-dir", model_dir)
        assert r.returncode == 0, r.stderr
        assert r.stderr == ""  # no progress line when stderr is not a terminal
        assert f"({explained:,})" in r.stdout
        env = clean_env(HF_HUB_OFFLINE=1, TRANSFORMERS_VERBOSITY="error", HF_MODULES_CACHE=tmp_path / "hf_modules")
        check = subprocess.run([sys.executable, "-c", CHECK_SCRIPT, str(model_dir)], capture_output=True, text=True,
                               env=env, timeout=600, cwd=tmp_path)
        assert check.returncode == 0, check.stderr
        report = json.loads(check.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(model_dir, ignore_errors=True)
    buffers = report["buffers"]
    stored = {name: value for name, value in report["stored"].items() if name not in buffers}
    assert {name: shape for name, (_, shape) in stored.items()} == report["built"]
    assert {dtype for dtype, _ in stored.values()} == {SAFETENSORS_DTYPE[report["dtype"]]}
    assert {name: (dtype, shape) for name, (dtype, shape) in report["stored"].items() if name in buffers} == {
        name: ("F32", shape) for name, shape in buffers.items()}
    assert report["metadata"] == {"format": "pt"}
    total = 0
    for _, shape in stored.values():
        count = 1
        for size in shape:
            count *= size
        total += count
    assert total == explained
