"""Loads every given export in this one process and saves each one's logits (OUT_DIR/<i>.npy), the kinds of
blocks it was built with and the EXPORT_MARKER values of the Python modules that define them (OUT_DIR/<i>.json).

usage: load_logits.py OUT_DIR EXPORT_DIR..."""
import json
import sys
from pathlib import Path

import numpy as np

from journey_kit import load, logits, random_ids


def main(out, *exports):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for i, export in enumerate(exports):
        model = load(export).eval()
        np.save(out / f"{i}.npy", logits(model, random_ids(model.config.vocab_size, (1, 9), 10)).numpy())
        markers = {getattr(sys.modules[type(m).__module__], "EXPORT_MARKER", None) for m in model.modules()}
        (out / f"{i}.json").write_text(json.dumps({"blocks": sorted({type(m).__name__ for m in model.modules()}),
                                                  "markers": sorted(m for m in markers if m is not None)}))


if __name__ == "__main__":
    main(*sys.argv[1:])
