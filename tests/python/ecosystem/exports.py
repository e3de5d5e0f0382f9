"""Every mini preset compiled once into an HF directory by the CLI."""
import subprocess
from concurrent.futures import ThreadPoolExecutor

from conftest import EXE, clean_env


def export(preset, target):
    r = subprocess.run([str(EXE), "compile", "--preset", preset, "--output-dir", str(target)],
                       capture_output=True, text=True, env=clean_env(), timeout=300)
    if r.returncode != 0:
        raise RuntimeError(f"eulerstack compile --preset {preset} failed ({r.returncode}): {r.stderr}")
    return target


def export_all(presets, directory, workers=2):
    """{preset: export directory}; each directory is named after its preset (distinct basenames)."""
    directory.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(workers) as pool:
        targets = {p: pool.submit(export, p, directory / p) for p in presets}
        return {p: f.result() for p, f in targets.items()}
