"""Faults while `compile` writes: `--output FILE` (JSON) and `--output-dir DIR` (HF export).

A write that fails (here: a file-size limit, `ulimit -f`, which fails writes like a full disk), a
stop signal mid-write, a symbolic link or a missing parent: exit 4 with a clear message, no
temporary file or directory left, an existing output untouched. What is written gets the modes a
plain create would give it (the umask applies).
"""
import os
import resource
import signal
import stat
import subprocess
import time

import pytest

from conftest import EXE, clean_env


def compile_(*args, fsize=None, umask=None):
    def limits():
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        if umask is not None:
            os.umask(umask)
    return subprocess.run([str(EXE), "compile", *map(str, args)], capture_output=True, text=True, env=clean_env(),
                          timeout=300, preexec_fn=limits)


def listing(path):
    return sorted(p.name for p in path.iterdir())


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


# ------------------------------------------------------------------ --output FILE


def test_json_over_a_file_size_limit_fails_and_keeps_the_old_file(tmp_path):
    target = tmp_path / "ir.json"
    target.write_text("old")
    r = compile_("--preset", "gpt2_style_mini", "--output", target, fsize=1000)
    assert r.returncode == 4, r.stderr
    assert f"IOError: cannot write {target}: File too large" in r.stderr
    assert target.read_text() == "old"
    assert listing(tmp_path) == ["ir.json"]  # no temporary file left


@pytest.mark.parametrize("umask, expected", [(0o022, 0o644), (0o077, 0o600)])
def test_a_new_json_file_gets_the_umask_mode(tmp_path, umask, expected):
    target = tmp_path / "ir.json"
    assert compile_("--preset", "gpt2_style_mini", "--output", target, umask=umask).returncode == 0
    assert mode(target) == expected


def test_a_replaced_json_file_keeps_its_mode(tmp_path):
    target = tmp_path / "ir.json"
    target.write_text("old")
    target.chmod(0o640)
    assert compile_("--preset", "gpt2_style_mini", "--output", target).returncode == 0
    assert mode(target) == 0o640 and target.read_text().startswith("{")


def test_json_through_a_symbolic_link_is_refused(tmp_path):
    real = tmp_path / "real.json"
    real.write_text("theirs")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    r = compile_("--preset", "gpt2_style_mini", "--output", link)
    assert r.returncode == 4
    assert f"cannot write {link}: it is a symbolic link; name the file itself" in r.stderr
    assert real.read_text() == "theirs" and link.is_symlink()


def test_json_into_a_path_under_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    r = compile_("--preset", "gpt2_style_mini", "--output", tmp_path / "file" / "ir.json")
    assert r.returncode == 4 and "cannot write" in r.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_json_into_a_read_only_directory_is_refused(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    r = compile_("--preset", "gpt2_style_mini", "--output", ro / "ir.json")
    assert r.returncode == 4 and "Permission denied" in r.stderr
    assert listing(ro) == []


# ------------------------------------------------------------------ --output-dir DIR


@pytest.mark.parametrize("umask, expected", [(0o022, 0o755), (0o027, 0o750)])
def test_the_export_directory_gets_the_umask_mode(tmp_path, umask, expected):
    target = tmp_path / "model"
    r = compile_("--preset", "gpt2_style_mini", "--output-dir", target, umask=umask)
    assert r.returncode == 0, r.stderr
    assert mode(target) == expected  # not the 0700 of the staging directory
    assert mode(target / "config.json") == expected & 0o666


def test_an_export_over_a_file_size_limit_fails_and_keeps_the_old_directory(tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "mine.txt").write_text("mine")
    r = compile_("--preset", "gpt2_style_mini", "--output-dir", target, "--force", fsize=200_000)
    assert r.returncode == 4, r.stderr
    assert "model.safetensors: File too large" in r.stderr
    assert listing(tmp_path) == ["model"] and listing(target) == ["mine.txt"]


def test_an_export_to_a_symbolic_link_is_refused(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (real / "mine.txt").write_text("mine")
    link = tmp_path / "link"
    link.symlink_to(real)
    r = compile_("--preset", "gpt2_style_mini", "--output-dir", link, "--force")
    assert r.returncode == 4
    assert "it is a symbolic link; name the directory itself" in r.stderr
    assert link.is_symlink() and listing(real) == ["mine.txt"]
    assert listing(tmp_path) == ["link", "real"]


def test_an_export_under_a_missing_parent_is_refused(tmp_path):
    r = compile_("--preset", "gpt2_style_mini", "--output-dir", tmp_path / "no" / "model")
    assert r.returncode == 4 and "does not exist" in r.stderr
    assert listing(tmp_path) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_stop_signal_mid_export_keeps_the_old_directory(tmp_path, sig):
    target = tmp_path / "big"
    target.mkdir()
    (target / "mine.txt").write_text("mine")
    proc = subprocess.Popen([str(EXE), "compile", "--preset", "arch_expert_research", "--output-dir", str(target),
                             "--force"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env())
    deadline = time.time() + 120
    weights = []
    while time.time() < deadline and not weights:  # wait until the weights are being written
        weights = [p for p in tmp_path.glob(".big.partial-*/model*.safetensors") if p.stat().st_size > 0]
        time.sleep(0.05)
    assert weights, "the export never started writing weights"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 4, err
    assert "interrupted: nothing was written" in err
    assert listing(tmp_path) == ["big"] and listing(target) == ["mine.txt"]
