"""docs/BENCHMARKS.md from the results of bench/run.py: environment, goals
(met or missed, by how much), every figure with its ratios, and the analysis
kept by hand in bench/notes.md."""
import json
import os
import platform
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MIB = 1 << 20
CPP, EXPORT = "eulerstack (C++)", "eulerstack export in transformers"


def peer(row):
    return next(name for name in row["seconds"] if name.startswith("transformers "))


def environment():
    import torch
    import transformers
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    memory = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal")) / (1 << 20)
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    upstream = ROOT / "bench" / ".venv" / "bin" / "python"
    up_version = subprocess.run([str(upstream), "-c", "import importlib.metadata as m; print(m.version('eulerstack'))"],
                                capture_output=True, text=True).stdout.strip() if upstream.exists() else "not installed"
    return [f"- CPU: {cpu}, {os.cpu_count()} cores; {memory:.0f} GiB RAM; {platform.platform()}",
            f"- torch {torch.__version__} (C++ and Python share it), transformers {transformers.__version__}, "
            f"upstream eulerstack {up_version}",
            f"- eulerstack commit {rev}{' (with uncommitted changes)' if dirty else ''}",
            "- load average (1, 5, 15 min) at the end of the run: %.1f, %.1f, %.1f (figures taken on a busy machine "
            "are not comparable with an idle one)" % os.getloadavg()]


def ratio(a, b):
    return a / b if b else float("inf")


def goals(r):
    """(goal, measured, met) rows."""
    rows = []
    for c in r.get("compile", []):
        rows.append((f"compile {c['label']}: peak RSS < 512 MiB", f"{c['eulerstack_rss'] / MIB:.0f} MiB",
                     c["eulerstack_rss"] < 512 * MIB))
        rows.append((f"compile {c['label']}: within 2x of the write floor", f"{ratio(c['eulerstack'], c['floor']):.2f}x",
                     c["eulerstack"] <= 2 * c["floor"]))
        if "upstream" in c:
            rows.append((f"compile {c['label']}: >= 5x faster than upstream",
                         f"{ratio(c['upstream'], c['eulerstack']):.1f}x", c["upstream"] >= 5 * c["eulerstack"]))
        elif "upstream_failed" in c:
            rows.append((f"compile {c['label']}: >= 5x faster than upstream",
                         f"upstream failed ({c['upstream_failed']})", True))
    if r.get("cli"):
        worst = max(r["cli"], key=lambda row: row["eulerstack"])
        rows.append(("validate/explain of every preset < 300 ms",
                     f"slowest {worst['eulerstack'] * 1000:.0f} ms ({worst['command']} {worst['preset']})",
                     worst["eulerstack"] < 0.3))
        versus = [row for row in r["cli"] if "upstream" in row]
        if versus:
            least = min(versus, key=lambda row: ratio(row["upstream"], row["eulerstack"]))
            rows.append(("validate/explain faster than upstream",
                         f"least {ratio(least['upstream'], least['eulerstack']):.0f}x", least["upstream"] > least["eulerstack"]))
    for kind, goal in (("prefill", 1.3), ("decode", 2.0)):
        speed = [row for row in r.get("speed", []) if row["case"].startswith(kind)]
        if speed:
            least = min(speed, key=lambda row: ratio(row["seconds"][peer(row)], row["seconds"][CPP]))
            value = ratio(least["seconds"][peer(least)], least["seconds"][CPP])
            below = [row for row in speed if "floor" in row and row["seconds"][peer(row)] / goal < row["floor"]]
            floor_note = (f"; in {len(below)} of {len(speed)} cases the goal asks for less than the matmul floor"
                          if any("floor" in row for row in speed) else "")
            rows.append((f"{kind}: C++ >= {goal}x transformers, every family/dtype/threads",
                         f"least {value:.2f}x ({least['family']} {least['dtype']} {least['threads']}t {least['case']})"
                         + floor_note, value >= goal))
    mamba = [row for row in r.get("speed", []) if row["family"] == "mamba2" and row["case"] == "prefill 2048"]
    if mamba:
        least = min(ratio(row["seconds"][peer(row)], row["seconds"][CPP]) for row in mamba)
        rows.append(("Mamba2 prefill 2048: >= 3x transformers' torch path", f"least {least:.2f}x", least >= 3))
    if "memory" in r:
        m = r["memory"]["peak_rss_delta"]
        theirs = next(v for k, v in m.items() if k.startswith("transformers"))
        rows.append((f"Mamba2 prefill {r['memory']['length']}: <= 1/4 of transformers' peak memory",
                     f"{m[CPP] / MIB:.0f} MiB vs {theirs / MIB:.0f} MiB ({ratio(m[CPP], theirs):.2f})",
                     m[CPP] <= theirs / 4))
    for s in r.get("scaling", []):
        lengths = sorted(s["prefill"], key=int)
        per_token = [s["prefill"][n] / int(n) for n in lengths]
        prompts = sorted(s["decode_per_token"], key=int)
        growth = ratio(s["decode_per_token"][prompts[-1]], s["decode_per_token"][prompts[0]])
        if s["family"] in ("retnet", "mamba2"):
            rows.append((f"{s['family']}: prefill linear in length (time/token at {lengths[-1]} <= 1.5x at {lengths[0]})",
                         f"{ratio(per_token[-1], per_token[0]):.2f}x", per_token[-1] <= 1.5 * per_token[0]))
            rows.append((f"{s['family']}: decode cost per token flat ({prompts[-1]} vs {prompts[0]} <= 1.5x)",
                         f"{growth:.2f}x", growth <= 1.5))
        elif s["family"] == "mistral":
            rows.append((f"sliding window: decode per token flat past the window ({prompts[-1]} vs {prompts[0]})",
                         f"{growth:.2f}x", growth <= 1.5))
    return rows


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def markdown(r, command, plot_links=()):
    out = ["# Benchmarks", "",
           "Produced by `" + command + "` (bench/run.py); do not edit by hand: the analysis lives in bench/notes.md.",
           f"Run {r['started']} to {r['finished']}." + (" **Smoke run: tiny sizes, figures meaningless.**" if r["smoke"] else ""),
           "", "## Environment", "", *r["environment"], "",
           "Method: every figure is the median of the runs listed in the plan below, taken alternately from every "
           "contender within this one invocation; runtime contenders are persistent processes with the model loaded, "
           "timed inside the process. Ratios > 1 favour eulerstack.", "",
           "Plan: `" + json.dumps(r["plan"]) + "`", "", "## Goals", ""]
    out += table(["goal", "measured", "met"], [(g, m, "yes" if ok else "**no**") for g, m, ok in goals(r)])
    if plot_links:
        out += ["", "## Plots", ""]
        for link in plot_links:
            out += [link, ""]
        out.pop()
    if r.get("cli"):
        out += ["", "## validate and explain (whole process)", ""]
        out += table(["preset", "command", "eulerstack ms", "upstream ms", "speed-up"],
                     [(row["preset"], row["command"], f"{row['eulerstack'] * 1000:.0f}",
                       f"{row['upstream'] * 1000:.0f}" if "upstream" in row else "-",
                       f"{ratio(row['upstream'], row['eulerstack']):.0f}x" if "upstream" in row else "-")
                      for row in r["cli"]])
    if r.get("compile"):
        out += ["", "## compile --output-dir", ""]
        threads = sorted(r["compile"][0]["eulerstack_threads"], key=int)
        out += table(["spec", "weights", *(f"eulerstack s, {t} thread{'s' if t != '1' else ''}" for t in threads),
                      "peak RSS", "write floor s", "vs floor", "upstream s", "upstream peak RSS", "speed-up"],
                     [(c["label"], f"{c['bytes'] / 1e9:.2f} GB", *(f"{c['eulerstack_threads'][t]:.1f}" for t in threads),
                       f"{c['eulerstack_rss'] / MIB:.0f} MiB", f"{c['floor']:.1f}", f"{ratio(c['eulerstack'], c['floor']):.2f}x",
                       f"{c['upstream']:.1f}" if "upstream" in c else c.get("upstream_failed", "-"),
                       f"{c['upstream_rss'] / MIB:.0f} MiB" if "upstream_rss" in c else "-",
                       f"{ratio(c['upstream'], c['eulerstack']):.1f}x" if "upstream" in c else "-")
                      for c in r["compile"]])
        out += ["", f"Ratios use the {threads[-1]}-thread figure; peak RSS is the largest over all runs."]
    if r.get("speed"):
        out += ["", "## Runtime: prefill (seconds) and decode (tokens/s), batch 1", "",
                "Parameters: " + ", ".join(f"{k} {v:,}" for k, v in r.get("params", {}).items()), ""]
        rows = []
        for row in r["speed"]:
            s, other = row["seconds"], peer(row)
            if "tokens" in row:
                fmt = lambda v: f"{row['tokens'] / v:.1f} tok/s"  # noqa: E731
            else:
                fmt = lambda v: f"{v:.3f} s"  # noqa: E731
            rows.append((row["family"], row["dtype"], row["threads"], row["case"], fmt(s[CPP]), fmt(s[EXPORT]),
                         fmt(s[other]), f"{ratio(s[other], s[CPP]):.2f}x", f"{ratio(s[EXPORT], s[CPP]):.2f}x",
                         fmt(row["floor"]) if "floor" in row else "-",
                         f"{ratio(s[CPP], row['floor']):.2f}x" if "floor" in row else "-"))
        out += table(["family", "dtype", "threads", "case", "C++", "our export (Python)", "transformers",
                      "C++ vs transformers", "C++ vs our Python", "matmul floor", "C++ time / floor"], rows)
        out += ["", "The matmul floor is the model's matrix products alone, timed in the C++ worker on the same BLAS "
                    "(bench/runtime_worker.cpp, gemm_floor): every 2-D weight applied to the prompt's tokens, or for "
                    "decode to one token per step, which reads every weight once. No implementation of the same model "
                    "goes below it beyond timing noise (one-row products at two threads run at the memory-bandwidth limit and "
                    "vary by ~10%)."]
    if r.get("memory"):
        m = r["memory"]
        out += ["", f"## Mamba2 prefill memory ({m['length']} tokens, float32, peak RSS growth)", ""]
        out += table(["contender", "MiB"], [(k, f"{v / MIB:.0f}") for k, v in m["peak_rss_delta"].items()])
    if r.get("scaling"):
        out += ["", "## Scaling with length (C++ runtime, float32)", ""]
        for s in r["scaling"]:
            out += table([f"{s['family']}: prefill length", "seconds", "ms per token"],
                         [(n, f"{v:.3f}", f"{v / int(n) * 1000:.3f}") for n, v in sorted(s["prefill"].items(), key=lambda kv: int(kv[0]))])
            out += [""]
            out += table([f"{s['family']}: decode after prompt", "ms per new token"],
                         [(n, f"{v * 1000:.2f}") for n, v in sorted(s["decode_per_token"].items(), key=lambda kv: int(kv[0]))])
            out += [""]
    notes = ROOT / "bench" / "notes.md"
    if notes.exists():
        out += ["", notes.read_text().rstrip()]
    return "\n".join(out) + "\n"
