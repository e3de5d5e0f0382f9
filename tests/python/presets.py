"""The bundled presets and the golden files that pin their explain and compile output."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRESET_DIR = ROOT / "presets"
GOLDEN_DIR = ROOT / "tests" / "golden"

PRESETS = sorted(p.stem for p in PRESET_DIR.glob("*.yml"))
FULL_PRESETS = [p for p in PRESETS if not p.endswith("_mini")]


def golden_explain(name):
    return GOLDEN_DIR / "explain" / f"{name}.txt"


def golden_ir(name):
    return GOLDEN_DIR / "ir" / f"{name}.json"
