"""The benchmark figures drawn as PNGs (matplotlib, pinned in python/requirements.txt):
time against the matmul floor per family and dtype, prefill and decode cost
against length, and compile against the disk's write floor. report.py links
them; both read only the saved figures, so --report-only redraws them too."""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

CPP, EXPORT = "eulerstack (C++)", "eulerstack export in transformers"
COLOURS = {"cpp": "#3b6fb6", "export": "#7fb0e0", "peer": "#e08a3b", "floor": "#6c7a89", "upstream": "#c44e52"}
# Metadata matplotlib would otherwise stamp with its version and the date: the PNGs change only with the figures.
PNG_METADATA = {"Software": None}


def plot_dir(report_path):
    """Where a report's PNGs go: docs/BENCHMARKS.md -> docs/benchmarks-plots/."""
    report_path = Path(report_path)
    return report_path.with_name(report_path.stem.lower() + "-plots")


def _peer(row):
    return next(name for name in row["seconds"] if name.startswith("transformers "))


def _save(fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata=PNG_METADATA)
    plt.close(fig)


def floor_ratios(results, path):
    """One panel per dtype: every case's time over the matmul floor, per family; 1 = the floor."""
    rows = [r for r in results.get("speed", []) if "floor" in r]
    if not rows:
        return False
    threads = max(r["threads"] for r in rows)
    rows = [r for r in rows if r["threads"] == threads]
    dtypes = sorted({r["dtype"] for r in rows})
    fig, axes = plt.subplots(1, len(dtypes), figsize=(6.5 * len(dtypes), 4.2), squeeze=False)
    for ax, dtype in zip(axes[0], dtypes):
        mine = [r for r in rows if r["dtype"] == dtype]
        labels = [f"{r['family']}\n{r['case']}" for r in mine]
        xs = range(len(mine))
        width = 0.27
        for offset, (key, name, colour) in enumerate([
                (lambda r: r["seconds"][CPP], "eulerstack C++", COLOURS["cpp"]),
                (lambda r: r["seconds"][EXPORT], "our export (Python)", COLOURS["export"]),
                (lambda r: r["seconds"][_peer(r)], "transformers", COLOURS["peer"])]):
            ax.bar([x + (offset - 1) * width for x in xs], [key(r) / r["floor"] for r in mine], width, label=name,
                   color=colour)
        ax.axhline(1.0, color=COLOURS["floor"], linestyle="--", linewidth=1, label="matmul floor")
        ax.set_xticks(list(xs), labels, fontsize=7, rotation=90)
        ax.set_ylabel("time / matmul floor")
        ax.set_title(f"{dtype}, {threads} thread{'s' if threads != 1 else ''}")
        ax.legend(fontsize=8)
    fig.suptitle("Prefill and decode time against the model's own matrix products")
    _save(fig, path)
    return True


def scaling(results, path):
    """Prefill time per token and decode time per new token against length, one line per family."""
    series = results.get("scaling", [])
    if not series:
        return False
    fig, (prefill, decode) = plt.subplots(1, 2, figsize=(11, 4.2))
    for s in series:
        lengths = sorted(s["prefill"], key=int)
        prefill.plot([int(n) for n in lengths], [s["prefill"][n] / int(n) * 1000 for n in lengths], marker="o",
                     label=s["family"])
        prompts = sorted(s["decode_per_token"], key=int)
        decode.plot([int(n) for n in prompts], [s["decode_per_token"][n] * 1000 for n in prompts], marker="o",
                    label=s["family"])
    for ax, title, ylabel in ((prefill, "Prefill", "ms per prompt token"),
                              (decode, "Decode", "ms per new token")):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("prompt length (tokens)")
        ax.set_ylabel(ylabel)
        ax.set_title(title + " cost against length (C++ runtime, float32)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    _save(fig, path)
    return True


def compile_floor(results, path):
    """compile --output-dir at each thread count beside the disk's write floor and upstream."""
    cases = results.get("compile", [])
    if not cases:
        return False
    threads = sorted(cases[0]["eulerstack_threads"], key=int)
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    names = [f"eulerstack, {t} thread{'s' if t != '1' else ''}" for t in threads] + ["write floor", "upstream"]
    width = 0.8 / len(names)
    for i, c in enumerate(cases):
        values = [c["eulerstack_threads"][t] for t in threads] + [c["floor"], c.get("upstream")]
        colours = [COLOURS["cpp"]] * len(threads) + [COLOURS["floor"], COLOURS["upstream"]]
        for j, (value, colour) in enumerate(zip(values, colours)):
            x = i + (j - (len(names) - 1) / 2) * width
            if value is None:
                if "upstream_failed" in c:
                    ax.text(x, 0, "upstream\nfailed", ha="center", va="bottom", fontsize=7, color=COLOURS["upstream"])
                continue
            shade = 1.0 - 0.35 * j / max(1, len(threads) - 1) if j < len(threads) else 1.0
            ax.bar(x, value, width, color=colour, alpha=shade,
                   label=names[j] if i == 0 else None)
    ax.set_xticks(range(len(cases)), [c["label"] for c in cases], fontsize=8)
    ax.set_ylabel("seconds")
    ax.set_title("compile --output-dir against the disk's write floor")
    ax.legend(fontsize=8)
    _save(fig, path)
    return True


PLOTS = (("time-vs-floor.png", floor_ratios, "Time against the matmul floor"),
         ("scaling.png", scaling, "Prefill and decode cost against length"),
         ("compile-vs-floor.png", compile_floor, "compile against the write floor"))


def draw(results, report_path):
    """Draws every plot the figures allow; returns (caption, path relative to the report) for each."""
    folder = plot_dir(report_path)
    folder.mkdir(parents=True, exist_ok=True)
    drawn = []
    for name, plot, caption in PLOTS:
        if plot(results, folder / name):
            drawn.append((caption, f"{folder.name}/{name}"))
    return drawn


def links(results, report_path):
    """The Markdown image links for the plots these figures give, without drawing them."""
    folder = plot_dir(report_path)
    keys = {"time-vs-floor.png": any("floor" in r for r in results.get("speed", [])),
            "scaling.png": bool(results.get("scaling")), "compile-vs-floor.png": bool(results.get("compile"))}
    return [f"![{caption}]({folder.name}/{name})" for name, _, caption in PLOTS if keys[name]]
