"""`accelerate launch` worker: for every export, Accelerator.prepare(model, optimizer, dataloader) and a few
steps with accelerator.backward; rank 0 writes {preset: outcome} as JSON.

usage: accelerate launch --config_file CONFIG accelerate_train.py OUT_JSON EXPORT_DIR..."""
import json
import os
import sys
import traceback
from datetime import timedelta
from pathlib import Path

os.environ["HF_MODULES_CACHE"] = os.path.join(os.environ["HF_MODULES_CACHE"], f"rank{os.environ.get('RANK', 0)}")

import torch
from accelerate import Accelerator
from accelerate.utils import InitProcessGroupKwargs

from journey_kit import load, random_ids

STEPS = 3


def run_case(accelerator, export):
    model = load(export)
    rows = random_ids(model.config.vocab_size, (8 * STEPS, 16), 9)  # split over the 2 processes
    loader = torch.utils.data.DataLoader(rows, batch_size=4, shuffle=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    model.train()
    losses = []
    for _, ids in zip(range(STEPS), loader):
        loss = model(input_ids=ids, labels=ids).loss
        accelerator.backward(loss)
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert len(losses) == STEPS and all(torch.isfinite(torch.tensor(losses))), losses
    return {"losses": losses}


def main(out, *exports):
    # cpu=True: accelerate picks gloo and MULTI_CPU only when asked for the CPU (see test_accelerate.py).
    accelerator = Accelerator(cpu=True, kwargs_handlers=[InitProcessGroupKwargs(timeout=timedelta(seconds=60))])
    processes = {"num_processes": accelerator.num_processes, "distributed_type": str(accelerator.distributed_type)}
    results = {}
    for export in map(Path, exports):
        accelerator.wait_for_everyone()
        try:
            outcome = {"ok": True, "detail": run_case(accelerator, export)}
        except Exception as error:
            outcome = {"ok": False, "error": f"rank {accelerator.process_index}: {type(error).__name__}: {error}",
                       "traceback": traceback.format_exc()[-3000:]}
        everyone = [None] * accelerator.num_processes
        torch.distributed.all_gather_object(everyone, outcome)
        failed = [o for o in everyone if not o["ok"]]
        results[export.name] = {**(failed[0] if failed else everyone[0]), **processes, "done": True}
        if accelerator.is_main_process:
            Path(out).write_text(json.dumps(results, indent=1))
        accelerator.free_memory()


if __name__ == "__main__":
    main(*sys.argv[1:])
