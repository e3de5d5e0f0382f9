#!/usr/bin/env python3
"""Run meson's test suites and pytest; print one combined 'N passed, N failed' line.

doctest suites are counted by test case (from their summary line), other meson
tests and pytest by test. EULERSTACK_BUILD names another build directory
(scripts/sanitize runs everything against build-asan/).
"""
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.abspath(os.environ.get("EULERSTACK_BUILD", os.path.join(ROOT, "build")))
VENV_BIN = os.path.join(ROOT, ".venv", "bin")
DOCTEST_SUMMARY = re.compile(r"\[doctest\] test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed")


def run_meson():
    subprocess.run([os.path.join(VENV_BIN, "meson"), "test", "-C", BUILD, "--print-errorlogs", "--num-processes", "2"],
                   cwd=ROOT)
    passed = failed = 0
    with open(os.path.join(BUILD, "meson-logs", "testlog.json"), encoding="utf-8") as log:
        for line in log:
            record = json.loads(line)
            ok = record.get("result") in ("OK", "EXPECTEDFAIL", "SKIP")
            summary = DOCTEST_SUMMARY.search(record.get("stdout") or "")
            if summary:
                passed += int(summary.group(2))
                failed += int(summary.group(3))
                if not ok and int(summary.group(3)) == 0:
                    failed += 1  # crashed after its summary
            elif record.get("result") != "SKIP":
                passed += ok
                failed += not ok
    return passed, failed


def plugin_test_folders():
    """Each built-in plugin's tests/ folder (build/plugins/builtin_plugins.json, the one list)."""
    with open(os.path.join(BUILD, "plugins", "builtin_plugins.json"), encoding="utf-8") as f:
        folders = [os.path.join(p["folder"], "tests") for p in json.load(f)["plugins"]]
    return [f for f in folders if any(n.endswith(".py") for n in os.listdir(os.path.join(ROOT, f)))]


def run_pytest():
    report = os.path.join(BUILD, "pytest-report.xml")
    if os.path.exists(report):
        os.remove(report)
    env = dict(os.environ, EULERSTACK_BUILD=BUILD)
    code = subprocess.run([os.path.join(VENV_BIN, "python"), "-m", "pytest", "-q", "tests/python", *plugin_test_folders(),
                           f"--junitxml={report}"], cwd=ROOT, env=env).returncode
    if not os.path.exists(report):
        return 0, 1  # pytest itself failed to run
    suite = ET.parse(report).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    total, failures, errors, skipped = (int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped"))
    failed = failures + errors
    if code not in (0, 1) and failed == 0:
        failed = 1  # collection or internal error
    return total - failed - skipped, failed


def main():
    meson_passed, meson_failed = run_meson()
    py_passed, py_failed = run_pytest()
    passed, failed = meson_passed + py_passed, meson_failed + py_failed
    print(f"\nmeson: {meson_passed} passed, {meson_failed} failed; pytest: {py_passed} passed, {py_failed} failed")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed or passed == 0 else 0)


if __name__ == "__main__":
    main()
