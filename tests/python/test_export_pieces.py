"""The export draws large parameters in pieces on several threads: the bytes do
not depend on the thread count, and the streamed pieces are exactly the values
the in-memory model gets from the same seed."""
import numpy as np

from test_spec_corpus import VALID

# The corpus's base spec, widened: its tied embedding, 70000 x 256 = 17.9M elements, is over 2^24: two pieces.
MODEL = "model: {name: tiny, d_model: 64, vocab_size: 256, max_seq_len: 128, n_heads: 2, n_kv_heads: 1}"
assert MODEL in VALID
SPEC = VALID.replace(MODEL, "model: {name: pieces, d_model: 256, vocab_size: 70000, max_seq_len: 128, n_heads: 4, "
                            "n_kv_heads: 1, dtype: float32}")


def test_thread_count_leaves_the_bytes_and_the_values_unchanged(cli, tmp_path):
    spec = tmp_path / "pieces.yml"
    spec.write_text(SPEC)
    for threads in (1, 3):
        r = cli("compile", spec, "--output-dir", tmp_path / f"t{threads}", "--threads", threads)
        assert r.returncode == 0, r.stderr
    one, three = ((tmp_path / f"t{n}" / "model.safetensors").read_bytes() for n in (1, 3))
    assert one == three

    tokens = ("--tokens", "1,2,3,69999")
    assert cli("run", spec, *tokens, "--logits-out", tmp_path / "memory.npy").returncode == 0
    r = cli("run", "--model", tmp_path / "t3", *tokens, "--logits-out", tmp_path / "streamed.npy")
    assert r.returncode == 0, r.stderr
    assert np.array_equal(np.load(tmp_path / "memory.npy"), np.load(tmp_path / "streamed.npy"))


def test_threads_must_be_positive(cli, tmp_path):
    r = cli("compile", "--preset", "gpt2_style_mini", "--output-dir", tmp_path / "out", "--threads", "0")
    assert r.returncode == 2
    assert "--threads needs 1 <= N <= 1024" in r.stderr
    assert not (tmp_path / "out").exists()
