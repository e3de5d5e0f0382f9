"""The user's venv is a machine without eulerstack, with the project's pinned packages."""
import json
import re
import subprocess

from ecosystem.user_venv import ROOT, user_env


def python_c(user_python, home, code, *args):
    home.mkdir(exist_ok=True)
    return subprocess.run([str(user_python), "-c", code, *args], capture_output=True, text=True, cwd=home,
                          env=user_env(home), timeout=120)


def test_eulerstack_is_not_importable(user_python, ecosystem_home):
    r = python_c(user_python, ecosystem_home / "probe", "import eulerstack")
    assert r.returncode != 0 and "No module named 'eulerstack'" in r.stderr, r.stderr


def test_pinned_packages_are_the_ones_imported(user_python, ecosystem_home):
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", (ROOT / "python" / "requirements.txt").read_text(), re.M))
    names = ["torch", "transformers", "peft", "accelerate", "trl", "datasets", "onnx", "onnxscript", "onnxruntime"]
    r = python_c(user_python, ecosystem_home / "probe",
                 "import importlib.metadata as m, sys; print(' '.join(m.version(n) for n in sys.argv[1:]))", *names)
    assert r.returncode == 0, r.stderr
    # torch's local version (+cpu) names the wheel's build, not another release.
    installed = {n: v.split("+")[0] for n, v in zip(names, r.stdout.split())}
    assert installed == {n: pins[n] for n in names}


def test_tokenizer_fits_every_preset(assets, exports):
    vocab = len(json.loads((assets / "tokenizer" / "tokenizer.json").read_text())["model"]["vocab"])
    sizes = {p: json.loads((d / "config.json").read_text())["vocab_size"] for p, d in exports.items()}
    assert all(vocab <= size for size in sizes.values()), (vocab, sizes)
