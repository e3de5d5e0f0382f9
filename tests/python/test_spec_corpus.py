"""The spec corpus: one small YAML file per validation rule, under tests/specs/ for core's rules and
under <plugin folder>/tests/specs/ for each built-in plugin's cross-field and realism checks.

Every file is the minimal valid spec of test_cli_spec.py (valid/base.yml) changed in one place (a
block rule may need the block selected too; the rule line says so). Its header says what
`eulerstack validate FILE --json` must report (locations count the header lines):

    # expect: <Category> <message-id> <line>:<column>     one line per diagnostic (0:0: no location, null in JSON)
    # rule: <the rule, in words>
    # xfail: <why the validator does not do this yet>      optional: a known validator bug

invalid/   exit 1; the errors (and warnings) are exactly the expected ones
warnings/  exit 0; no errors; the warnings are exactly the expected ones
valid/     exit 0; no errors, no warnings (controls and upstream-compatibility cases)

Diagnostics are compared as multisets of (category, id, line, column), so a rule reported twice at
the same place is caught.
"""
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from conftest import BUILTIN, EXE, ROOT, clean_env, run_capped

SPECS = ROOT / "tests" / "specs"
PLUGIN_SPECS = [ROOT / p["folder"] / "tests" / "specs" for p in BUILTIN["plugins"]]
CATALOG = ROOT / "core" / "i18n" / "en"
PLUGIN_CATALOGS = [ROOT / p["folder"] / "i18n" / "en.json" for p in BUILTIN["plugins"]
                   if (ROOT / p["folder"] / "i18n" / "en.json").is_file()]
WARNING_CATEGORIES = ("RealismWarning", "ValidationWarning")
EXPECT = re.compile(r"^# expect: (\w+) ([\w.]+) (\d+):(\d+)$")

# Message ids (spec.*, expr.*, realism.*) that no corpus file and no generated test below exercises.
# Each needs a reason. Prefer generating the input in a test over adding an id here.
NOT_FROM_A_SPEC_FILE: dict[str, str] = {}

# Ids that the generated tests below cover (inputs too big or too odd for a corpus file).
GENERATED = {
    "spec.too_large": "test_too_large_is_refused_before_parsing (an 8 MiB + 1 byte file)",
    "spec.scalar_too_long": "test_hostile_yaml.py::test_a_value_over_the_length_limit_is_refused (a 4 KiB value)",
    "spec.too_large_expanded": "test_hostile_yaml.py::test_aliases_of_a_long_value_are_refused_by_their_bytes",
}

VALID = (SPECS / "valid" / "base.yml").read_text().split("\n", 1)[1]  # without its '# rule:' line


class Case:
    def __init__(self, path: Path):
        self.path = path
        self.kind = path.parent.name
        self.expected: Counter = Counter()
        self.rule = None
        self.xfail = None
        for raw in path.read_bytes().split(b"\n"):
            if not raw.startswith(b"#"):
                break
            line = raw.decode("utf-8", "replace")
            if m := EXPECT.match(line):
                self.expected[(m[1], m[2], int(m[3]), int(m[4]))] += 1
            elif line.startswith("# rule: "):
                self.rule = line[len("# rule: "):]
            elif line.startswith("# xfail: "):
                self.xfail = line[len("# xfail: "):]
            else:
                raise AssertionError(f"{path}: unexpected header line {line!r}")

    def split(self):
        errors = Counter({k: n for k, n in self.expected.items() if k[0] not in WARNING_CATEGORIES})
        warnings = Counter({k: n for k, n in self.expected.items() if k[0] in WARNING_CATEGORIES})
        return errors, warnings


def all_cases():
    return [Case(p) for kind in ("invalid", "warnings", "valid") for root in [SPECS, *PLUGIN_SPECS]
            for p in sorted((root / kind).glob("*.yml"))]


CASES = all_cases()


def case_params(kind):
    out = []
    for c in CASES:
        if c.kind != kind:
            continue
        marks = [pytest.mark.xfail(strict=True, reason=c.xfail)] if c.xfail else []
        out.append(pytest.param(c, id=c.path.stem, marks=marks))
    return out


# ------------------------------------------------------------------ reading diagnostics


def _message_patterns():
    patterns = []
    for catalog in [*sorted(CATALOG.glob("*.json")), *PLUGIN_CATALOGS]:
        for ident, entry in json.loads(catalog.read_text()).items():
            msg = entry.get("msg", "")
            if re.fullmatch(r"(\{\w+\})*", msg):
                continue  # matches anything: never the message of a spec diagnostic
            # fmt syntax: {name} is an argument, {{ and }} are literal braces.
            parts = re.split(r"(\{\{|\}\}|\{\w+\})", msg)
            regex = "".join(".*?" if re.fullmatch(r"\{\w+\}", part) else re.escape(part[0] if part in ("{{", "}}") else part)
                            for part in parts)
            literal = sum(1 if part in ("{{", "}}") else len(part) for part in parts if not re.fullmatch(r"\{\w+\}", part))
            patterns.append((ident, literal, re.compile(regex + r"\Z", re.S)))
    return patterns


PATTERNS = _message_patterns()


def _id_of(message):
    """The id whose message template matches, the most specific (most literal text) when several do."""
    matches = sorted(((literal, ident) for ident, literal, regex in PATTERNS if regex.match(message)), reverse=True)
    assert matches, f"no message template matches {message!r}"
    assert len(matches) == 1 or matches[0][0] > matches[1][0], f"ambiguous message {message!r}: {matches}"
    return matches[0][1]


def _from_stderr(path, stderr):
    """Errors thrown while loading the file (YAML, UTF-8, limits) are printed as text even with --json."""
    prefix = str(path)
    head = re.compile(r"(?::(\d+))?(?::(\d+))?: (\w+): (.*)")
    found = []
    for line in stderr.splitlines():
        if not line.startswith(prefix):
            continue
        m = head.fullmatch(line[len(prefix):])
        assert m, line
        found.append((m[3], _id_of(m[4]), int(m[1] or 0), int(m[2] or 0)))
    return Counter(found), Counter()


def diagnostics(cli, path):
    result = cli("validate", path, "--json")
    if not result.stdout.strip():
        errors, warnings = _from_stderr(path, result.stderr)
        return result.returncode, errors, warnings, result.stderr
    report = json.loads(result.stdout)
    key = lambda d: (d["category"], d["id"], d["line"] or 0, d["column"] or 0)  # noqa: E731  (null: no location)
    errors = Counter(key(d) for d in report["errors"])
    warnings = Counter(key(d) for d in report["warnings"])
    assert report["valid"] is (not errors)
    return result.returncode, errors, warnings, result.stdout


# ------------------------------------------------------------------ the corpus


@pytest.mark.parametrize("case", case_params("invalid"))
def test_invalid_spec(cli, case):
    code, errors, warnings, output = diagnostics(cli, case.path)
    expected_errors, expected_warnings = case.split()
    assert expected_errors, f"{case.path}: an invalid/ file must expect at least one error"
    assert (errors, warnings) == (expected_errors, expected_warnings), output
    assert code == 1, output


@pytest.mark.parametrize("case", case_params("warnings"))
def test_warning_spec(cli, case):
    code, errors, warnings, output = diagnostics(cli, case.path)
    expected_errors, expected_warnings = case.split()
    assert not expected_errors and expected_warnings, f"{case.path}: a warnings/ file expects warnings only"
    assert (errors, warnings) == (Counter(), expected_warnings), output
    assert code == 0, output


@pytest.mark.parametrize("case", case_params("valid"))
def test_valid_spec(cli, case):
    code, errors, warnings, output = diagnostics(cli, case.path)
    assert not case.expected
    assert (errors, warnings) == (Counter(), Counter()), output
    assert code == 0, output


def test_every_file_states_its_rule():
    assert len(CASES) > 100
    for case in CASES:
        assert case.rule, f"{case.path}: missing '# rule:' line"


def test_every_message_id_is_exercised():
    ids = set()
    for catalog in ("spec.json", "expr.json"):
        ids |= {i for i in json.loads((CATALOG / catalog).read_text())
                if i.startswith(("spec.", "expr.", "realism."))}
    for catalog in PLUGIN_CATALOGS:  # every plugin finding has a case in its folder
        ids |= set(json.loads(catalog.read_text()))
    covered = {ident for c in CASES if not c.xfail for (_, ident, _, _) in c.expected}
    missing = ids - covered - set(GENERATED) - set(NOT_FROM_A_SPEC_FILE)
    assert not missing, f"no corpus file expects: {sorted(missing)}"
    stale = (set(GENERATED) | set(NOT_FROM_A_SPEC_FILE)) - ids
    assert not stale, f"listed but not in the catalog: {sorted(stale)}"


def test_registry_unknown_block_is_exercised_for_every_kind():
    kinds = set()
    for c in CASES:
        if not c.xfail and any(ident == "registry.unknown_block" for (_, ident, _, _) in c.expected):
            kinds.add(c.path.stem.split(".")[2].split("_")[0])
    assert kinds >= {"mixer", "ffn", "positional", "router"}


# ------------------------------------------------------------------ generated inputs


def test_too_large_is_refused_before_parsing(cli, tmp_path):
    limit = 8 << 20
    spec = tmp_path / "big.yml"
    spec.write_text(VALID + "#" * (limit - len(VALID.encode())) + "\n")  # limit + 1 bytes
    assert spec.stat().st_size == limit + 1
    code, errors, warnings, output = diagnostics(cli, spec)
    assert (code, errors, warnings) == (1, Counter({("ValidationError", "spec.too_large", 0, 0): 1}), Counter()), output


def test_a_spec_of_exactly_the_size_limit_is_read(cli, tmp_path):
    limit = 8 << 20
    spec = tmp_path / "limit.yml"
    spec.write_text(VALID + "#" * (limit - len(VALID.encode()) - 1) + "\n")
    assert spec.stat().st_size == limit
    code, errors, warnings, output = diagnostics(cli, spec)
    assert (code, errors, warnings) == (0, Counter(), Counter()), output


def test_root_not_mapping_without_header(cli, tmp_path):
    spec = tmp_path / "list.yml"
    spec.write_text("- a\n- b\n")
    code, errors, _, output = diagnostics(cli, spec)
    assert (code, errors) == (1, Counter({("ValidationError", "spec.root_not_mapping", 1, 1): 1})), output


def test_json_report_for_load_errors(cli):
    result = cli("validate", SPECS / "invalid" / "yaml_syntax.unclosed_flow_mapping.yml", "--json")
    report = json.loads(result.stdout)
    assert report["valid"] is False and report["errors"][0]["id"] == "spec.yaml_syntax"


@pytest.mark.parametrize("repeat", ["1000000000", "16385"])
def test_huge_repeat_is_refused_before_any_layer_is_built(tmp_path, repeat):
    spec = tmp_path / "huge.yml"
    spec.write_text(VALID.replace("repeat: 2", f"repeat: {repeat}"))
    result = run_capped([EXE, "validate", spec, "--json"], 1 << 30, 60, clean_env())
    assert result.returncode == 1, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert [(e["id"], e["message"]) for e in report["errors"]] == [
        ("spec.above_max", f"layer_schedule[0].repeat = {repeat} is above the maximum 16384")]


def test_the_largest_stack_is_built_within_bounds(tmp_path):
    spec = tmp_path / "deep.yml"
    spec.write_text(VALID.replace("repeat: 2", "repeat: 16384"))
    result = run_capped([EXE, "validate", spec, "--json"], 1 << 30, 60, clean_env())
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["valid"] is True
