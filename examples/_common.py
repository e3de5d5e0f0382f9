"""Shared by the examples: where the eulerstack executable is, and exporting a preset."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def eulerstack_exe() -> str:
    """$EULERSTACK, or build/cli/eulerstack of this checkout."""
    exe = os.environ.get("EULERSTACK") or str(REPO / "build" / "cli" / "eulerstack")
    if not Path(exe).exists():
        sys.exit(f"eulerstack executable not found: {exe} (build it, or set EULERSTACK)")
    return exe


def export(preset: str, output_dir: Path, seed: int | None = None) -> Path:
    """`eulerstack compile --preset PRESET --output-dir DIR --force`; exits with its message on failure."""
    command = [eulerstack_exe(), "compile", "--preset", preset, "--output-dir", str(output_dir), "--force"]
    if seed is not None:
        command += ["--seed", str(seed)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr or done.stdout}")
    return output_dir
