"""Every single-process journey on one export, each as a researcher would type it; writes
{journey: {"ok", "error", "detail"}} as JSON. A journey that fails does not stop the others.

usage: single_process.py EXPORT_DIR ASSETS_DIR WORK_DIR OUT_JSON JOURNEY[,JOURNEY...]"""
import json
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import torch
import transformers

from journey_kit import (PAD, close, decoder_layers, dropout_off, finite, load, logits, max_diff, random_ids, rows,
                         tokenizer, train_steps)

torch.manual_seed(0)


def pad_rows(sequences, side):
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), PAD, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for i, s in enumerate(sequences):
        where = slice(width - len(s), width) if side == "left" else slice(0, len(s))
        ids[i, where] = torch.tensor(s)
        mask[i, where] = 1
    return ids, mask


def variable_rows(vocab, lengths=(5, 11, 8), seed=3):
    return [random_ids(vocab, (n,), seed + i).tolist() for i, n in enumerate(lengths)]


def j_dtypes(c):
    model = load(c.export).eval()
    ids = random_ids(model.config.vocab_size, (2, 8), 1)
    detail = {}
    for name, convert, dtype in [("to(bfloat16)", lambda m: m.to(torch.bfloat16), torch.bfloat16),
                                 ("half()", lambda m: m.half(), torch.float16),
                                 ("float()", lambda m: m.float(), torch.float32),
                                 ("cpu()", lambda m: m.cpu(), torch.float32)]:
        model = convert(model)
        kinds = {p.dtype for p in model.parameters() if p.is_floating_point()}
        assert kinds == {dtype}, f"after {name}: parameter dtypes {kinds}"
        out = logits(model, ids)
        assert torch.isfinite(out).all(), f"after {name}: logits not finite"
        detail[name] = str(dtype)
    return detail


def j_trainer(c):
    """Trainer with a padding collator on one repeated batch of rows of different lengths: the loss goes down."""
    tok = tokenizer(c.assets)
    texts = rows(c.assets)[:4]
    features = [tok(t) for t in texts]
    assert len({len(f["input_ids"]) for f in features}) > 1, "rows of one length: nothing to pad"
    args = transformers.TrainingArguments(output_dir=str(c.work / "trainer"), max_steps=6,
                                          per_device_train_batch_size=4, learning_rate=3e-3, logging_steps=1,
                                          report_to="none", save_strategy="no", use_cpu=True, seed=0,
                                          disable_tqdm=True, lr_scheduler_type="constant")
    trainer = transformers.Trainer(model=load(c.export), args=args, train_dataset=features,
                                   data_collator=transformers.DataCollatorForLanguageModeling(tok, mlm=False))
    trainer.train()
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    finite(losses, "loss")
    assert len(losses) == 6 and losses[-1] < losses[0], f"loss does not go down: {losses}"
    return {"losses": losses}


def j_gradient_checkpointing(c):
    def gradients(checkpointing):
        model = load(c.export)
        model.train()
        dropout_off(model)
        if checkpointing:
            model.gradient_checkpointing_enable()
            assert model.is_gradient_checkpointing
        calls = []
        for layer in decoder_layers(model):
            for inner in layer.modules():
                if inner is not layer:
                    inner.register_forward_pre_hook(lambda *_: calls.append(1))
        ids = random_ids(model.config.vocab_size, (2, 16), 2)
        torch.manual_seed(0)
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        return {n: p.grad for n, p in model.named_parameters() if p.grad is not None}, len(calls), loss.item()

    plain, plain_calls, plain_loss = gradients(False)
    checked, checked_calls, checked_loss = gradients(True)
    # A checkpointed layer runs its blocks again during backward. Hooks on the layer itself would not tell: transformers
    # checkpoints its forward, not its __call__; pre-hooks, as the recompute may stop early.
    assert checked_calls > plain_calls, \
        f"nothing recomputed: {checked_calls} block calls, {plain_calls} without checkpointing"
    assert plain.keys() == checked.keys(), f"gradients differ in which parameters: {plain.keys() ^ checked.keys()}"
    worst = max((max_diff(plain[n], checked[n]), n) for n in plain)
    assert all(torch.allclose(plain[n], checked[n], atol=1e-6, rtol=1e-4) for n in plain), \
        f"gradients differ with checkpointing: max {worst[0]:.3g} at {worst[1]}"
    return {"losses": [plain_loss, checked_loss], "max_grad_diff": worst[0],
            "block_calls": [plain_calls, checked_calls]}


def j_padding(c):
    """Left and right padding: each real token's logits are those of its row alone (float32, 1e-4)."""
    model = load(c.export).eval()
    sequences = variable_rows(model.config.vocab_size)
    alone = [logits(model, torch.tensor([s]))[0] for s in sequences]
    worst = {}
    for side in ("left", "right"):
        ids, mask = pad_rows(sequences, side)
        batch = logits(model, ids, attention_mask=mask)
        worst[side] = max(close(batch[i][mask[i].bool()], alone[i], 1e-4, f"{side}-padded row {i}")
                          for i in range(len(sequences)))
    return {"max_diff": worst}


def j_generate(c):
    """Greedy generate on a left-padded batch: each row's new tokens are those it gets alone."""
    model = load(c.export).eval()
    sequences = variable_rows(model.config.vocab_size)
    ids, mask = pad_rows(sequences, "left")
    new = 6
    with torch.no_grad():
        batch = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=new, do_sample=False,
                               pad_token_id=PAD)[:, ids.shape[1]:]
        for i, s in enumerate(sequences):
            alone = model.generate(input_ids=torch.tensor([s]), max_new_tokens=new, do_sample=False,
                                   pad_token_id=PAD)[0, len(s):].tolist()
            got = batch[i].tolist()
            # A row that stops at EOS alone is padded in the batch after it.
            assert got[:len(alone)] == alone and set(got[len(alone):]) <= {PAD}, \
                f"row {i}: batched {got}, alone {alone}"
    return {"generated": batch.tolist()}


def j_pipeline(c):
    tok = tokenizer(c.assets, padding_side="left")
    model = load(c.export).eval()
    prompts = [" ".join(t.split()[:n]) for t, n in zip(rows(c.assets), (2, 7, 4, 5))]
    generator = transformers.pipeline("text-generation", model=model, tokenizer=tok, batch_size=2)
    batched = generator(prompts, max_new_tokens=4, do_sample=False)
    one_by_one = [generator(p, max_new_tokens=4, do_sample=False) for p in prompts]
    texts = [out[0]["generated_text"] for out in batched]
    assert texts == [out[0]["generated_text"] for out in one_by_one], "batch_size=2 differs from one by one"
    return {"texts": texts}


def attention_journey(implementation):
    def journey(c):
        reference = load(c.export, attn_implementation="eager").eval()
        ids = random_ids(reference.config.vocab_size, (2, 12), 4)
        model = load(c.export, attn_implementation=implementation).eval()
        assert model.config._attn_implementation == implementation, model.config._attn_implementation
        return {"max_diff": close(logits(model, ids), logits(reference, ids), 1e-4, f"{implementation} vs eager")}
    return journey


def j_save_reload(c):
    """Train a few steps, save_pretrained, from_pretrained: the same logits (whatever training changed is saved)."""
    model = load(c.export)
    ids = random_ids(model.config.vocab_size, (2, 12), 5)
    before = logits(model.eval(), ids)
    train_steps(model, c.work / "save_reload")
    trained = logits(model.eval(), ids)
    assert max_diff(trained, before) > 1e-4, "training changed nothing"
    model.save_pretrained(c.work / f"{c.preset}-trained")
    reloaded = load(c.work / f"{c.preset}-trained").eval()
    return {"max_diff": close(logits(reloaded, ids), trained, 1e-5, "reloaded vs trained")}


LORA_NAMES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "in_proj", "out_proj"]


def lora_model(c):
    from peft import LoraConfig, get_peft_model
    model = load(c.export)
    present = {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    targets = [n for n in LORA_NAMES if n in present]
    assert targets, f"no q_proj/v_proj-like linear layer among {sorted(present)}"
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=targets))
    ids = random_ids(model.config.vocab_size, (2, 12), 6)
    base = logits(peft_model.eval(), ids)
    train_steps(peft_model, c.work / "lora")
    trained = logits(peft_model.eval(), ids)
    assert max_diff(trained, base) > 1e-4, "LoRA training changed nothing"
    return peft_model, ids, trained, targets


def j_lora_adapter(c):
    """Train LoRA, save the adapter, reload base + adapter: the trained logits."""
    from peft import PeftModel
    peft_model, ids, trained, targets = lora_model(c)
    peft_model.save_pretrained(c.work / "adapter")
    reloaded = PeftModel.from_pretrained(load(c.export), c.work / "adapter").eval()
    return {"targets": targets, "max_diff": close(logits(reloaded, ids), trained, 1e-5, "base + adapter vs trained")}


def j_lora_merge(c):
    """Train LoRA, merge_and_unload, save, reload: the trained logits."""
    peft_model, ids, trained, _ = lora_model(c)
    merged = peft_model.merge_and_unload().eval()
    merged_diff = close(logits(merged, ids), trained, 1e-4, "merged vs trained")
    merged.save_pretrained(c.work / f"{c.preset}-merged")
    reloaded = load(c.work / f"{c.preset}-merged").eval()
    return {"merged_diff": merged_diff,
            "reloaded_diff": close(logits(reloaded, ids), logits(merged, ids), 1e-5, "reloaded merged vs merged")}


def j_sft(c):
    """TRL's SFTTrainer with its default SFTConfig (gradient checkpointing on, padding collator) on rows of
    different lengths."""
    import datasets
    from trl import SFTConfig, SFTTrainer
    config = SFTConfig(output_dir=str(c.work / "sft"), max_steps=3, per_device_train_batch_size=4, logging_steps=1,
                       report_to="none", save_strategy="no", use_cpu=True, disable_tqdm=True)
    assert config.gradient_checkpointing, "SFTConfig no longer checkpoints by default: the journey lost its point"
    data = datasets.Dataset.from_list([{"text": t} for t in rows(c.assets)[:8]])
    trainer = SFTTrainer(model=load(c.export), args=config, train_dataset=data, processing_class=tokenizer(c.assets))
    trainer.train()
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    assert losses, "no loss logged"
    finite(losses, "loss")
    return {"losses": losses}


def j_resize_for_cli(c):
    """resize_token_embeddings(n + 8), save_pretrained; the CLI side (eulerstack run --model) is checked by pytest
    against the logits saved here."""
    model = load(c.export)
    vocab = model.config.vocab_size
    model.resize_token_embeddings(vocab + 8)
    assert model.config.vocab_size == vocab + 8
    model.eval()
    target = c.work / f"{c.preset}-resized"
    model.save_pretrained(target)
    np.save(c.work / "resized_logits.npy", logits(model, torch.tensor([[1, 2, 3]])).numpy())
    return {"model": str(target), "logits": str(c.work / "resized_logits.npy")}


def eager_reference(c):
    model = load(c.export).eval()
    ids = random_ids(model.config.vocab_size, (2, 8), 7)
    return model, ids, logits(model, ids, use_cache=False)


def first_logits(out):
    return (out.logits if hasattr(out, "logits") else out[0]).float()


def j_torch_compile(c):
    model, ids, eager = eager_reference(c)
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    with torch.no_grad():
        out = first_logits(compiled(input_ids=ids, use_cache=False))
    return {"max_diff": close(out, eager, 1e-4, "torch.compile(fullgraph=True) vs eager")}


def exported_program(c):
    if "program" not in c.memo:
        model, ids, eager = eager_reference(c)
        with torch.no_grad():
            c.memo["program"] = torch.export.export(model, (ids,), {"use_cache": False}), ids, eager
    return c.memo["program"]


def j_torch_export(c):
    program, ids, eager = exported_program(c)
    with torch.no_grad():
        out = first_logits(program.module()(ids, use_cache=False))
    return {"max_diff": close(out, eager, 1e-4, "torch.export vs eager")}


def j_onnx(c):
    """torch.onnx.export(dynamo=True) of the torch.export program, run by onnxruntime. ONNX's graph optimizer is
    left out: it takes most of the time here and is no question of the model's."""
    program, ids, eager = exported_program(c)
    onnx_program = torch.onnx.export(program, dynamo=True, optimize=False)
    out = torch.as_tensor(np.asarray(onnx_program(ids)[0]))
    return {"max_diff": close(out, eager, 1e-4, "ONNX (onnxruntime) vs eager")}


JOURNEYS = {
    "dtypes": j_dtypes,
    "trainer": j_trainer,
    "gradient_checkpointing": j_gradient_checkpointing,
    "padding": j_padding,
    "generate": j_generate,
    "pipeline": j_pipeline,
    "attn_sdpa": attention_journey("sdpa"),
    "attn_flex": attention_journey("flex_attention"),
    "save_reload": j_save_reload,
    "lora_adapter": j_lora_adapter,
    "lora_merge": j_lora_merge,
    "sft": j_sft,
    "resize_for_cli": j_resize_for_cli,
    "torch_compile": j_torch_compile,
    "torch_export": j_torch_export,
    "onnx": j_onnx,
}


class Context:
    def __init__(self, export, assets, work):
        self.export, self.assets, self.work = Path(export), Path(assets), Path(work)
        self.preset = self.export.name
        self.memo = {}  # what journeys share: the torch.export program


def main(export, assets, work, out, names):
    context = Context(export, assets, work)
    context.work.mkdir(parents=True, exist_ok=True)
    results = {}
    for name in names.split(","):
        start = time.monotonic()
        try:
            results[name] = {"ok": True, "detail": JOURNEYS[name](context)}
        except Exception as error:  # a journey's failure is its result
            results[name] = {"ok": False, "error": f"{type(error).__name__}: {error}",
                             "traceback": traceback.format_exc()[-4000:]}
        results[name]["seconds"] = round(time.monotonic() - start, 2)
        Path(out).write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main(*sys.argv[1:6])
