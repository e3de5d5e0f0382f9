"""Exports whose directories share a basename (a/final, b/final, ...) loaded in one process: each is built with
its own blocks, from its own Python files, as a fresh process builds it. Each copy's Python files get a marker
line (as exports by different eulerstack versions differ), so code taken from another export shows."""
import json
import shutil
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ecosystem.user_venv import run_user

# Different plugins each: attention, Mamba2, RetNet, MoE.
PRESETS = ["llama_style_mini", "mamba2_style_mini", "retnet_style_mini", "mixtral_style_moe_mini"]


def test_exports_sharing_a_basename_each_load_their_own_blocks(user_python, exports, tmp_path):
    dirs = []
    for letter, preset in zip("abcd", PRESETS):
        target = tmp_path / letter / "final"
        shutil.copytree(exports[preset], target)
        for source in target.glob("*.py"):
            source.write_text(source.read_text() + f"\nEXPORT_MARKER = {letter!r}\n")
        dirs.append(target)

    def load(home, *targets):
        r = run_user(user_python, "load_logits.py", home / "out", *targets, home=home, timeout=600, threads=1)
        assert r.returncode == 0, r.stderr
        return home / "out"

    with ThreadPoolExecutor(2) as pool:
        together = pool.submit(load, tmp_path / "together", *dirs)
        alone = [pool.submit(load, tmp_path / f"alone-{i}", d) for i, d in enumerate(dirs)]
        together, alone = together.result(), [f.result() for f in alone]
    for i, (letter, preset) in enumerate(zip("abcd", PRESETS)):
        built = json.loads((together / f"{i}.json").read_text())
        assert built["markers"] == [letter], f"{preset} in {letter}/final runs the code of {built['markers']}"
        assert built == json.loads((alone[i] / "0.json").read_text()), f"{preset}: built with {built['blocks']}"
        assert np.abs(np.load(together / f"{i}.npy") - np.load(alone[i] / "0.npy")).max() <= 1e-6, preset
