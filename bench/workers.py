"""Persistent contender processes (runtime_worker.cpp, python_worker.py) and
the alternating, median-of-runs measurement that bench/run.py applies to them."""
import json
import os
import statistics
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = Path(os.environ.get("EULERSTACK_BUILD", ROOT / "build"))
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"


class Worker:
    """One contender with a model loaded; `ask` sends a request line and returns the JSON reply."""

    def __init__(self, name, argv, threads):
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), HF_HUB_OFFLINE="1",
                   TRANSFORMERS_VERBOSITY="error", TOKENIZERS_PARALLELISM="false")
        self.name = name
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=env, cwd=ROOT)
        self._read()  # {"ready": true}

    def _read(self):
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.name} exited: {self.proc.stderr.read()[-2000:]}")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"{self.name}: {reply['error']}")
        return reply

    def ask(self, request):
        self.proc.stdin.write(request + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def cpp_worker(model_dir, dtype, threads):
    return Worker("eulerstack (C++)", [str(BUILD / "bench" / "eulerstack_bench_worker"), str(model_dir), dtype,
                                       str(threads)], threads)


def exported_worker(model_dir, dtype, threads):
    return Worker("eulerstack export in transformers",
                  [str(VENV_PYTHON), str(ROOT / "bench" / "python_worker.py"), "exported", str(model_dir), dtype,
                   str(threads)], threads)


def peer_worker(family, ir_file, params, dtype, threads):
    return Worker(f"transformers {family}",
                  [str(VENV_PYTHON), str(ROOT / "bench" / "python_worker.py"), "peer", family, str(ir_file),
                   str(params), dtype, str(threads)], threads)


def alternate(workers, request, repeats, key="seconds"):
    """Median of `repeats` answers per worker, taken round-robin so that drift hits every contender alike."""
    samples = {w.name: [] for w in workers}
    for _ in range(repeats):
        for w in workers:
            samples[w.name].append(w.ask(request)[key])
    return {name: statistics.median(values) for name, values in samples.items()}
