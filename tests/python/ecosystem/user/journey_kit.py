"""What the journey scripts share: loading an export as a user does, the tokenizer and rows, a few Trainer steps."""
import json
import math
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainingArguments, default_data_collator

PAD = 0


def load(model_dir, **kwargs):
    kwargs.setdefault("dtype", torch.float32)
    return AutoModelForCausalLM.from_pretrained(str(model_dir), trust_remote_code=True, **kwargs)


def tokenizer(assets, padding_side="right"):
    tok = AutoTokenizer.from_pretrained(str(Path(assets) / "tokenizer"))
    tok.padding_side = padding_side
    return tok


def rows(assets):
    with open(Path(assets) / "rows.jsonl", encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f]


def random_ids(vocab, shape, seed):
    # Ids from 4 on: no special token, so no row stops early at an EOS.
    return torch.randint(4, vocab, shape, generator=torch.Generator().manual_seed(seed))


def logits(model, ids, **kwargs):
    with torch.no_grad():
        return model(input_ids=ids, **kwargs).logits.float()


def max_diff(a, b):
    return (a.float() - b.float()).abs().max().item()


def close(a, b, atol, what):
    assert a.shape == b.shape, f"{what}: shapes {tuple(a.shape)} and {tuple(b.shape)}"
    diff = max_diff(a, b)
    assert diff <= atol, f"{what}: max abs difference {diff:.3g} > {atol}"
    return diff


def finite(values, what):
    assert all(math.isfinite(v) for v in values), f"{what}: not finite: {values}"


class _FixedRows(torch.utils.data.Dataset):
    def __init__(self, ids):
        self.ids = ids

    def __len__(self):
        return self.ids.shape[0]

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "labels": self.ids[i]}


def train_steps(model, work, steps=3, lr=1e-2, seed=0):
    """A few Trainer steps on rows of equal length (no padding), returning the logged losses: training whose only
    question is what it changes in the model."""
    ids = random_ids(model.config.vocab_size, (8, 12), seed)
    args = TrainingArguments(output_dir=str(work), max_steps=steps, per_device_train_batch_size=4, learning_rate=lr,
                             logging_steps=1, report_to="none", save_strategy="no", use_cpu=True, seed=seed,
                             disable_tqdm=True, lr_scheduler_type="constant")
    trainer = Trainer(model=model, args=args, train_dataset=_FixedRows(ids), data_collator=default_data_collator)
    trainer.train()
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    finite(losses, "training loss")
    return losses


def decoder_layers(model):
    """The repeated blocks, found as accelerate and FSDP wrappers find them: by the model's _no_split_modules."""
    names = set(model._no_split_modules or ())
    return [m for m in model.modules() if type(m).__name__ in names]


def dropout_off(model):
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
        elif isinstance(getattr(module, "dropout", None), float):
            module.dropout = 0.0
