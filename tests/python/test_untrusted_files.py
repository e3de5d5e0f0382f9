"""Files from places eulerstack does not control (issue 18): a model directory, a bundle, a tokens
file. Each is checked before it is opened (a FIFO never blocks, a device is never read past its
bound) and read within a size limit; JSON from them is parsed linearly, a repeated key refused."""
import json
import os
import shutil
import subprocess

import pytest

from conftest import BUILD, EXE, clean_env

FIXTURES = BUILD / "tests" / "fixtures" / "plugins"
TIMEOUT = 60  # a FIFO that blocked would hang until this


def run(*args, env=None, timeout=TIMEOUT):
    return subprocess.run([str(EXE), *map(str, args)], capture_output=True, text=True,
                          env=env or clean_env(), timeout=timeout)


def bundle_with_good_plugin(tmp_path):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    shutil.copy(FIXTURES / "good" / "libfixture_good.so", bundle)
    return bundle


# ------------------------------------------------------------------ bundle manifests


def test_a_fifo_as_bundle_manifest_is_refused_without_blocking(tmp_path):
    bundle = bundle_with_good_plugin(tmp_path)
    os.mkfifo(bundle / "bundle.json")
    r = run("--plugin-dir", bundle, "plugins", "--json")
    assert r.returncode == 3, r.stderr
    failures = json.loads(r.stdout)["failures"]
    assert failures and all("a FIFO, not a regular file" in f["message"] for f in failures), failures


def test_a_bundle_manifest_over_its_limit_is_refused_unread(tmp_path):
    bundle = bundle_with_good_plugin(tmp_path)
    (bundle / "bundle.json").write_text('{"format": 1, "pad": "' + "x" * (2 << 20) + '"}')
    r = run("--plugin-dir", bundle, "plugins", "--json")
    assert r.returncode == 3, r.stderr
    [failure] = json.loads(r.stdout)["failures"]
    assert "over the limit of 1048576" in failure["message"], failure


def test_a_key_twice_in_a_bundle_manifest_is_refused(tmp_path):
    bundle = bundle_with_good_plugin(tmp_path)
    (bundle / "bundle.json").write_text('{"format": 1, "name": "a", "name": "b", "version": "1", "plugins": []}')
    r = run("--plugin-dir", bundle, "plugins", "--json")
    assert r.returncode == 3, r.stderr
    [failure] = json.loads(r.stdout)["failures"]
    assert failure["id"] == "bundle.bad_manifest" and "the key 'name' appears twice" in failure["message"], failure


def test_a_manifest_with_many_keys_still_reads(tmp_path):
    # 80,000 keys once cost seconds per command (a quadratic insert); bench/ measures the time.
    bundle = bundle_with_good_plugin(tmp_path)
    extra = ",".join(f'"{i}":0' for i in range(80_000))  # 0.7 MB, within the 1 MiB limit
    (bundle / "bundle.json").write_text('{"format": 1, "name": "b", "version": "1", "plugins": [], ' + extra + "}")
    r = run("--plugin-dir", bundle, "plugins", "--json")
    assert r.returncode == 3, r.stderr  # the library is not in the (empty) plugin list
    [failure] = json.loads(r.stdout)["failures"]
    assert failure["id"] == "plugin.not_in_manifest", failure


# ------------------------------------------------------------------ the tokens file


def test_a_tokens_file_from_an_endless_device_is_refused_at_its_limit():
    r = run("run", "--preset", "gpt2_style_mini", "--tokens-file", "/dev/zero", timeout=120)
    assert r.returncode == 4, r.stderr
    assert "/dev/zero is more than 67108864 bytes, over the limit of 67108864" in r.stderr


def test_a_tokens_file_over_its_limit_is_refused_unread(tmp_path):
    big = tmp_path / "tokens.txt"
    with open(big, "wb") as f:
        f.truncate((64 << 20) + 1)
    r = run("run", "--preset", "gpt2_style_mini", "--tokens-file", big, timeout=120)
    assert r.returncode == 4, r.stderr
    assert f"{big} is 67108865 bytes, over the limit of 67108864; it was not read" in r.stderr


def test_a_tokens_file_may_be_a_pipe(tmp_path):
    r = subprocess.run(f"'{EXE}' run --preset gpt2_style_mini --tokens-file <(echo 1 2 3)", shell=True,
                       executable="/bin/bash", capture_output=True, text=True, env=clean_env(), timeout=120)
    assert r.returncode == 0, r.stderr
    assert "row 0" in r.stdout


# ------------------------------------------------------------------ model directories


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("exported") / "model"
    r = run("compile", "--preset", "gpt2_style_mini", "--output-dir", out, timeout=300)
    assert r.returncode == 0, r.stderr
    return out


def copy_with_fifo(exported, tmp_path, name):
    model = tmp_path / "model"
    shutil.copytree(exported, model)
    (model / name).unlink(missing_ok=True)
    os.mkfifo(model / name)
    return model


@pytest.mark.parametrize("name", ["model.safetensors", "config.json"])
def test_a_fifo_in_a_model_directory_is_refused_without_blocking(exported, tmp_path, name):
    model = copy_with_fifo(exported, tmp_path, name)
    r = run("run", "--model", model, "--tokens", "1 2 3")
    assert r.returncode == 4, r.stderr
    assert f"{model / name} is a FIFO, not a regular file; it was not opened" in r.stderr


def test_a_fifo_as_weight_index_or_shard_is_refused_without_blocking(exported, tmp_path):
    model = copy_with_fifo(exported, tmp_path, "model.safetensors.index.json")
    r = run("run", "--model", model, "--tokens", "1 2 3")
    assert r.returncode == 4 and "is a FIFO, not a regular file" in r.stderr, r.stderr
    (model / "model.safetensors.index.json").unlink()
    (model / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"x": "shard.safetensors"}}))
    os.mkfifo(model / "shard.safetensors")
    r = run("run", "--model", model, "--tokens", "1 2 3")
    assert r.returncode == 4, r.stderr
    assert f"{model / 'shard.safetensors'} is a FIFO, not a regular file" in r.stderr


def test_a_safetensors_header_with_a_name_twice_is_refused(exported, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(exported, model)
    weights = model / "model.safetensors"
    data = weights.read_bytes()
    length = int.from_bytes(data[:8], "little")
    header = data[8:8 + length].decode().rstrip()
    first = json.loads(header)
    name = next(k for k in first if k != "__metadata__")
    twice = header[:-1] + ", " + json.dumps(name) + ": " + json.dumps(first[name]) + "}"
    twice += " " * ((8 - len(twice) % 8) % 8)
    weights.write_bytes(len(twice).to_bytes(8, "little") + twice.encode() + data[8 + length:])
    r = run("run", "--model", model, "--tokens", "1 2 3")
    assert r.returncode == 4, r.stderr
    assert f"the key '{name}' appears twice in one object" in r.stderr


# ------------------------------------------------------------------ check then use


SWAP_SPEC = """\
schema_version: 1
model: {name: swapped, d_model: 64, vocab_size: 32, max_seq_len: 64, n_heads: 2}
tokenizer_contract: {type: hf, pretrained: google/byt5-small}
embedding: {type: learned, positional: none}
layer_templates:
  block:
    mixer: {type: swapping_mixer}
    ffn: {type: gated_mlp}
layer_schedule:
  - {template: block, repeat: 1}
head: {type: causal_lm, tie_weights: true}
"""


def test_a_module_library_swapped_after_the_bundle_check_never_runs(cli, tmp_path):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    shutil.copy(FIXTURES / "swapping" / "libfixture_swapping.so", bundle)
    shutil.copy(FIXTURES / "faulty" / "libfixture_faulty.modules.so", bundle / "libfixture_swapping.modules.so")
    (bundle / "eulerstack_swapping.py").write_text("def register(registry):\n    pass\n")
    r = cli("plugins", "manifest", bundle, "--name", "swap", "--version", "1")
    assert r.returncode == 0, r.stderr
    # The fixture renames this over its module library while it registers, after the start-up check.
    shutil.copy(FIXTURES / "initializer_marker" / "libfixture_initializer_marker.so", bundle / "replacement.bin")
    marker = tmp_path / "marker"
    spec = tmp_path / "spec.yml"
    spec.write_text(SWAP_SPEC)
    r = cli("--plugin-dir", bundle, "run", spec, "--tokens", "1 2 3", env=clean_env(EULERSTACK_TEST_MARKER=marker))
    assert not (bundle / "replacement.bin").exists(), "the fixture did not swap"
    assert r.returncode == 3, r.stderr
    assert f"{bundle / 'libfixture_swapping.modules.so'} does not match its bundle manifest" in r.stderr
    assert not marker.exists(), "the swapped library ran its initialisers"


def test_a_fifo_among_the_presets_does_not_block_the_listing(tmp_path):
    os.mkfifo(tmp_path / "trap.yml")
    r = run("presets", "list", "--json", env=clean_env(EULERSTACK_PRESET_PATH=tmp_path))
    assert r.returncode == 0, r.stderr
    assert "trap" in [p["name"] for p in json.loads(r.stdout)]


@pytest.mark.parametrize("fields, reason", [
    ('"format": 1.2e64', "'format' must be 1"),  # once a float-to-int conversion out of range (fuzz_bundle_manifest)
    ('"format": 1, "description": 5', "'description' must be a string"),  # once an internal error, exit 5
])
def test_a_manifest_field_of_the_wrong_type_is_a_bad_manifest(tmp_path, fields, reason):
    bundle = bundle_with_good_plugin(tmp_path)
    (bundle / "bundle.json").write_text('{' + fields + ', "name": "b", "version": "1", "plugins": []}')
    r = run("--plugin-dir", bundle, "plugins", "--json")
    assert r.returncode == 3, r.stderr
    [failure] = json.loads(r.stdout)["failures"]
    assert failure["id"] == "bundle.bad_manifest" and reason in failure["message"], failure
