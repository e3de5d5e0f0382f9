# The installed package's blocks: every plugin twin copied beside this file by the package build
# (python/setup.py). An exported model directory has its own eulerstack_blocks.py instead, written by
# `eulerstack compile --output-dir` with the twins that model uses: that is the one generated writer.
import importlib
from pathlib import Path

PLUGIN_REGISTRARS = tuple(
    importlib.import_module("." + path.stem, __package__).register
    for path in sorted(Path(__file__).resolve().parent.glob("eulerstack_*.py"))
    if path.stem not in ("eulerstack_blocks", "eulerstack_sdk")
)
