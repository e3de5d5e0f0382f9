"""The benchmark suite works end to end at tiny sizes (times are not checked:
benchmarks never assert speed; docs/BENCHMARKS.md is made by scripts/bench)."""
import json
import subprocess
import sys

from PIL import Image

from conftest import ROOT, clean_env


def test_bench_smoke_produces_every_section(tmp_path):
    report = tmp_path / "BENCH.md"
    env = clean_env()
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", "--output", str(report)],
                       capture_output=True, text=True, env=env, timeout=1800, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    text = report.read_text()
    for section in ("## Goals", "## validate and explain", "## compile --output-dir", "## Runtime: prefill",
                    "## Mamba2 prefill memory", "## Scaling with length", "Smoke run"):
        assert section in text, section
    plots = sorted(p.name for p in (tmp_path / "bench-plots").iterdir())
    assert plots == ["compile-vs-floor.png", "scaling.png", "time-vs-floor.png"]
    for name in plots:
        assert f"](bench-plots/{name})" in text
        with Image.open(tmp_path / "bench-plots" / name) as image:
            assert image.format == "PNG" and image.size[0] > 400 and image.size[1] > 200
    results = json.loads((tmp_path / "BENCH.json").read_text())
    families = {row["family"] for row in results["speed"]}
    assert families == {"llama", "mistral", "mixtral", "mamba2", "jamba"}
    for row in results["speed"]:
        assert set(row["seconds"]) == {"eulerstack (C++)", "eulerstack export in transformers",
                                       f"transformers {row['family']}"}
        assert all(v > 0 for v in row["seconds"].values())
    # the report is rewritten from the saved figures alone, identically
    report.write_text("")
    again = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--report-only", "--output", str(report)],
                           capture_output=True, text=True, env=env, timeout=120, cwd=ROOT)
    assert again.returncode == 0, again.stderr[-3000:]
    assert report.read_text() == text
    assert sorted(p.name for p in (tmp_path / "bench-plots").iterdir()) == plots
