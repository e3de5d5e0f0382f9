"""compile --output-dir of a large spec: ours (wall, peak RSS) vs upstream and
vs the physical floor (the same number of bytes written sequentially to the
same disk by a minimal process), alternating runs."""
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time

from workers import BUILD, ROOT

UPSTREAM_MEMORY_LIMIT = 16 << 30  # address space cap for upstream, so that a model too big for RAM fails cleanly

FLOOR_SCRIPT = r"""
import os, sys
path, size = sys.argv[1], int(sys.argv[2])
block = os.urandom(16 << 20)
with open(path, "wb") as f:
    while size > 0:
        f.write(block[:min(size, len(block))])
        size -= len(block)
"""


def measure(argv, limit=None):
    """(wall seconds, peak RSS bytes, exit code, stderr tail) of one child process."""
    def cap():
        if limit:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=cap, cwd=ROOT)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - start, usage.ru_maxrss * 1024, proc.returncode, err.decode(errors="replace")[-300:]


def weight_bytes(directory):
    return sum(f.stat().st_size for f in directory.glob("*.safetensors"))


def run(specs, upstream_exe, repeats, work_dir, threads):
    """One row per spec. "eulerstack" is the figure at the most threads in `threads`; every thread count's
    wall time is under "eulerstack_threads"."""
    rows = []
    for label, spec in specs:
        ours = {t: [] for t in threads}
        samples = {"floor": [], "upstream": []}
        rss = {"eulerstack": [], "upstream": []}
        failures = {}
        size = None
        for _ in range(repeats):
            for t in threads:
                target = work_dir / "ours"
                seconds, peak, code, err = measure([str(BUILD / "cli" / "eulerstack"), "compile", "--preset", str(spec),
                                                    "--output-dir", str(target), "--threads", str(t)])
                if code != 0:
                    raise RuntimeError(f"eulerstack compile {spec} failed: {err}")
                size = weight_bytes(target)
                shutil.rmtree(target)
                ours[t].append(seconds)
                rss["eulerstack"].append(peak)

            floor_file = work_dir / "floor.bin"
            seconds, _, _, _ = measure([sys.executable, "-c", FLOOR_SCRIPT, str(floor_file), str(size)])
            floor_file.unlink()
            samples["floor"].append(seconds)

            if upstream_exe and "upstream" not in failures:
                target = work_dir / "upstream"
                seconds, peak, code, err = measure([str(upstream_exe), "--lang", "en", "compile", "--preset", str(spec),
                                                    "--output-dir", str(target)], limit=UPSTREAM_MEMORY_LIMIT)
                shutil.rmtree(target, ignore_errors=True)
                if code != 0:
                    failures["upstream"] = f"exit {code}: {err.strip().splitlines()[-1] if err.strip() else ''}"
                else:
                    samples["upstream"].append(seconds)
                    rss["upstream"].append(peak)
        rows.append({"label": label, "bytes": size, "eulerstack": statistics.median(ours[max(threads)]),
                     "eulerstack_threads": {str(t): statistics.median(v) for t, v in ours.items()},
                     **{name: statistics.median(v) for name, v in samples.items() if v},
                     **{f"{name}_rss": max(v) for name, v in rss.items() if v},
                     **{f"{name}_failed": why for name, why in failures.items()}})
    return rows
