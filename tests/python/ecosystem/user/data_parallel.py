"""torchrun worker: for every export, a few steps of DDP (no find_unused_parameters) and of FSDP2 (fully_shard per
decoder layer, then the root), each rank on its own tiny batch (so some expert gets no token on some rank); then
parameters and buffers must be identical across ranks. Rank 0 writes {preset: {engine: outcome}} as JSON.

usage: torchrun --standalone --nproc_per_node=2 data_parallel.py OUT_JSON EXPORT_DIR..."""
import json
import os
import re
import sys
import traceback
from datetime import timedelta
from pathlib import Path

# Each rank copies the exports' code into its own module cache: two ranks writing one cache would race.
os.environ["HF_MODULES_CACHE"] = os.path.join(os.environ["HF_MODULES_CACHE"], f"rank{os.environ['RANK']}")

import torch
import torch.distributed as dist
from torch.distributed.device_mesh import DeviceMesh
from torch.distributed.fsdp import fully_shard
from torch.distributed.tensor import DTensor
from torch.nn.parallel import DistributedDataParallel

from journey_kit import decoder_layers, load, random_ids

STEPS = 3
# A hung collective (ranks that disagree on what to reduce) fails its case after this long, not the whole run.
CASE_TIMEOUT = timedelta(seconds=30)


def tiny_batch(vocab, rank, step):
    # One row of 2 tokens on rank 0 (at most 4 of the experts' slots at top-2), 5 on rank 1.
    return random_ids(vocab, (1, 2 if rank == 0 else 5), 100 * rank + step)


def watch_experts(model):
    """The names of the expert modules (experts.N), and the set that collects those called with tokens."""
    experts, fed = set(), set()
    for name, module in model.named_modules():
        if re.search(r"(^|\.)experts\.\d+$", name):
            experts.add(name)
            module.register_forward_pre_hook(
                lambda _, inputs, name=name: fed.add(name) if inputs and inputs[0].shape[0] > 0 else None)
    return experts, fed


def train(model, module, rank):
    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-2)
    experts, fed = watch_experts(model)
    idle, losses = 0, []
    for step in range(STEPS):
        fed.clear()
        ids = tiny_batch(model.config.vocab_size, rank, step)
        loss = module(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
        idle += len(experts - fed)
    assert all(torch.isfinite(torch.tensor(losses))), f"rank {rank}: losses {losses}"
    return losses, len(experts), idle


def ddp(export, group, rank):
    model = load(export)
    model.train()
    return model, train(model, DistributedDataParallel(model, process_group=group), rank)


def fsdp2(export, group, rank):
    model = load(export)
    model.train()
    mesh = DeviceMesh.from_group(group, "cpu")
    layers = decoder_layers(model)
    assert layers, "no decoder layer found by _no_split_modules"
    for layer in layers:
        fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    return model, train(model, model, rank)


def differing_state(model, group):
    """Names of the parameters and buffers whose values differ across ranks."""
    named = [(n, p.full_tensor() if isinstance(p, DTensor) else p) for n, p in model.named_parameters()]
    named += [(n, b.full_tensor() if isinstance(b, DTensor) else b) for n, b in model.named_buffers()]
    mine = torch.cat([t.detach().reshape(-1).to(torch.float64) for _, t in named])
    everyone = [torch.empty_like(mine) for _ in range(dist.get_world_size(group))]
    dist.all_gather(everyone, mine, group=group)
    differing, offset = [], 0
    for name, tensor in named:
        part = slice(offset, offset + tensor.numel())
        offset += tensor.numel()
        if any(not torch.equal(other[part], everyone[0][part]) for other in everyone[1:]):
            differing.append(name)
    return differing


def run_case(engine, export, rank):
    group = dist.new_group(backend="gloo", timeout=CASE_TIMEOUT)
    model, (losses, experts, idle) = {"ddp": ddp, "fsdp2": fsdp2}[engine](export, group, rank)
    differing = differing_state(model, group)
    assert not differing, f"differ across ranks after {STEPS} steps: {differing[:12]}"
    idle_everywhere = [None] * dist.get_world_size(group)
    dist.all_gather_object(idle_everywhere, idle, group=group)
    # Otherwise the case would not test what it is for.
    assert not experts or sum(idle_everywhere) > 0, "every expert got tokens on every rank at every step"
    return {"losses": losses, "experts": experts, "idle_expert_steps": idle_everywhere}


def main(out, *exports):
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    results = {}
    for export in map(Path, exports):
        engines = results[export.name] = {}
        for engine in ("ddp", "fsdp2"):
            dist.barrier()
            if rank == 0:
                print(f"starting: {export.name} {engine}", flush=True)
            try:
                outcome = {"ok": True, "detail": run_case(engine, export, rank)}
            except Exception as error:  # the case's result; the next case gets a fresh group
                outcome = {"ok": False, "error": f"rank {rank}: {type(error).__name__}: {error}",
                           "traceback": traceback.format_exc()[-3000:]}
            everyone = [None] * dist.get_world_size()
            dist.all_gather_object(everyone, outcome)
            failed = [o for o in everyone if not o["ok"]]
            engines[engine] = failed[0] if failed else everyone[0]
            engines["done"] = engine == "fsdp2"
            if rank == 0:
                Path(out).write_text(json.dumps(results, indent=1))
    dist.destroy_process_group()


if __name__ == "__main__":
    main(*sys.argv[1:])
