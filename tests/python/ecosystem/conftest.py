"""Session fixtures of the user-journey suite: the user's venv (no eulerstack package), every mini preset exported
once, a stock transformers Llama as the control, the researcher's tokenizer and rows, and the per-preset journey
processes (in the background, one per core, from the first test that asks)."""
import json
import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from ecosystem.exports import export_all
from ecosystem.presets import MINI_PRESETS, MOE_PRESETS
from ecosystem.user_venv import make_user_venv, run_user, tail

SINGLE_PROCESS_JOURNEYS = ["dtypes", "trainer", "gradient_checkpointing", "padding", "generate", "pipeline",
                           "attn_sdpa", "attn_flex", "save_reload", "lora_adapter", "lora_merge", "sft",
                           "resize_for_cli"]
MOE_JOURNEYS = ["torch_compile", "torch_export", "onnx"]
# The control (a stock transformers Llama) takes every journey but the CLI's and flex's (transformers' own flex
# path compiles kernels: about 35 s on two cores).
CONTROL = "control_llama"
CONTROL_JOURNEYS = [j for j in SINGLE_PROCESS_JOURNEYS if j not in ("resize_for_cli", "attn_flex")] + MOE_JOURNEYS
PRESET_TIMEOUT = 600


def journeys_for(preset):
    if preset == CONTROL:
        return CONTROL_JOURNEYS
    return SINGLE_PROCESS_JOURNEYS + (MOE_JOURNEYS if preset in MOE_PRESETS else [])


@pytest.fixture(scope="session")
def ecosystem_home(tmp_path_factory):
    return tmp_path_factory.mktemp("ecosystem")


@pytest.fixture(scope="session")
def user_python(ecosystem_home):
    return make_user_venv(ecosystem_home / "user-venv")


@pytest.fixture(scope="session")
def exports(ecosystem_home):
    return export_all(MINI_PRESETS, ecosystem_home / "exports")


@pytest.fixture(scope="session")
def assets(user_python, ecosystem_home):
    target = ecosystem_home / "assets"
    target.mkdir()
    r = run_user(user_python, "make_assets.py", target, home=ecosystem_home / "make-assets", timeout=300)
    assert r.returncode == 0, r.stderr
    return target


class JourneyRuns:
    """One user-venv process per preset running all its single-process journeys; results by preset."""

    def __init__(self, python, exports, assets, home):
        workers = max(1, min(len(exports), os.cpu_count() or 1))
        self.pool = ThreadPoolExecutor(workers)
        # The control first (its test comes first), then the longest: the MoE presets, which also compile and export.
        order = sorted(exports, key=lambda p: (p != CONTROL, p not in MOE_PRESETS))
        self.futures = {p: self.pool.submit(self._run, python, exports[p], assets, home / p, p) for p in order}

    @staticmethod
    def _run(python, export, assets, home, preset):
        out = home / "results.json"
        try:
            journeys = ",".join(journeys_for(preset))
            r = run_user(python, "single_process.py", export, assets, home / "work", out, journeys, home=home,
                         timeout=PRESET_TIMEOUT, threads=1)
            died = None if r.returncode == 0 else f"exit {r.returncode}: {tail(r.stderr)}"
        except Exception as error:  # a hung process is the result of every journey it did not finish
            died = f"{type(error).__name__}: {error}"
        results = json.loads(out.read_text()) if out.exists() else {}
        return {"journeys": results, "died": died, "work": home / "work"}

    def result(self, preset, journey):
        run = self.futures[preset].result()
        if journey not in run["journeys"]:
            pytest.fail(f"the journey process stopped before {journey}: {run['died']}")
        return run["journeys"][journey], run["work"]


@pytest.fixture(scope="session")
def control(user_python, ecosystem_home):
    target = ecosystem_home / CONTROL
    r = run_user(user_python, "make_control.py", target, home=ecosystem_home / "make-control", timeout=300)
    assert r.returncode == 0, r.stderr
    return target


@pytest.fixture(scope="session")
def journey_runs(user_python, exports, control, assets, ecosystem_home):
    runs = JourneyRuns(user_python, with_control(exports, control), assets, ecosystem_home / "single")
    yield runs
    runs.pool.shutdown(wait=True, cancel_futures=True)


def with_control(exports, control):
    return {CONTROL: control, **exports}


def assert_journey(outcome):
    assert outcome["ok"], f"{outcome['error']}\n{outcome.get('traceback', '')}"
