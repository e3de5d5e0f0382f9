import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("EULERSTACK_BUILD", ROOT / "build"))
EXE = BUILD / "cli" / "eulerstack"


def clean_env(**extra):
    """The environment without any EULERSTACK_* variable, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EULERSTACK_")}
    env.update({"LANG": "C.UTF-8"})
    env.update({k: str(v) for k, v in extra.items()})
    return env


@pytest.fixture
def cli():
    def run(*args, env=None, cwd=None):
        return subprocess.run([str(EXE), *map(str, args)], capture_output=True, text=True,
                              env=env if env is not None else clean_env(), cwd=cwd, timeout=120)
    return run
