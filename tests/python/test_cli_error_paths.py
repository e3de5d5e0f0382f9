"""Error paths of the CLI's inputs that no other test reaches: each gives its
own message and exit code and leaves nothing behind."""
import shutil
import subprocess

import pytest

from conftest import EXE, clean_env

TOKENS = ("--tokens", "1,2,3")


def test_no_spec_is_a_usage_error(cli):
    r = cli("validate")
    assert r.returncode == 2
    assert r.stderr.startswith("UsageError: no spec given"), r.stderr


def test_an_unknown_preset_is_a_usage_error(cli):
    r = cli("explain", "--preset", "no_such_preset")
    assert r.returncode == 2
    assert "'no_such_preset' is neither a file nor a bundled preset" in r.stderr


def test_a_directory_is_not_a_spec(cli, tmp_path):
    r = cli("validate", tmp_path)
    assert r.returncode == 4
    assert f"{tmp_path} is a directory, not a spec file" in r.stderr


@pytest.mark.parametrize("tokens,reason", [("1,x", "invalid token ids"), ("1,999999", "invalid token ids")])
def test_bad_token_ids_are_refused_before_the_model_runs(cli, tokens, reason):
    r = cli("run", "--preset", "gpt2_style_mini", "--tokens", tokens)
    assert r.returncode == 2
    assert reason in r.stderr and r.stdout == ""


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Two exports of different mini presets."""
    root = tmp_path_factory.mktemp("exports")
    for preset in ("gpt2_style_mini", "llama_style_mini"):
        subprocess.run([str(EXE), "compile", "--preset", preset, "--output-dir", str(root / preset)],
                       check=True, capture_output=True, env=clean_env())
    return root


def test_a_model_directory_without_weights_cannot_be_read(cli, exported, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(exported / "gpt2_style_mini", model)
    (model / "model.safetensors").unlink()
    r = cli("run", "--model", model, *TOKENS)
    assert r.returncode == 4
    assert f"cannot read {model / 'model.safetensors'}" in r.stderr


def test_weights_of_another_model_do_not_fit(cli, exported, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(exported / "gpt2_style_mini", model)
    shutil.copy(exported / "llama_style_mini" / "model.safetensors", model / "model.safetensors")
    r = cli("run", "--model", model, *TOKENS)
    assert r.returncode != 0
    assert f"the weights in {model / 'model.safetensors'} do not fit the model" in r.stderr, r.stderr


def test_without_its_libtorch_library_only_the_torch_commands_fail(tmp_path):
    """An executable copied away from libeulerstack_cli_torch.so still validates;
    `run` says which library it looked for (exit 5)."""
    (tmp_path / "bin").mkdir()
    exe = tmp_path / "bin" / "eulerstack"
    shutil.copy(EXE, exe)
    env = clean_env(LD_LIBRARY_PATH=EXE.parent.parent / "core" / "torch_free")
    plugins = ("--plugin-dir", EXE.parent.parent / "plugins")
    run = lambda *args: subprocess.run([str(exe), *map(str, args), *plugins], capture_output=True, text=True, env=env)
    assert run("validate", "--preset", "gpt2_style_mini").returncode == 0
    r = run("run", "--preset", "gpt2_style_mini", "--tokens", "1")
    assert r.returncode == 5
    assert r.stderr.startswith("InternalError: the LibTorch part of eulerstack (") and "libeulerstack_cli_torch.so" in r.stderr
