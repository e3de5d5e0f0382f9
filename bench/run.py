#!/usr/bin/env python3
"""Runs every benchmark and writes docs/BENCHMARKS.md (and the raw figures
beside it as docs/benchmarks.json).

    scripts/bench            full run (about an hour on 2 cores)
    scripts/bench --smoke    tiny sizes, one run each: checks that every case works, measures nothing
    scripts/bench --report-only   rewrites the report from docs/benchmarks.json (after editing bench/notes.md)

Each figure is the median of several runs taken alternately from every
contender in this one invocation. Benchmarks never assert: missed goals are
reported, with the analysis kept in bench/notes.md."""
import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cases_cli  # noqa: E402
import cases_compile  # noqa: E402
import cases_runtime  # noqa: E402
import plots  # noqa: E402
import report  # noqa: E402
from workers import ROOT  # noqa: E402

SPECS = ROOT / "bench" / "specs"
UPSTREAM_EXE = ROOT / "bench" / ".venv" / "bin" / "eulerstack"
FAMILIES = ["llama", "mistral", "mixtral", "mamba2", "jamba"]
CLI_UPSTREAM_PRESETS = ["llama_style", "mistral_style", "mamba2_style", "jamba_style", "arch_expert_research"]

FULL = dict(repeats=3, cli_repeats=5, dtypes=["float32", "bfloat16"], threads=[1, 2], prefill=[512, 2048],
            decode=(128, 128), compile=[("arch_expert_research (1.49B, bf16)", ROOT / "presets" / "arch_expert_research.yml"),
                                        ("llama_7b (7.24B, bf16)", SPECS / "llama_7b.yml")],
            compile_repeats=2, memory_length=2048, scaling_prefill=[512, 1024, 2048, 4096, 8192],
            scaling_prompts=[512, 2048, 8192], scaling_steps=16)
SMOKE = dict(repeats=1, cli_repeats=1, dtypes=["float32"], threads=[1], prefill=[16], decode=(8, 2),
             compile=[("gpt2_style_mini", ROOT / "presets" / "gpt2_style_mini.yml")], compile_repeats=1,
             memory_length=16, scaling_prefill=[16, 32], scaling_prompts=[16, 32], scaling_steps=2)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one run each")
    parser.add_argument("--output", default=str(ROOT / "docs" / "BENCHMARKS.md"), help="report file")
    parser.add_argument("--only", choices=["cli", "compile", "runtime", "scaling"], action="append",
                        help="run only these cases (repeatable)")
    parser.add_argument("--report-only", action="store_true",
                        help="measure nothing: rewrite the report from the figures saved beside it")
    args = parser.parse_args()
    output = Path(args.output)
    figures = output.with_name("benchmarks.json" if output.name == "BENCHMARKS.md" else output.stem + ".json")
    if args.report_only:
        saved = json.loads(figures.read_text())
        plots.draw(saved, output)
        output.write_text(report.markdown(saved, saved["command"], plots.links(saved, output)))
        print(f"wrote {output} from {figures}")
        return
    plan = SMOKE if args.smoke else FULL
    only = set(args.only or ["cli", "compile", "runtime", "scaling"])
    upstream = UPSTREAM_EXE if UPSTREAM_EXE.exists() else None
    presets = sorted(p.stem for p in (ROOT / "presets").glob("*.yml") if not p.stem.endswith("_mini"))
    if args.smoke:
        presets = presets[:1]
    shown_plan = dict(plan, compile=[label for label, _ in plan["compile"]])
    results = {"smoke": args.smoke, "started": time.strftime("%Y-%m-%d %H:%M:%S"), "plan": shown_plan,
               "upstream": bool(upstream)}
    work = Path(tempfile.mkdtemp(prefix="eulerstack-bench-", dir=ROOT / "build"))
    try:
        if "cli" in only:
            print("validate/explain ...", flush=True)
            results["cli"] = cases_cli.run(presets, presets[:1] if args.smoke else CLI_UPSTREAM_PRESETS, upstream,
                                           plan["cli_repeats"])
        if "compile" in only:
            print("compile --output-dir ...", flush=True)
            results["compile"] = cases_compile.run(plan["compile"], upstream, plan["compile_repeats"], work,
                                                   plan["threads"])
        families = {}
        if only & {"runtime", "scaling"}:
            names = FAMILIES + ["retnet"] if "scaling" in only else FAMILIES
            families = {n: cases_runtime.Family(n, SPECS / f"{n}_100m.yml", work) for n in names}
            results["params"] = {n: f.params for n, f in families.items()}
        if "runtime" in only:
            results["speed"] = []
            for name in FAMILIES:
                print(f"runtime: {name} ...", flush=True)
                results["speed"] += cases_runtime.speed(families[name], plan["dtypes"], plan["threads"],
                                                        plan["prefill"], plan["decode"], plan["repeats"])
            print("memory: mamba2 ...", flush=True)
            results["memory"] = {"length": plan["memory_length"], "peak_rss_delta": cases_runtime.memory(
                families["mamba2"], plan["memory_length"], "float32", max(plan["threads"]))}
        if "scaling" in only:
            results["scaling"] = []
            for name in ["retnet", "mamba2", "llama", "mistral"]:
                print(f"scaling: {name} ...", flush=True)
                results["scaling"].append(cases_runtime.scaling(
                    families[name], "float32", max(plan["threads"]), plan["scaling_prefill"], plan["scaling_prompts"],
                    plan["scaling_steps"], plan["repeats"]))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    results["command"] = " ".join(["scripts/bench"] + sys.argv[1:])
    results["environment"] = report.environment()
    plots.draw(results, output)
    output.write_text(report.markdown(results, results["command"], plots.links(results, output)))
    figures.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
