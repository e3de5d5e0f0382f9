"""What the CLI promises about its output (issue 18, docs/CLI.md#what-is-never-deleted): output
that did not reach stdout is an I/O error; `--output` writes only regular files or new names, even
legal names of 240-255 bytes; JSON survives bytes that are not UTF-8; terminal escapes from
others' strings are printed as visible escapes."""
import json
import os
import shutil
import stat
import subprocess

import pytest

from conftest import BUILD, EXE, ROOT, clean_env

FIXTURES = BUILD / "tests" / "fixtures" / "plugins"


def run(*args, stdout=subprocess.PIPE, env=None, cwd=None):
    return subprocess.run([str(EXE), *map(str, args)], stdout=stdout, stderr=subprocess.PIPE,
                          env=env or clean_env(), timeout=120, cwd=cwd)


# ------------------------------------------------------------------ stdout


@pytest.mark.parametrize("args", [
    ["compile", "--preset", "gpt2_style_mini", "--print-config"],
    ["validate", "--preset", "gpt2_style_mini", "--json"],
    ["explain", "--preset", "gpt2_style_mini"],
    ["schema", "--json"],
    ["plugins", "--json"],
], ids=["print-config", "validate-json", "explain", "schema-json", "plugins-json"])
def test_output_onto_a_full_disk_is_an_io_error(args):
    with open("/dev/full", "wb") as full:
        r = run(*args, stdout=full)
    assert r.returncode == 4, r.stderr
    assert b"IOError: cannot write standard output: No space left on device" in r.stderr


# ------------------------------------------------------------------ --output FILE


def test_output_onto_a_fifo_is_refused_and_the_fifo_kept(tmp_path):
    fifo = tmp_path / "ir.json"
    os.mkfifo(fifo)
    r = run("compile", "--preset", "gpt2_style_mini", "--output", fifo)
    assert r.returncode == 4, r.stderr
    assert b"it is not a regular file" in r.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and sorted(os.listdir(tmp_path)) == ["ir.json"]


def test_output_onto_a_device_is_refused(tmp_path):
    # A node of our own, not /dev/null: a build without the check would replace it (as root: /dev/null itself).
    device = tmp_path / "null"
    try:
        os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("cannot create a device node here")
    r = run("compile", "--preset", "gpt2_style_mini", "--output", device)
    assert r.returncode == 4, r.stderr
    assert f"cannot write {device}: it is not a regular file".encode() in r.stderr
    assert stat.S_ISCHR(os.lstat(device).st_mode) and sorted(os.listdir(tmp_path)) == ["null"]


@pytest.mark.parametrize("length", [240, 250, 255])
def test_output_to_a_long_legal_name_is_written(tmp_path, length):
    target = tmp_path / ("n" * (length - 5) + ".json")
    r = run("compile", "--preset", "gpt2_style_mini", "--output", target)
    assert r.returncode == 0, r.stderr
    assert json.loads(target.read_text())["format"] == "eulerstack-ir"
    assert os.listdir(tmp_path) == [target.name]


# ------------------------------------------------------------------ odd bytes


def test_validate_json_survives_a_file_name_that_is_not_utf8(tmp_path):
    spec = os.path.join(os.fsencode(tmp_path), b"sp\xffec.yml")
    shutil.copy(ROOT / "presets" / "gpt2_style_mini.yml", spec)
    r = subprocess.run([os.fsencode(EXE), b"validate", spec, b"--json"], capture_output=True, env=clean_env(),
                       timeout=120)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["valid"] and report["file"].endswith("sp\ufffdec.yml")


def test_plugins_json_survives_a_path_and_a_plugin_that_are_not_utf8(tmp_path):
    odd = os.path.join(os.fsencode(tmp_path), b"pl\xffugins")
    os.mkdir(odd)
    shutil.copy(os.fsencode(FIXTURES / "escapes" / "libfixture_escapes.so"), os.path.join(odd, b"libfixture_escapes.so"))
    r = subprocess.run([os.fsencode(EXE), b"--plugin-dir", odd, b"plugins", b"--json"], capture_output=True,
                       env=clean_env(), timeout=120)
    assert r.returncode == 0, r.stderr
    listing = json.loads(r.stdout)
    [plugin] = [p for p in listing["plugins"] if p["name"].startswith("fixture_escapes")]
    assert plugin["version"] == "0.1.0\ufffd"
    assert "pl\ufffdugins" in plugin["file"]
    assert "\x1b" in plugin["description"]  # JSON keeps the string, escaped as \u001b in the document
    assert b"\x1b" not in r.stdout


def test_terminal_escapes_from_a_plugin_are_printed_visibly(tmp_path):
    shutil.copy(FIXTURES / "escapes" / "libfixture_escapes.so", tmp_path)
    r = run("--plugin-dir", tmp_path, "plugins")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert b"\x1b" not in out and b"\x07" not in out and b"\xc2\x9b" not in out and b"\xff" not in out
    assert b"fixture_escapes\\x1b[2J 0.1.0\\xff [fixtures]  \\x1b]0;owned\\x07 red: \\x1b[31mred\\x1b[0m, C1: \\u009b31m" in out


def test_terminal_escapes_in_a_file_name_are_printed_visibly(tmp_path):
    spec = tmp_path / "\x1b[2Jspec.yml"
    spec.write_text("schema_version: 1\n")
    r = run("validate", spec)
    assert r.returncode == 1
    assert b"\x1b" not in r.stderr and b"\\x1b[2Jspec.yml" in r.stderr
