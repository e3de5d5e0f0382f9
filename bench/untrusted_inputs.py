#!/usr/bin/env python3
"""Cost of reading hostile inputs through the CLI, whole process: a safetensors header with many
tensors, a config.json with a long array, a bundle.json with many keys (issue 18: parsing must be
linear in the input). Prints one line per case: the median of REPEATS runs, in CPU seconds (user +
system, of the child process) so that a busy machine does not skew them, and in wall seconds.

    bench/untrusted_inputs.py [EXE] [--repeats N]      (default: build/cli/eulerstack)
"""
import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(argv, env=None):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    r = subprocess.run([str(a) for a in argv], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall, r.returncode


def safetensors_with(path, tensors):
    header = {f"t{i}": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]} for i in range(tensors)}
    text = json.dumps(header)
    text += " " * ((8 - len(text) % 8) % 8)
    path.write_bytes(len(text).to_bytes(8, "little") + text.encode())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("exe", nargs="?", default=str(ROOT / "build" / "cli" / "eulerstack"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tensors", type=int, default=160_000)
    parser.add_argument("--keys", type=int, default=80_000)
    args = parser.parse_args()
    exe = Path(args.exe)
    work = Path(tempfile.mkdtemp())
    try:
        model = work / "model"
        r = subprocess.run([exe, "compile", "--preset", "gpt2_style_mini", "--output-dir", model], capture_output=True)
        if r.returncode:
            sys.exit(r.stderr.decode())
        cases = {}
        header_dir = work / "header"
        shutil.copytree(model, header_dir)
        safetensors_with(header_dir / "model.safetensors", args.tensors)
        cases[f"run --model: safetensors header of {args.tensors:,} tensors"] = [
            exe, "run", "--model", header_dir, "--tokens", "1 2"]
        array_dir = work / "array"
        shutil.copytree(model, array_dir)
        config = json.loads((array_dir / "config.json").read_text())
        config["extra"] = [{"i": i} for i in range(args.tensors)]
        (array_dir / "config.json").write_text(json.dumps(config))
        cases[f"run --model: config.json with a {args.tensors:,}-element array"] = [
            exe, "run", "--model", array_dir, "--tokens", "1 2"]
        bundle = work / "bundle"
        bundle.mkdir()
        keys = ",".join(f'"{i}":0' for i in range(args.keys))  # 80,000 keys: 0.7 MB
        (bundle / "bundle.json").write_text('{"format": 1, "name": "b", "version": "1", "plugins": [], ' + keys + "}")
        (bundle / "lib_unlisted.so").write_bytes(b"")
        cases[f"validate with a bundle.json of {args.keys:,} keys"] = [
            exe, "--plugin-dir", bundle, "validate", "--preset", "gpt2_style_mini"]
        for name, argv in cases.items():
            samples = [timed(argv) for _ in range(args.repeats)]
            cpu = statistics.median(s[0] for s in samples)
            wall = statistics.median(s[1] for s in samples)
            print(f"{cpu:8.2f} s CPU {wall:8.2f} s wall  exit {samples[0][2]}  {name}", flush=True)
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
