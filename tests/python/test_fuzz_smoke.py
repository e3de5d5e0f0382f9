"""The smoke run of the libFuzzer targets (bench/fuzz): each is built with clang,
ASan and UBSan and runs briefly from its seeds without a finding. The long runs
are `bench/fuzz/run.sh 1800`; their findings became the regression tests in
test_hostile_yaml.py and the spec corpus."""
import os
import subprocess
import sys

from conftest import BUILD, ROOT

TARGETS = ("fuzz_spec", "fuzz_exported_ir", "fuzz_safetensors", "fuzz_bundle_manifest", "fuzz_tokens")


def test_each_fuzz_target_runs_clean_for_a_few_seconds(tmp_path):
    built = subprocess.run([str(ROOT / "bench" / "fuzz" / "build.sh"), str(BUILD)], capture_output=True, text=True,
                           timeout=1800)
    assert built.returncode == 0, built.stdout + built.stderr
    env = dict(os.environ, FUZZ_WORK=str(tmp_path), PYTHON=sys.executable)
    ran = subprocess.run([str(ROOT / "bench" / "fuzz" / "run.sh"), "10", *TARGETS], capture_output=True, text=True,
                         env=env, timeout=600)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    for target in TARGETS:
        assert "Done" in ran.stdout.split(f"== {target}")[1], ran.stdout  # libFuzzer's closing line
        assert not list((tmp_path / "findings" / target).iterdir()), ran.stdout
