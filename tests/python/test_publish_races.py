"""Publishing an export never removes what it was not told to replace (issue 18,
docs/CLI.md#what-is-never-deleted): a directory that appears while the export runs is kept and the
export fails; of two exports racing for one new name exactly one wins; `--force` does not reach
into a mount point; legal long names work. Also: a stop signal during `run --logits-out` leaves
no temporary file, whichever thread it reaches."""
import os
import signal
import subprocess
import time

import pytest

from conftest import EXE, clean_env


def export(target, *extra, preset="gpt2_style_mini"):
    return subprocess.Popen([str(EXE), "compile", "--preset", preset, "--output-dir", str(target), *map(str, extra)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env())


def wait_for_weights(parent, name, proc):
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if any(p.stat().st_size > 0 for p in parent.glob(f".{name}.partial-*/model*.safetensors")):
            return
        time.sleep(0.02)
    raise AssertionError("the export never started writing weights")


def test_a_directory_that_appears_during_the_export_is_kept(tmp_path):
    target = tmp_path / "big"
    proc = export(target, preset="arch_expert_research")
    wait_for_weights(tmp_path, "big", proc)
    target.mkdir()
    (target / "mine.txt").write_text("mine")
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 4, err
    assert f"IOError: {target} appeared while the output was written" in err
    assert sorted(os.listdir(tmp_path)) == ["big"] and os.listdir(target) == ["mine.txt"]


def test_of_two_exports_to_one_new_name_exactly_one_wins(tmp_path):
    target = tmp_path / "model"
    procs = [export(target, "--seed", seed, preset="llama_style_mini") for seed in (1, 2)]
    results = [(p, *p.communicate(timeout=300)) for p in procs]
    codes = sorted(p.returncode for p, _, _ in results)
    assert codes == [0, 4], [err for _, _, err in results]
    [(winner, _, _)] = [r for r in results if r[0].returncode == 0]
    [(_, _, loser_err)] = [r for r in results if r[0].returncode == 4]
    assert "appeared while the output was written" in loser_err
    seed = 1 if winner is procs[0] else 2
    assert f'"eulerstack_seed": {seed}' in (target / "config.json").read_text()
    assert sorted(os.listdir(tmp_path)) == ["model"]  # the loser left nothing


@pytest.mark.parametrize("length", [240, 255])
def test_an_export_to_a_long_legal_name_works(tmp_path, length):
    target = tmp_path / ("d" * length)
    proc = export(target)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert (target / "config.json").is_file() and os.listdir(tmp_path) == [target.name]


def test_force_does_not_remove_what_is_mounted_inside(tmp_path):
    target = tmp_path / "model"
    inner = target / "mounted"
    inner.mkdir(parents=True)
    if subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(inner)], capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        (inner / "theirs.txt").write_text("theirs")
        proc = export(target, "--force")
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 4, err
        assert f"{target} holds a mount point, {inner}" in err
        assert (inner / "theirs.txt").read_text() == "theirs"
    finally:  # wherever the mount ended up (an export that moved the directory took it along)
        with open("/proc/self/mounts") as mounts:
            points = [line.split()[1] for line in mounts if line.split()[1].startswith(str(tmp_path))]
        for point in reversed(points):
            subprocess.run(["umount", "-l", point])


def test_a_stop_signal_during_logits_out_leaves_no_temporary_file(tmp_path):
    out = tmp_path / "logits.npy"
    tokens = " ".join(["1"] * 1024)
    proc = subprocess.Popen([str(EXE), "run", "--preset", "llama_style_mini", "--tokens", ";".join([tokens] * 8),
                             "--threads", "4", "--logits-out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env())
    deadline = time.time() + 300
    sent = False
    while time.time() < deadline and proc.poll() is None:
        if list(tmp_path.glob(".logits.npy.tmp-*")):
            proc.send_signal(signal.SIGTERM)
            sent = True
            break
        time.sleep(0.001)
    proc.communicate(timeout=300)
    if not sent:
        pytest.skip("the logits were written before a signal could be sent")
    assert proc.returncode == -signal.SIGTERM
    assert list(tmp_path.glob(".logits.npy.tmp-*")) == []
    assert os.listdir(tmp_path) == ["logits.npy"]  # the signal took effect once the file was in place
