"""The C++ runtime against transformers: prefill and decode per family, the
Mamba2 memory case, and how cost grows with length."""
import json
import subprocess

from workers import BUILD, ROOT, alternate, cpp_worker, exported_worker, peer_worker


class Family:
    """A benchmark spec exported once (float32 weights; workers cast to the dtype under test)."""

    def __init__(self, name, spec, work_dir):
        self.name = name
        exe = str(BUILD / "cli" / "eulerstack")
        self.model_dir = work_dir / name
        if not (self.model_dir / "config.json").exists():
            subprocess.run([exe, "compile", "--preset", str(spec), "--output-dir", str(self.model_dir), "--force"],
                           check=True, capture_output=True)
        ir = json.loads(subprocess.run([exe, "compile", "--preset", str(spec), "--print-config"], check=True,
                                       capture_output=True, text=True).stdout)
        self.params = ir["params"]["total"]
        self.ir_file = work_dir / f"{name}.ir.json"
        self.ir_file.write_text(json.dumps(ir))

    def workers(self, dtype, threads, peer=True):
        chosen = [cpp_worker(self.model_dir, dtype, threads), exported_worker(self.model_dir, dtype, threads)]
        if peer:
            chosen.append(peer_worker(self.name, self.ir_file, self.params, dtype, threads))
        return chosen


def close_all(workers):
    for w in workers:
        w.close()


def floor(cpp, tokens, repeats):
    """Seconds of the model's unavoidable matrix products for `tokens` tokens (runtime_worker.cpp's gemm_floor)."""
    return alternate([cpp], f"floor {tokens}", repeats)[cpp.name]


def speed(family, dtypes, thread_counts, prefill_lengths, decode, repeats):
    """Rows of median seconds per contender for each prefill length and for decoding."""
    rows = []
    prompt, steps = decode
    for dtype in dtypes:
        for threads in thread_counts:
            workers = family.workers(dtype, threads)
            try:
                alternate(workers, f"prefill {min(prefill_lengths)}", 1)  # warm-up, not recorded
                for length in prefill_lengths:
                    rows.append({"family": family.name, "dtype": dtype, "threads": threads, "case": f"prefill {length}",
                                 "seconds": alternate(workers, f"prefill {length}", repeats),
                                 "floor": floor(workers[0], length, repeats)})
                seconds = alternate(workers, f"decode {prompt} {steps}", repeats)
                rows.append({"family": family.name, "dtype": dtype, "threads": threads,
                             "case": f"decode {steps} after {prompt}", "seconds": seconds, "tokens": steps,
                             "floor": floor(workers[0], 1, repeats) * steps})
            finally:
                close_all(workers)
    return rows


def memory(family, length, dtype, threads):
    """Peak RSS growth over one prefill, each contender alone in a fresh process."""
    result = {}
    for make in (lambda: cpp_worker(family.model_dir, dtype, threads),
                 lambda: peer_worker(family.name, family.ir_file, family.params, dtype, threads)):
        worker = make()
        try:
            result[worker.name] = worker.ask(f"memory {length}")["peak_rss_delta"]
        finally:
            worker.close()
    return result


def scaling(family, dtype, threads, prefill_lengths, decode_prompts, steps, repeats):
    """The C++ runtime alone: prefill seconds per length, decode seconds per token per prompt length."""
    worker = cpp_worker(family.model_dir, dtype, threads)
    try:
        worker.ask(f"prefill {min(prefill_lengths)}")
        prefill = {n: alternate([worker], f"prefill {n}", repeats)[worker.name] for n in prefill_lengths}
        per_token = {p: alternate([worker], f"decode {p} {steps}", repeats)[worker.name] / steps for p in decode_prompts}
    finally:
        worker.close()
    return {"family": family.name, "prefill": prefill, "decode_per_token": per_token}
