"""A user's machine: a venv with the project's pinned packages but without the `eulerstack` package, so an
export is loaded only through the code it carries (trust_remote_code)."""
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PROJECT_VENV = ROOT / ".venv"
USER_SCRIPTS = Path(__file__).resolve().parent / "user"


def site_packages(venv):
    paths = sysconfig.get_paths(vars={"base": str(venv), "platbase": str(venv)})
    return Path(paths["purelib"])


def make_user_venv(target):
    """Creates the venv at `target` whose site-packages links every entry of the project's .venv but eulerstack*;
    returns its python."""
    subprocess.run([str(PROJECT_VENV / "bin" / "python"), "-m", "venv", "--without-pip", str(target)], check=True)
    source, dest = site_packages(PROJECT_VENV), site_packages(target)
    for entry in source.iterdir():
        if not entry.name.lower().startswith("eulerstack"):
            (dest / entry.name).symlink_to(entry)
    return target / "bin" / "python"


def user_env(home, threads=None, **extra):
    """The environment of a user's process: offline, no eulerstack variable, caches under `home`."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("EULERSTACK_", "PYTHON", "HF_", "TRANSFORMERS_", "VIRTUAL_ENV", "OMP_"))}
    env.update(LANG="C.UTF-8", HF_HOME=str(home / "hf_home"), HF_MODULES_CACHE=str(home / "hf_modules"),
               HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TRANSFORMERS_VERBOSITY="error",
               TOKENIZERS_PARALLELISM="false", PYTHONNOUSERSITE="1", PYTHONDONTWRITEBYTECODE="1",
               # Distributed journeys talk over loopback only.
               MASTER_ADDR="127.0.0.1", GLOO_SOCKET_IFNAME="lo")
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run_user(python, script, *args, home, timeout, threads=None, env=None):
    """Runs user/<script> (or `-m module` when script starts with -m) in the user venv, cwd `home`."""
    home.mkdir(parents=True, exist_ok=True)
    command = [str(python), *(script.split() if script.startswith("-m ") else [str(USER_SCRIPTS / script)])]
    return subprocess.run([*command, *map(str, args)], capture_output=True, text=True, cwd=home, timeout=timeout,
                          env=env if env is not None else user_env(home, threads))


def tail(text, lines=40):
    return "\n".join(text.strip().splitlines()[-lines:])


if __name__ == "__main__":
    print(make_user_venv(Path(sys.argv[1])))
