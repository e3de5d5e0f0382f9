"""resize_token_embeddings(n + 8) and save_pretrained in Python, then `eulerstack run --model` on what was saved:
it runs, with Python's logits."""
import subprocess

import numpy as np
import pytest

from conftest import EXE, clean_env
from ecosystem.conftest import assert_journey
from ecosystem.presets import MINI_PRESETS


@pytest.mark.parametrize("preset", MINI_PRESETS)
def test_cli_runs_a_resized_checkpoint(journey_runs, preset, tmp_path):
    outcome, _ = journey_runs.result(preset, "resize_for_cli")
    assert_journey(outcome)
    saved = outcome["detail"]
    r = subprocess.run([str(EXE), "run", "--model", saved["model"], "--tokens", "1 2 3", "--dtype", "float32",
                        "--logits-out", str(tmp_path / "cpp.npy")], capture_output=True, text=True, env=clean_env(),
                       timeout=300)
    assert r.returncode == 0, r.stderr
    python, cpp = np.load(saved["logits"]), np.load(tmp_path / "cpp.npy")
    assert cpp.shape == python.shape
    assert np.abs(cpp - python).max() <= 1e-4
