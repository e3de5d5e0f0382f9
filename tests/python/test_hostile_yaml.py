"""Hostile spec files: each is refused with a located error, in bounded time and memory.

The inputs are generated (too big or too odd for the corpus). Every run is capped at 1 GiB of
address space and a wall-clock bound; a crash, a hang or an allocation failure fails the test.
"""
import json
import subprocess
import time

import pytest

from conftest import EXE, clean_env, run_capped
from test_spec_corpus import VALID, _from_stderr

MEMORY = 1 << 30
SECONDS = 20


def validate(path):
    """(exit code, [(id, line, column)], stderr, seconds) of `validate --json` under the caps."""
    start = time.monotonic()
    result = run_capped([EXE, "validate", path, "--json"], MEMORY, SECONDS * 3, clean_env())
    seconds = time.monotonic() - start
    assert result.returncode in (0, 1), f"exit {result.returncode}: {result.stderr[-2000:]}"
    if result.stdout.strip():
        found = [(d["id"], d["line"], d["column"]) for d in json.loads(result.stdout)["errors"]]
    else:
        errors, _ = _from_stderr(path, result.stderr)  # load errors are printed as text even with --json
        found = [(ident, line, column) for (_, ident, line, column) in errors.elements()]
    return result.returncode, found, result.stderr, seconds


def write(tmp_path, text, name="spec.yml"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


LAST = len(VALID.splitlines()) + 1  # the first line after the valid spec


# ------------------------------------------------------------------ size and expansion


def test_a_flow_list_filling_the_size_limit_is_refused_quickly(tmp_path):
    # 8 MiB of "1," would be 4 million nodes: the streaming pass stops at the node limit.
    items = ((8 << 20) - len(VALID) - 64) // 2
    spec = write(tmp_path, VALID + "experimental.l: [" + ",".join(["1"] * items) + "]\n")
    code, found, stderr, seconds = validate(spec)
    assert code == 1 and [i for i, _, _ in found] == ["spec.too_many_nodes"], stderr
    assert seconds < SECONDS


def test_a_billion_laughs_is_refused_at_the_alias_that_crosses_the_limit(tmp_path):
    lines = ["experimental.lol:", "  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 10):
        lines.append(f"  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]")
    code, found, stderr, seconds = validate(write(tmp_path, VALID + "\n".join(lines) + "\n"))
    assert code == 1, stderr
    assert found == [("spec.too_many_nodes", LAST + 6, 12)], stderr  # l5's first *l4: 111,111 more nodes
    assert seconds < SECONDS


def test_aliases_of_a_long_value_are_refused_by_their_bytes(tmp_path):
    value = "v" * 4000
    text = (VALID + f"experimental.s: &s {value}\n"
            + "experimental.t: &t [" + ", ".join(["*s"] * 1000) + "]\n"
            + "experimental.u: [" + ", ".join(["*t"] * 100) + "]\n")
    code, found, stderr, seconds = validate(write(tmp_path, text))
    assert code == 1 and [i for i, _, _ in found] == ["spec.too_large_expanded"], stderr
    assert found[0][1] == LAST + 2
    assert seconds < SECONDS


def test_long_keys_nested_deep_are_refused_by_the_paths_they_make(tmp_path):
    # Every value records its path: 40 keys of 1000 bytes above 30,000 items is 1.2 GB of paths.
    lines = ["experimental.p:"]
    lines += ["  " * (i + 1) + f"k{i:02d}" + "x" * 1000 + ":" for i in range(40)]
    lines.append("  " * 41 + "[" + ",".join(["1"] * 30000) + "]")
    code, found, stderr, seconds = validate(write(tmp_path, VALID + "\n".join(lines) + "\n"))
    assert code == 1 and [i for i, _, _ in found] == ["spec.too_large_expanded"], stderr
    assert seconds < SECONDS


def test_a_value_over_the_length_limit_is_refused(tmp_path):
    code, found, stderr, _ = validate(write(tmp_path, VALID.replace("name: tiny", "name: " + "n" * 4097)))
    assert (code, found) == (1, [("spec.scalar_too_long", 2, 15)]), stderr
    code, found, stderr, _ = validate(write(tmp_path, VALID.replace("name: tiny", "name: " + "n" * 4096)))
    assert (code, found) == (0, []), stderr


@pytest.mark.parametrize("scalar", ["1" * 50000, "1." + "1" * 50000, "0x" + "f" * 50000])
def test_a_very_long_number_is_an_error_not_a_crash(tmp_path, scalar):
    # Number recognition once recursed per digit and overflowed the stack (SIGSEGV) at ~50,000 digits.
    code, found, stderr, _ = validate(write(tmp_path, VALID.replace("vocab_size: 256", "vocab_size: " + scalar)))
    assert (code, [i for i, _, _ in found]) == (1, ["spec.scalar_too_long"]), stderr


def test_a_device_is_read_only_up_to_the_size_limit(cli):
    result = cli("validate", "/dev/zero")
    assert result.returncode == 1
    assert "ValidationError: the spec is 8388609 bytes, over the limit of 8388608" in result.stderr


# ------------------------------------------------------------------ nesting


def test_nesting_far_beyond_the_limit_names_the_limit(tmp_path):
    # yaml-cpp's own guard (depth 500) calls this "bad file"; the streaming pass stops at 64 first.
    code, found, stderr, _ = validate(write(tmp_path, VALID + "experimental.d: " + "[" * 200000 + "]" * 200000 + "\n"))
    assert (code, found) == (1, [("spec.too_deep", LAST, 81)]), stderr  # the 65th [


def test_deep_block_indentation_is_refused(tmp_path):
    text = VALID + "experimental.d:\n" + "".join(" " * (i + 1) + "a:\n" for i in range(3000)) + " " * 3001 + "b: 1\n"
    code, found, stderr, _ = validate(write(tmp_path, text))
    assert (code, [i for i, _, _ in found]) == (1, ["spec.too_deep"]), stderr


def test_an_alias_of_a_deep_node_used_deep_is_refused(tmp_path):
    # 40 levels anchored, used 30 levels down: 70 levels once expanded.
    anchored = "[" * 40 + "]" * 40
    used = "[" * 30 + "*deep" + "]" * 30
    code, found, stderr, _ = validate(write(tmp_path, VALID + f"experimental.a: &deep {anchored}\nexperimental.b: {used}\n"))
    assert (code, found) == (1, [("spec.too_deep", LAST + 1, 47)]), stderr


@pytest.mark.parametrize("text", ["experimental.r: &r [1, *r]\n", "experimental.r: &r {k: *r}\n"])
def test_an_alias_inside_its_own_anchor_is_refused(tmp_path, text):
    code, found, stderr, _ = validate(write(tmp_path, VALID + text))
    assert (code, [i for i, _, _ in found]) == (1, ["spec.too_deep"]), stderr


# ------------------------------------------------------------------ characters


@pytest.mark.parametrize("raw, code_point", [(b"\x00", "U+0000"), (b"\x07", "U+0007"), (b"\x7f", "U+007F"),
                                             (b"\xc2\x80", "U+0080"), (b"\xef\xbf\xbe", "U+FFFE")])
def test_control_characters_are_refused_with_their_code(tmp_path, raw, code_point):
    spec = write(tmp_path, VALID.encode().replace(b"name: tiny", b"name: ti" + raw + b"ny"))
    result = subprocess.run([str(EXE), "validate", str(spec)], capture_output=True, text=True, env=clean_env())
    assert result.returncode == 1
    assert f"{spec}:2:17: ValidationError: the spec contains the character {code_point}, which YAML does not allow" \
        in result.stderr


@pytest.mark.parametrize("raw", [b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82", b"\xff", b"\x80"],
                         ids=["overlong", "surrogate", "beyond_U+10FFFF", "truncated", "byte_ff", "lone_continuation"])
def test_invalid_utf8_is_refused_at_its_line_and_column(tmp_path, raw):
    spec = write(tmp_path, VALID.encode().replace(b"name: tiny", b"name: ti" + raw + b"ny"))
    code, found, stderr, _ = validate(spec)
    assert (code, found) == (1, [("spec.not_utf8", 2, 17)]), stderr


@pytest.mark.parametrize("transform", [lambda t: "\ufeff" + t, lambda t: t.replace("\n", "\r\n"),
                                       lambda t: t.replace("name: tiny", "name: \"t\u00e9\U0001F600\u00a0\"")],
                         ids=["bom", "crlf", "non_ascii"])
def test_printable_unicode_a_bom_and_crlf_are_accepted(tmp_path, transform):
    code, found, stderr, _ = validate(write(tmp_path, transform(VALID)))
    assert (code, found) == (0, []), stderr


def test_a_model_at_the_layer_limit_with_huge_dims_is_valid_in_bounded_time(tmp_path):
    """fuzz_spec's timeout finding: 16,384 layers of d_model 2^20 (7e18 parameters, still an exact
    int64 count). Every layer runs the block rules; the spec stays valid and the IR round trip of
    `run --model` holds, within the caps."""
    spec = write(tmp_path, VALID.replace("d_model: 64", "d_model: 1048576").replace("n_heads: 2", "n_heads: 16384")
                 .replace("repeat: 2", "repeat: 16384"))
    code, found, stderr, seconds = validate(spec)
    assert (code, found) == (0, []), stderr
    assert seconds < SECONDS
    explained = run_capped([EXE, "explain", spec], MEMORY, SECONDS * 3, clean_env())
    assert explained.returncode == 0, explained.stderr
    assert "Total layers: 16384" in explained.stdout
