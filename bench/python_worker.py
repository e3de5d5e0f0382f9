"""A Python contender for bench/run.py, speaking the protocol of
runtime_worker.cpp (one request per stdin line, one JSON line back):

    python_worker.py exported MODEL_DIR DTYPE THREADS           our HF export, loaded by transformers
    python_worker.py peer FAMILY IR_JSON PARAMS DTYPE THREADS     transformers' own implementation (peers.py)

Decode is timed with a logits processor that stamps every generated token:
the N steps after the prefill, generate()'s own loop included, as users run it."""
import json
import os
import sys
import time

import torch
from transformers import AutoModelForCausalLM, LogitsProcessor, LogitsProcessorList

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class StepClock(LogitsProcessor):
    def __init__(self):
        self.stamps = []

    def __call__(self, input_ids, scores):
        self.stamps.append(time.perf_counter())
        return scores


def status_kib(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def load(argv):
    kind = argv[0]
    if kind == "exported":
        model_dir, dtype, threads = argv[1], argv[2], int(argv[3])
        torch.set_num_threads(threads)
        model = AutoModelForCausalLM.from_pretrained(model_dir, trust_remote_code=True, dtype=DTYPES[dtype])
    else:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import peers
        family, ir_file, params, dtype, threads = argv[1], argv[2], int(argv[3]), argv[4], int(argv[5])
        torch.set_num_threads(threads)
        with open(ir_file) as f:
            model_class, config, _ = peers.build(family, json.load(f), params)
        model = model_class(config).to(DTYPES[dtype])
    model.eval()
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = 0
    return model


def tokens(model, count):
    return torch.randint(model.config.vocab_size, (1, count))


def serve(model):
    for line in sys.stdin:
        request = line.split()
        if not request:
            continue
        with torch.inference_mode():
            if request[0] == "prefill":
                ids = tokens(model, int(request[1]))
                start = time.perf_counter()
                model(ids, use_cache=True)
                reply = {"seconds": time.perf_counter() - start}
            elif request[0] == "decode":
                prompt, steps = int(request[1]), int(request[2])
                clock = StepClock()
                model.generate(tokens(model, prompt), max_new_tokens=steps + 1, min_new_tokens=steps + 1,
                               do_sample=False, logits_processor=LogitsProcessorList([clock]))
                reply = {"seconds": clock.stamps[-1] - clock.stamps[0]}
            elif request[0] == "memory":
                ids = tokens(model, int(request[1]))
                with open("/proc/self/clear_refs", "w") as f:
                    f.write("5")
                before = status_kib("VmRSS")
                model(ids, use_cache=True)
                reply = {"peak_rss_delta": (status_kib("VmHWM") - before) * 1024}
            elif request[0] == "params":
                reply = {"params": sum(p.numel() for p in model.parameters())}
            else:
                reply = {"error": "unknown request: " + request[0]}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    model = load(sys.argv[1:])
    print(json.dumps({"ready": True}), flush=True)
    serve(model)
