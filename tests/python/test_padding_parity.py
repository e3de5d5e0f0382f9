"""C++/Python parity on padded batches (docs/PADDING.md): for every mini preset, rows of different
lengths through `eulerstack run --model DIR` (which left-pads them) and through transformers
(left-padded and right-padded input_ids with an attention_mask) give the same logits at the real
tokens, and the same greedy tokens per row."""
import json
import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, clean_env

MINI_PRESETS = sorted(p.stem for p in (ROOT / "presets").glob("*_mini.yml"))
ROWS = ["3 1 4 1 5 9 2 6", "5 3 5", "8 9 7 9 3"]
GENERATE = 6
PARITY_TOLERANCE = 1e-4

PYTHON_SCRIPT = r"""
import json, sys
import numpy as np, torch
from transformers import AutoModelForCausalLM
model_dir, rows, generate, out_left, out_right = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
model = AutoModelForCausalLM.from_pretrained(model_dir, trust_remote_code=True, dtype=torch.float32)
model.eval()
longest = max(len(r) for r in rows)
def batch(left):
    ids = torch.zeros(len(rows), longest, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, row in enumerate(rows):
        span = slice(longest - len(row), longest) if left else slice(0, len(row))
        ids[i, span] = torch.tensor(row)
        mask[i, span] = 1
    return ids, mask
with torch.no_grad():
    ids, mask = batch(left=True)
    np.save(out_left, model(ids, attention_mask=mask).logits.float().numpy())
    generated = model.generate(ids, attention_mask=mask, max_new_tokens=generate, do_sample=False, pad_token_id=0)
    right_ids, right_mask = batch(left=False)
    np.save(out_right, model(right_ids, attention_mask=right_mask).logits.float().numpy())
print(json.dumps({"generated": generated[:, longest:].tolist()}))
"""


def run_python(model_dir, rows, tmp_path):
    left, right = tmp_path / "python_left.npy", tmp_path / "python_right.npy"
    env = clean_env(HF_HUB_OFFLINE=1, TRANSFORMERS_VERBOSITY="error", HF_MODULES_CACHE=tmp_path / "hf_modules")
    r = subprocess.run([sys.executable, "-c", PYTHON_SCRIPT, str(model_dir), json.dumps(rows), str(GENERATE),
                        str(left), str(right)], capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    return np.load(left), np.load(right), json.loads(r.stdout.strip().splitlines()[-1])["generated"]


@pytest.mark.parametrize("preset", MINI_PRESETS)
def test_padded_rows_give_the_same_logits_and_tokens_in_cpp_and_python(cli, tmp_path, preset):
    model_dir = tmp_path / "model"
    r = cli("compile", "--preset", preset, "--output-dir", model_dir)
    assert r.returncode == 0, r.stderr
    cpp_out = tmp_path / "cpp.npy"
    r = cli("run", "--model", model_dir, "--tokens", "; ".join(ROWS), "--dtype", "float32", "--generate",
            str(GENERATE), "--logits-out", cpp_out)
    assert r.returncode == 0, r.stderr
    cpp = np.load(cpp_out)
    cpp_generated = [[int(t) for t in re.search(rf"^row {i}, generated: (.*)$", r.stdout, re.M).group(1).split()]
                     for i in range(len(ROWS))]

    rows = [[int(t) for t in row.split()] for row in ROWS]
    longest = max(len(row) for row in rows)
    left, right, generated = run_python(model_dir, rows, tmp_path)
    assert cpp.shape == left.shape == right.shape
    for i, row in enumerate(rows):
        n = len(row)
        cpp_real = cpp[i, longest - n:]
        assert np.abs(left[i, longest - n:] - cpp_real).max() <= PARITY_TOLERANCE, f"row {i}, left padding"
        assert np.abs(right[i, :n] - cpp_real).max() <= PARITY_TOLERANCE, f"row {i}, right padding"
    assert generated == cpp_generated
