"""Bounds and small refusals of the CLI (issue 18, "Smaller"): option values past any sense are
usage errors, not aborts or silent nonsense; a spec is one YAML document with any of YAML's line
breaks; an overflowing parameter count names its file."""
import json

import pytest

from conftest import ROOT
from test_spec_corpus import VALID


def write(tmp_path, text, name="spec.yml"):
    path = tmp_path / name
    path.write_bytes(text.encode())
    return path


@pytest.mark.parametrize("threads", ["100000000", "1025", "0"])
def test_threads_past_the_bound_are_a_usage_error(cli, threads):
    r = cli("run", "--preset", "gpt2_style_mini", "--tokens", "1 2", "--threads", threads)
    assert r.returncode == 2, r.stderr
    assert "--threads needs 1 <= N <= 1024" in r.stderr


@pytest.mark.parametrize("size", ["0.5", "0.9B", "1e300TB", "1e19"])
def test_a_shard_size_below_a_byte_or_past_the_count_is_a_usage_error(cli, tmp_path, size):
    r = cli("compile", "--preset", "gpt2_style_mini", "--output-dir", tmp_path / "m", "--max-shard-size", size)
    assert r.returncode == 2, r.stderr
    assert f"--max-shard-size '{size}' is not a size" in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_empty_output_dir_is_a_usage_error(cli, tmp_path):
    r = cli("compile", "--preset", "gpt2_style_mini", "--output-dir", "", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert "--output-dir needs a directory name" in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_second_yaml_document_is_refused(cli, tmp_path):
    lines = VALID.count("\n")
    r = cli("validate", write(tmp_path, VALID + "---\nmodel: {name: other}\n"), "--json")
    assert r.returncode == 1, r.stderr
    [error] = json.loads(r.stdout)["errors"]
    assert (error["id"], error["line"], error["column"]) == ("spec.multiple_documents", lines + 1, 1), error


def test_a_second_document_that_does_not_parse_is_refused_too(cli, tmp_path):
    r = cli("validate", write(tmp_path, VALID + "---\n[[[ not yaml\n"), "--json")
    assert r.returncode == 1, r.stderr
    assert [e["id"] for e in json.loads(r.stdout)["errors"]] == ["spec.multiple_documents"]


@pytest.mark.parametrize("newline", ["\r", "\r\n"], ids=["CR", "CRLF"])
def test_cr_and_crlf_line_breaks_are_line_breaks(cli, tmp_path, newline):
    r = cli("validate", write(tmp_path, VALID.replace("\n", newline)), "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    broken = VALID.replace("vocab_size: 256", "vocab_size: lots").replace("\n", newline)
    r = cli("validate", write(tmp_path, broken), "--json")
    [expected] = [i + 1 for i, line in enumerate(VALID.splitlines()) if "vocab_size" in line]
    assert json.loads(r.stdout)["errors"][0]["line"] == expected, r.stdout


def test_an_overflowing_parameter_count_names_its_file(cli):
    spec = ROOT / "tests" / "specs" / "invalid" / "param_overflow.yml"
    r = cli("validate", spec, "--json")
    assert r.returncode == 1
    [error] = json.loads(r.stdout)["errors"]
    assert (error["id"], error["file"], error["line"]) == ("spec.param_overflow", str(spec), None)
    r = cli("validate", spec)
    assert f"{spec}: ValidationError: the parameter count does not fit in 64 bits" in r.stderr
