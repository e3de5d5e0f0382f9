"""The proof that a new mixer is one folder and needs no change to core: the built-in
plugins/mixers/hyena copied under a new name (the folder's name is the plugin's name, the one
place it is written) and built out of tree by the SDK's plugin project against an installed
eulerstack (a temporary DESTDIR) and nothing else. Then used through the installed CLI, with the
other built-in plugins but not the original hyena: listed, validated and explained with the exact
count, conformance-tested, exported to HuggingFace and loaded by transformers with the C++
runtime's logits; then installed as the bundle `extra`, verified, and refused once tampered with."""

import json
import shlex
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from conftest import BUILD, BUILTIN_BUNDLE, ROOT, clean_env
from install_support import MESON, install_into, pkg_config_env

ORIGINAL = ROOT / "plugins" / "mixers" / "hyena"
NAME = "hyena_copy"  # the copy's folder, hence its plugin, library and twin names; its block stays `hyena`
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


@dataclass
class Setup:
    installed: object  # install_support.Install
    build: Path
    env: dict          # pkg-config finds the installed SDK
    others: Path       # the installed built-in plugins except hyena, as a plain plugin directory

    def cli_env(self):
        """The copy and the other built-in plugins, not the original hyena (whose block name it shares)."""
        return clean_env(EULERSTACK_PLUGIN_PATH=self.build, EULERSTACK_PLUGIN_SYSTEM_PATH=self.others)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """The installed eulerstack, and the SDK's plugin project with the copied folder beside its meson.build."""
    work = tmp_path_factory.mktemp("out_of_tree")
    installed = install_into(work / "destdir")
    env = pkg_config_env(installed)
    project_template = subprocess.run(["pkg-config", "--variable=plugin_project", "eulerstack"], env=env,
                                      capture_output=True, text=True, check=True).stdout.strip()
    project = work / "project"
    shutil.copytree(project_template, project)
    shutil.copytree(ORIGINAL, project / NAME, ignore=shutil.ignore_patterns("__pycache__"))
    build = work / "build"
    run([MESON, "setup", build, project, f"-Dplugins={NAME}", f"-Dpython={sys.executable}"], env)
    run([MESON, "compile", "-C", build], env, timeout=1200)
    others = work / "others"
    shutil.copytree(installed.plugindir / BUILTIN_BUNDLE, others,
                    ignore=lambda d, names: [n for n in names if "hyena" in n or n == "bundle.json"])
    return Setup(installed, build, env, others)


def test_the_copy_builds_against_the_installed_sdk_only(setup):
    installed, build = setup.installed, setup.build
    commands = json.loads((build / "compile_commands.json").read_text())
    assert len(commands) == 3  # descriptor, its compiled messages, module library
    for entry in commands:
        includes = {(Path(entry["directory"]) / arg[2:]).resolve()
                    for arg in shlex.split(entry["command"]) if arg.startswith("-I")}
        assert installed.includedir.resolve() in includes, entry["command"]
        for path in includes:  # nothing from the source or build tree (LibTorch comes from its own directory)
            assert not path.is_relative_to(ROOT / "core") and not path.is_relative_to(BUILD), path
    assert (build / f"libeulerstack_{NAME}.so").is_file() and (build / f"libeulerstack_{NAME}.modules.so").is_file()
    # The descriptor stays torch-free: validate and explain never load LibTorch for it.
    needed = subprocess.run(["readelf", "-d", str(build / f"libeulerstack_{NAME}.so")], capture_output=True,
                            text=True).stdout
    assert "libtorch" not in needed


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="needs the git checkout")
def test_core_does_not_know_hyena():
    found = subprocess.run(["git", "grep", "-il", "hyena", "--", "core", "cli", "plugins",
                            ":!plugins/mixers/hyena", ":!plugins/meson.build"], cwd=ROOT,
                           capture_output=True, text=True)
    assert found.stdout == ""  # plugins/meson.build names the folder in its list, nothing more


def test_listed_validated_explained_exported_and_equal_in_transformers(setup, tmp_path):
    installed, build, env = setup.installed, setup.build, setup.cli_env()
    listing = json.loads(installed.run("plugins", "--json", env=env).stdout)
    assert "hyena" not in {p["name"] for p in listing["plugins"]}
    [copy] = [p for p in listing["plugins"] if p["name"] == NAME]
    assert Path(copy["file"]).parent == build
    assert copy["bundle"] == "extra" and copy["blocks"][0]["name"] == "hyena"
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
    assert (model_dir / f"eulerstack_{NAME}.py").is_file()
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


def test_conformance_runner_passes_on_the_copy(setup):
    result = setup.installed.run("plugins", "test", NAME, env=setup.cli_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS  mixer hyena: cached decoding equals the full forward" in result.stdout
    assert "PASS  mixer hyena: padding tokens change nothing at the real tokens" in result.stdout
    assert "every conformance check passed (checks: 7)" in result.stdout


def test_the_copys_own_tests_pass(setup):
    result = subprocess.run([str(MESON), "test", "-C", str(setup.build), "--print-errorlogs"], capture_output=True,
                            text=True, env=dict(setup.env, EULERSTACK_PLUGIN_SYSTEM_PATH=str(setup.others)),
                            timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "conformance" in result.stdout and "twin" in result.stdout


def test_installed_as_the_extra_bundle_verified_and_refused_when_tampered(setup):
    installed = setup.installed
    run([MESON, "install", "-C", setup.build, "--quiet"], setup.env)
    extra = installed.plugindir / "extra"
    manifest = json.loads((extra / "bundle.json").read_text())
    assert manifest["name"] == "extra"
    assert [(p["name"], [f["path"] for f in p["files"]]) for p in manifest["plugins"]] == [
        (NAME, [f"libeulerstack_{NAME}.so", f"libeulerstack_{NAME}.modules.so", f"eulerstack_{NAME}.py"])]

    # No environment: the installed defaults, where the built-in hyena registers its block first.
    listing = json.loads(installed.run("plugins", "--json").stdout)
    assert [b["name"] for b in listing["bundles"]] == [BUILTIN_BUNDLE, "extra"]
    assert [(f["id"], f["file"]) for f in listing["failures"]] == [("registry.duplicate_block",
                                                                    str(extra / f"libeulerstack_{NAME}.so"))]
    assert installed.run("plugins", "verify", extra).returncode == 0

    twin = extra / f"eulerstack_{NAME}.py"
    twin.write_text(twin.read_text() + "\n# changed\n")
    verified = installed.run("plugins", "verify", extra)
    assert verified.returncode == 3
    assert f"PluginError: {twin} does not match its bundle manifest" in verified.stderr
    listed = installed.run("plugins", "--json", env=setup.cli_env() | {"EULERSTACK_PLUGIN_PATH": str(extra)})
    assert listed.returncode == 3
    failures = json.loads(listed.stdout)["failures"]
    assert [(f["id"], f["file"]) for f in failures] == [("plugin.checksum_mismatch",
                                                         str(extra / f"libeulerstack_{NAME}.so"))]
    assert NAME not in {p["name"] for p in json.loads(listed.stdout)["plugins"]}
