"""The mini presets every journey runs on, and which of them route tokens through experts."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
MINI_PRESETS = sorted(p.stem for p in (ROOT / "presets").glob("*_mini.yml"))
MOE_PRESETS = [p for p in MINI_PRESETS
               if re.search(r"^\s*type:\s*moe\s*$", (ROOT / "presets" / f"{p}.yml").read_text(), re.M)]
