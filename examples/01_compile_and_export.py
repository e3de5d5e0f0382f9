#!/usr/bin/env python3
"""Compile a preset to a HuggingFace model directory, load it, run it, save it again and reload it.

    .venv/bin/python examples/01_compile_and_export.py [PRESET] [--out DIR]

The eulerstack executable is $EULERSTACK or build/cli/eulerstack. Runs in seconds with a *_mini preset.
"""

import argparse
import tempfile
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

from _common import export


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("preset", nargs="?", default="llama_style_mini")
    parser.add_argument("--out", help="directory for the export (default: a temporary one)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        exported = Path(args.out) if args.out else Path(tmp) / "exported"
        export(args.preset, exported)
        print(f"exported {args.preset} to {exported}: {', '.join(sorted(p.name for p in exported.iterdir()))}")

        # The directory carries its modeling code: transformers runs it with trust_remote_code.
        model = AutoModelForCausalLM.from_pretrained(exported, trust_remote_code=True, dtype=torch.float32)
        model.eval()
        config = model.config
        params = sum(p.numel() for p in model.parameters())
        print(f"loaded {type(model).__name__}: {config.n_layers} layers, d={config.hidden_size}, "
              f"vocab={config.vocab_size}, {params:,} parameters, tied head: {config.tie_word_embeddings}")

        ids = torch.randint(0, config.vocab_size, (2, 16), generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            out = model(ids, labels=ids)
        print(f"forward: logits {tuple(out.logits.shape)}, loss {out.loss.item():.4f}, "
              f"aux_loss {out.aux_loss.item():.4g}")

        # save_pretrained writes the weights (a tied head once), the config and the modeling code again.
        resaved = Path(tmp) / "resaved"
        model.save_pretrained(resaved)
        again = AutoModelForCausalLM.from_pretrained(resaved, trust_remote_code=True, dtype=torch.float32).eval()
        with torch.no_grad():
            same = torch.equal(again(ids).logits, out.logits)
        print(f"saved to {resaved} and reloaded: identical logits: {same}")
        if not same:
            raise SystemExit("the reloaded model differs")


if __name__ == "__main__":
    main()
