"""Loads every given export in this one process and saves each one's logits (OUT_DIR/<i>.npy) and the kinds of
blocks it was built with (OUT_DIR/<i>.json).

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
        (out / f"{i}.json").write_text(json.dumps(sorted({type(m).__name__ for m in model.modules()})))


if __name__ == "__main__":
    main(*sys.argv[1:])
