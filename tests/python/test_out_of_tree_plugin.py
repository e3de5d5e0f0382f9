"""The proof that a new mixer needs no change to core: examples/plugins/hyena, built out of tree
against an installed eulerstack (a temporary DESTDIR) and nothing else, then used through the
installed CLI: listed, validated and explained with the exact count, conformance-tested, exported
to HuggingFace and loaded by transformers with the C++ runtime's logits; then installed as the
bundle `extra`, verified, and refused once tampered with."""

import json
import shlex
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from conftest import BUILD, ROOT, clean_env
from install_support import MESON, install_into, pkg_config_env

EXAMPLE = ROOT / "examples" / "plugins" / "hyena"
TOKENS = "3 1 4 1 5 9 2 6 5 3 5 8 9 7 9 3"
PARITY_TOLERANCE = 1e-4

SPEC = textwrap.dedent("""\
    schema_version: 1
    model: {name: hyena_tiny, d_model: 64, vocab_size: 97, max_seq_len: 128, n_heads: 4, n_kv_heads: 4,
            dtype: float32}
    tokenizer_contract: {type: hf, pretrained: google/byt5-small}
    embedding: {type: learned, positional: none}
    layer_templates:
      hyena:
        mixer: {type: hyena, hyena: {depth: 3, filter_hidden: 24, filter_decay: 0.05, filter_bands: 3}}
        ffn: {type: gated_mlp}
      attn:
        mixer: {type: attention}
        ffn: {type: mlp}
    layer_schedule:
      - {template: hyena, repeat: 2}
      - {template: attn, repeat: 1}
    head: {type: causal_lm, tie_weights: false}
    """)

LOAD_SCRIPT = r"""
import json, sys
import numpy as np, torch
from transformers import AutoModelForCausalLM
model_dir, tokens, out = sys.argv[1], sys.argv[2], sys.argv[3]
model = AutoModelForCausalLM.from_pretrained(model_dir, trust_remote_code=True, dtype=torch.float32).eval()
ids = torch.tensor([[int(t) for t in tokens.split()]])
with torch.no_grad():
    logits = model(ids).logits
    generated = model.generate(ids, max_new_tokens=4, do_sample=False)
np.save(out, logits.float().numpy())
print(json.dumps({"params": sum(p.numel() for p in model.parameters()),
                  "generated": generated[0, ids.shape[1]:].tolist()}))
"""


def run(command, env, cwd=None, timeout=600):
    done = subprocess.run([str(c) for c in command], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=timeout)
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """The installed eulerstack and the example built against it (copied out of the source tree)."""
    work = tmp_path_factory.mktemp("out_of_tree")
    installed = install_into(work / "destdir")
    source = work / "hyena"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("__pycache__", "build*"))
    build = work / "hyena-build"
    env = pkg_config_env(installed)
    run([MESON, "setup", build, source, f"-Dpython={sys.executable}"], env)
    run([MESON, "compile", "-C", build], env, timeout=1200)
    return installed, source, build, env


def test_the_example_builds_against_the_installed_sdk_only(setup):
    installed, source, build, _ = setup
    commands = json.loads((build / "compile_commands.json").read_text())
    assert len(commands) == 2
    for entry in commands:
        includes = {(Path(entry["directory"]) / arg[2:]).resolve()
                    for arg in shlex.split(entry["command"]) if arg.startswith("-I")}
        assert installed.includedir.resolve() in includes, entry["command"]
        for path in includes:  # nothing from the source or build tree (LibTorch comes from its own directory)
            assert not path.is_relative_to(ROOT / "core") and not path.is_relative_to(BUILD), path
    assert (build / "libeulerstack_hyena.so").is_file() and (build / "libeulerstack_hyena.modules.so").is_file()
    # The descriptor stays torch-free: validate and explain never load LibTorch for it.
    needed = subprocess.run(["readelf", "-d", str(build / "libeulerstack_hyena.so")], capture_output=True,
                            text=True).stdout
    assert "libtorch" not in needed


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="needs the git checkout")
def test_core_does_not_know_hyena():
    found = subprocess.run(["git", "grep", "-il", "hyena", "--", "core", "cli", "plugins"], cwd=ROOT,
                           capture_output=True, text=True)
    assert found.stdout == ""


def test_listed_validated_explained_exported_and_equal_in_transformers(setup, tmp_path):
    installed, _, build, _ = setup
    env = clean_env(EULERSTACK_PLUGIN_PATH=build)
    listing = json.loads(installed.run("plugins", "--json", env=env).stdout)
    hyena = [p for p in listing["plugins"] if p["name"] == "hyena"]
    assert len(hyena) == 1 and Path(hyena[0]["file"]).parent == build
    assert hyena[0]["bundle"] == "extra" and hyena[0]["blocks"][0]["name"] == "hyena"
    assert listing["failures"] == []

    spec = tmp_path / "hyena.yml"
    spec.write_text(SPEC)
    validated = installed.run("validate", spec, env=env)
    assert validated.returncode == 0, validated.stderr
    explained = installed.run("explain", spec, "--json", env=env)
    assert explained.returncode == 0, explained.stderr
    total = json.loads(explained.stdout)["params"]["total"]
    drawn = installed.run("explain", spec, "--format", "svg", env=env)
    assert drawn.returncode == 0, drawn.stderr
    bands = ET.fromstring(drawn.stdout).findall(".//{http://www.w3.org/2000/svg}g[@class='layer']")
    assert [b.get("data-mixer") for b in bands] == ["hyena", "hyena", "attention"]
    # the state its plugin declares: depth 3 streams of d_model 64 float32 values per token, 128 tokens
    assert [int(b.get("data-state-bytes")) for b in bands[:2]] == [3 * 64 * 4 * 128] * 2

    cpp_logits = tmp_path / "cpp.npy"
    ran = installed.run("run", spec, "--tokens", TOKENS, "--dtype", "float32", "--generate", "4", "--logits-out",
                        cpp_logits, env=env)
    assert ran.returncode == 0, ran.stderr
    assert f"parameters: {total:,}" in ran.stdout  # the built model has exactly the explained count
    cpp_generated = [int(t) for t in ran.stdout.split("row 0, generated: ")[1].splitlines()[0].split()]

    model_dir = tmp_path / "model"
    exported = installed.run("compile", spec, "--output-dir", model_dir, env=env)
    assert exported.returncode == 0, exported.stderr
    assert (model_dir / "eulerstack_hyena.py").is_file()
    out = tmp_path / "python.npy"
    loaded = run([sys.executable, "-c", LOAD_SCRIPT, model_dir, TOKENS, out],
                 clean_env(HF_HUB_OFFLINE=1, TRANSFORMERS_VERBOSITY="error", HF_MODULES_CACHE=tmp_path / "hf"),
                 cwd=tmp_path)
    result = json.loads(loaded.stdout.strip().splitlines()[-1])
    assert result["params"] == total
    python_logits, reference = np.load(out), np.load(cpp_logits)
    assert python_logits.shape == reference.shape
    assert np.abs(python_logits - reference).max() <= PARITY_TOLERANCE
    assert result["generated"] == cpp_generated


def test_conformance_runner_passes_on_hyena(setup):
    installed, _, build, _ = setup
    result = installed.run("--plugin-dir", build, "plugins", "test", "hyena")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS  mixer hyena: cached decoding equals the full forward" in result.stdout
    assert "PASS  mixer hyena: padding tokens change nothing at the real tokens" in result.stdout
    assert "every conformance check passed (checks: 7)" in result.stdout


def test_the_examples_own_tests_pass(setup):
    _, _, build, env = setup
    result = subprocess.run([str(MESON), "test", "-C", str(build), "--print-errorlogs"], capture_output=True,
                            text=True, env=env, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "conformance" in result.stdout and "twin" in result.stdout


def test_installed_as_the_extra_bundle_verified_and_refused_when_tampered(setup):
    installed, _, build, env = setup
    run([MESON, "install", "-C", build, "--quiet"], env)
    extra = installed.plugindir / "extra"
    manifest = json.loads((extra / "bundle.json").read_text())
    assert manifest["name"] == "extra"
    assert [(p["name"], [f["path"] for f in p["files"]]) for p in manifest["plugins"]] == [
        ("hyena", ["libeulerstack_hyena.so", "libeulerstack_hyena.modules.so", "eulerstack_hyena.py"])]

    listing = json.loads(installed.run("plugins", "--json").stdout)  # no environment: the installed defaults
    assert [b["name"] for b in listing["bundles"]] == ["core", "extra"]
    assert "hyena" in {p["name"] for p in listing["plugins"]}
    assert installed.run("plugins", "verify", extra).returncode == 0

    twin = extra / "eulerstack_hyena.py"
    twin.write_text(twin.read_text() + "\n# changed\n")
    verified = installed.run("plugins", "verify", extra)
    assert verified.returncode == 3
    assert f"PluginError: {twin} does not match its bundle manifest" in verified.stderr
    listed = installed.run("plugins", "--json")
    assert listed.returncode == 3
    failures = json.loads(listed.stdout)["failures"]
    assert [(f["id"], f["file"]) for f in failures] == [("plugin.checksum_mismatch",
                                                         str(extra / "libeulerstack_hyena.so"))]
    assert "hyena" not in {p["name"] for p in json.loads(listed.stdout)["plugins"]}
