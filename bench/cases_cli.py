"""validate and explain, whole process (start-up and plugin loading included): ours vs upstream."""
import statistics
import subprocess
import time

from workers import BUILD, ROOT

GOAL_SECONDS = 0.3


def timed(argv):
    start = time.perf_counter()
    r = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT)
    return time.perf_counter() - start, r.returncode


def run(presets, upstream_presets, upstream_exe, repeats):
    rows = []
    for preset in presets:
        spec = str(ROOT / "presets" / f"{preset}.yml")
        for command in ("validate", "explain"):
            contenders = {"eulerstack": [str(BUILD / "cli" / "eulerstack"), command, spec]}
            if upstream_exe and preset in upstream_presets:
                contenders["upstream"] = [str(upstream_exe), "--lang", "en", command, "--preset", spec]
            samples = {name: [] for name in contenders}
            codes = {}
            for _ in range(repeats):
                for name, argv in contenders.items():
                    seconds, codes[name] = timed(argv)
                    samples[name].append(seconds)
            row = {"preset": preset, "command": command,
                   **{name: statistics.median(v) for name, v in samples.items()},
                   **{f"{name}_exit": code for name, code in codes.items()}}
            rows.append(row)
    return rows
