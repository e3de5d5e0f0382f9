#!/usr/bin/env python3
"""Load an exported model directory and greedy-generate from a few token ids.

    .venv/bin/python examples/02_load_and_generate.py [DIR] [--preset PRESET] [--tokens "1 2 3"] [--new N]

Without DIR the preset (default llama_style_mini) is exported to a temporary directory first, with the
eulerstack executable at $EULERSTACK or build/cli/eulerstack. The weights are random, so the text is
meaningless; what this shows is the loading and the cached decoding (with a check against no cache).
"""

import argparse
import tempfile
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

from _common import export


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", nargs="?", help="an exported model directory")
    parser.add_argument("--preset", default="llama_style_mini")
    parser.add_argument("--tokens", default="1 2 3 4 5 6 7 8", help="prompt token ids")
    parser.add_argument("--new", type=int, default=16, help="tokens to generate")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(args.dir) if args.dir else export(args.preset, Path(tmp) / "model")
        model = AutoModelForCausalLM.from_pretrained(directory, trust_remote_code=True, dtype=torch.float32).eval()
        prompt = torch.tensor([[int(t) for t in args.tokens.split()]])

        generated = model.generate(prompt, max_new_tokens=args.new, do_sample=False)
        print("prompt:   ", prompt[0].tolist())
        print("generated:", generated[0, prompt.shape[1]:].tolist())

        uncached = model.generate(prompt, max_new_tokens=args.new, do_sample=False, use_cache=False)
        print("same without the cache:", torch.equal(generated, uncached))


if __name__ == "__main__":
    main()
