"""The multi-process launchers a researcher uses, run from the user's venv: torchrun and accelerate launch
(2 processes, gloo over loopback)."""
import json
import socket

import pytest

from ecosystem.user_venv import USER_SCRIPTS, run_user, tail

LAUNCH_TIMEOUT = 900


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def accelerate_config(path):
    # distributed_type MULTI_CPU makes `accelerate launch` start one process unless it may call mpirun; MULTI_GPU
    # selects its torchrun launcher, and the script's Accelerator(cpu=True) then runs MULTI_CPU over gloo.
    path.write_text(f"""compute_environment: LOCAL_MACHINE
distributed_type: MULTI_GPU
num_processes: 2
num_machines: 1
machine_rank: 0
main_process_ip: 127.0.0.1
main_process_port: {free_port()}
rdzv_backend: static
same_network: true
mixed_precision: 'no'
use_cpu: true
gpu_ids: all
debug: false
""")
    return path


def launch(python, launcher, script, exports, home, relaunches=4):
    """Runs `script` under `launcher` ("torchrun" or "accelerate") over every export; what rank 0 wrote,
    {preset: outcome, with "done" once the preset is through}. A collective mismatch aborts a launch (gloo
    terminates the process), so the preset it was on is marked crashed and the rest run in a new launch."""
    results, remaining, crashes = {}, list(exports), 0
    while remaining:
        part, died = _launch_once(python, launcher, script, [exports[p] for p in remaining], home / f"launch-{crashes}")
        results.update(part)
        remaining = [p for p in remaining if not part.get(p, {}).get("done")]
        if not remaining or died is None:
            break
        crashes += 1
        crashed = remaining.pop(0)
        results[crashed] = {**part.get(crashed, {}), "crashed": died}
        if crashes > relaunches:
            results.update({p: {"crashed": f"not run: {crashes} launches crashed"} for p in remaining})
            break
    return results


def _launch_once(python, launcher, script, exports, home):
    home.mkdir(parents=True, exist_ok=True)
    out = home / "results.json"
    if launcher == "torchrun":
        command = "-m torch.distributed.run --standalone --nproc_per_node=2"
    else:
        command = f"-m accelerate.commands.launch --config_file {accelerate_config(home / 'accelerate.yaml')}"
    r = run_user(python, command, USER_SCRIPTS / script, out, *exports, home=home, timeout=LAUNCH_TIMEOUT)
    results = json.loads(out.read_text()) if out.exists() else {}
    return results, None if r.returncode == 0 else f"exit {r.returncode}: {crash_summary(r.stdout + r.stderr)}"


def crash_summary(output):
    """The lines that say why a launch died (gloo's what(), the ranks' errors), not torchrun's report around them."""
    lines = output.splitlines()
    started = [line for line in lines if "starting: " in line][-1:]
    errors = [line for line in lines
              if "what():" in line or ("Error" in line and "[rank" in line and "Traceback" not in line)]
    return "\n".join(dict.fromkeys(started + errors)) or tail(output)


def outcome_of(results, preset, part=None):
    """The outcome of `preset` (of its `part`, e.g. one engine, when given)."""
    outcome = results.get(preset)
    if outcome is None:
        pytest.fail(f"no result for {preset}")
    if part is not None and part in outcome:
        return outcome[part]
    if "crashed" in outcome:
        pytest.fail(f"the launch crashed during {preset}: {outcome['crashed']}")
    if part is not None:
        pytest.fail(f"{preset} has no {part} result")
    return outcome
