#!/usr/bin/env python3
"""The seed tutorial's Python snippet: load an exported directory with the HF
Auto classes and run one forward pass of 128 random token ids."""
import sys

import torch
from transformers import AutoModelForCausalLM

from eulerstack.hf.auto_register import register_eulerstack_auto_classes

register_eulerstack_auto_classes()
model = AutoModelForCausalLM.from_pretrained(sys.argv[1], trust_remote_code=True, dtype="bfloat16")
print(type(model))
print("n_layers:", model.config.n_layers)
ids = torch.randint(0, model.config.vocab_size, (1, 128))
with torch.no_grad():
    out = model(ids)
print("logits:", tuple(out.logits.shape))
