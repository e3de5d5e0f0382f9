import json
import os
import resource
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("EULERSTACK_BUILD", ROOT / "build"))
EXE = BUILD / "cli" / "eulerstack"

# The one list of built-in plugins, written by plugins/meson.build: name, source folder, files.
BUILTIN = json.loads((BUILD / "plugins" / "builtin_plugins.json").read_text())
BUILTIN_BUNDLE = BUILTIN["bundle"]
BUILTIN_PLUGINS = {p["name"] for p in BUILTIN["plugins"]}


def _sanitized(build):
    try:
        options = json.loads((build / "meson-info" / "intro-buildoptions.json").read_text())
    except OSError:
        return False
    value = next((o["value"] for o in options if o["name"] == "b_sanitize"), "none")
    return value not in ("none", [], ["none"])


SANITIZED = _sanitized(BUILD)  # built by scripts/sanitize


def run_capped(args, memory, timeout, env):
    """subprocess.run of `args` with at most `memory` bytes. The cap is on address space, except in a
    sanitized build: ASan reserves terabytes of address space for its shadow memory, so there the
    cap is ASan's own limit on resident memory."""
    if SANITIZED:
        env = dict(env, ASAN_OPTIONS=f"{env.get('ASAN_OPTIONS', '')}:hard_rss_limit_mb={memory >> 20}".lstrip(":"))
        limit = None
    else:
        def limit():
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env, timeout=timeout,
                          preexec_fn=limit)


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
