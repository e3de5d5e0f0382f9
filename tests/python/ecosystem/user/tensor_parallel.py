"""torchrun worker: every export loaded with transformers' tensor-parallel plan (tp_plan="auto", 2 ranks, gloo):
the config names a base_model_tp_plan, and the logits equal those of the same export loaded on one rank.
Rank 0 writes {preset: outcome} as JSON.

usage: torchrun --standalone --nproc_per_node=2 tensor_parallel.py OUT_JSON EXPORT_DIR..."""
import json
import os
import sys
import traceback
from pathlib import Path

os.environ["HF_MODULES_CACHE"] = os.path.join(os.environ["HF_MODULES_CACHE"], f"rank{os.environ['RANK']}")

import torch
import torch.distributed as dist
from torch.distributed.tensor import DTensor
from transformers import DistributedConfig

from journey_kit import close, load, logits, random_ids


def run_case(export):
    single = load(export).eval()
    plan = single.config.base_model_tp_plan
    assert plan, f"config.base_model_tp_plan is {plan!r}"
    ids = random_ids(single.config.vocab_size, (2, 10), 8)
    expected = logits(single, ids)
    # tp_plan="auto" as a from_pretrained argument is deprecated in favour of this spelling.
    sharded = load(export, distributed_config=DistributedConfig(tp_plan="auto")).eval()
    assert any(isinstance(p, DTensor) for p in sharded.parameters()), "tp_plan='auto' sharded no parameter"
    got = logits(sharded, ids)
    got = got.full_tensor() if isinstance(got, DTensor) else got
    return {"plan": plan, "max_diff": close(got, expected, 1e-4, "2-rank tensor parallel vs 1 rank")}


def main(out, *exports):
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    results = {}
    for export in map(Path, exports):
        dist.barrier()
        try:
            outcome = {"ok": True, "detail": run_case(export)}
        except Exception as error:
            outcome = {"ok": False, "error": f"rank {rank}: {type(error).__name__}: {error}",
                       "traceback": traceback.format_exc()[-3000:]}
        everyone = [None] * dist.get_world_size()
        dist.all_gather_object(everyone, outcome)
        failed = [o for o in everyone if not o["ok"]]
        results[export.name] = {**(failed[0] if failed else everyone[0]), "done": True}
        if rank == 0:
            Path(out).write_text(json.dumps(results, indent=1, default=str))
    dist.destroy_process_group()


if __name__ == "__main__":
    main(*sys.argv[1:])
