#!/usr/bin/env python3
"""Export several presets and compare them: parameters, layers, mixers, FFNs and a forward's logits shape.

    .venv/bin/python examples/03_architecture_evolution.py [PRESET ...]

The eulerstack executable is $EULERSTACK or build/cli/eulerstack. The default presets are small (*_mini)
twins of a dense decoder, a sliding-window model, a MoE, a hybrid and a pure state-space model.
"""

import argparse
import tempfile
from collections import Counter
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

from _common import export

DEFAULT_PRESETS = ["gpt2_style_mini", "llama_style_mini", "mistral_style_mini", "mixtral_style_moe_mini",
                   "jamba_style_mini", "mamba2_style_mini"]


def summary(counts: Counter) -> str:
    return ", ".join(f"{name}x{n}" for name, n in sorted(counts.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("presets", nargs="*", default=DEFAULT_PRESETS)
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for preset in args.presets:
            model = AutoModelForCausalLM.from_pretrained(export(preset, Path(tmp) / preset),
                                                         trust_remote_code=True, dtype=torch.float32).eval()
            layers = model.config.eulerstack_ir["layers"]
            mixers = Counter(layer["mixer"]["type"] for layer in layers)
            ffns = Counter(layer["ffn"]["type"] for layer in layers)
            ids = torch.randint(0, model.config.vocab_size, (1, 12), generator=torch.Generator().manual_seed(0))
            with torch.no_grad():
                logits = model(ids).logits
            rows.append((preset, f"{sum(p.numel() for p in model.parameters()):,}", str(len(layers)),
                         summary(mixers), summary(ffns), str(tuple(logits.shape))))
            del model

    header = ("preset", "params", "layers", "mixers", "ffns", "logits")
    widths = [max(len(row[i]) for row in rows + [header]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths)] + rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


if __name__ == "__main__":
    main()
