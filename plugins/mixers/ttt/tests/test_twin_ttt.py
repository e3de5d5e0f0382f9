"""The Python twin of the ttt plugin (plugins/mixers/ttt/eulerstack_ttt.py).

Mirrors tests/test_ttt.cpp on the Python side, and checks the written-out inner step against torch
itself: a row read token by token with autograd and torch.optim.SGD / torch.optim.AdamW on a copy of
the inner model gives the twin's outputs. Cross-language parity is checked through the exporter
(tests/python/test_hf_export.py runs this folder's valid spec cases).
"""

import copy
import sys
from functools import partial
from pathlib import Path

import pytest

from twin_support import block_context, imported_roots, inputs, load_twin, model_section, positions

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT / "python"))
from eulerstack.twin_conformance import check_mixer_padding, check_module_hygiene  # noqa: E402

TWIN = Path(__file__).resolve().parents[1] / "eulerstack_ttt.py"
twin = load_twin(TWIN)

DEFAULTS = {"inner_model": {"type": "mlp", "hidden": 256}, "inner_optimizer": "sgd", "inner_lr": 0.01,
            "inner_steps_per_token": 1}  # ttt_plugin.cpp
context = partial(block_context, DEFAULTS)
D = 64


def ttt(inner="mlp", optimizer="sgd", lr=0.05, steps=1, hidden=24, seed=7):
    torch.manual_seed(seed)
    return twin.Ttt(context({"inner_model": {"type": inner, "hidden": hidden}, "inner_optimizer": optimizer,
                             "inner_lr": lr, "inner_steps_per_token": steps}))


VARIANTS = [("mlp", "sgd", 0.05, 1), ("linear", "sgd", 0.05, 1), ("mlp", "adamw", 0.01, 2), ("linear", "adamw", 0.02, 1)]


def run(mixer, x, offset=0, cache=None, padding_mask=None):
    return mixer(x, positions(offset, x.size(1)), None, cache, padding_mask)


def formula_count(inner, hidden):
    """ttt_plugin.cpp's count_ttt, restated."""
    inner_weights = D * D + D if inner == "linear" else 2 * hidden * D + hidden + D
    return 2 * D + 3 * D * D + inner_weights


def test_imports_only_torch_the_standard_library_and_the_sdk_module():
    assert imported_roots(TWIN) <= {"torch", "math", "typing", "eulerstack_sdk"}


@pytest.mark.parametrize("inner", ["mlp", "linear"])
def test_count_names_and_init(inner):
    mixer = ttt(inner)
    assert sum(p.numel() for p in mixer.parameters()) == formula_count(inner, 24)
    names = [n for n, _ in mixer.named_parameters()]
    inner_names = (["inner.fc1.weight", "inner.fc1.bias", "inner.fc2.weight", "inner.fc2.bias"] if inner == "mlp"
                   else ["inner.weight", "inner.bias"])
    assert names == ["norm.weight", "norm.bias", "in_proj.weight", "target_proj.weight", "out_proj.weight",
                     *inner_names]  # the C++ module's order
    assert torch.equal(mixer.norm.weight, torch.ones(D)) and not mixer.norm.bias.any()
    assert dict(mixer.named_buffers()) == {}


@pytest.mark.parametrize("inner", ["mlp", "linear"])
def test_the_written_out_gradients_are_autograds(inner):
    torch.manual_seed(1)
    rows, hidden = 3, 5
    shapes = [(rows, hidden, D), (rows, hidden), (rows, D, hidden), (rows, D)] if inner == "mlp" else \
        [(rows, D, D), (rows, D)]
    weights = [torch.randn(s, dtype=torch.float64, requires_grad=True) for s in shapes]
    u, target = torch.randn(rows, D, dtype=torch.float64), torch.randn(rows, D, dtype=torch.float64)
    mlp = inner == "mlp"
    loss = ((twin._predict(mlp, weights, u)[0] - target) ** 2).mean(1).sum()
    expected = torch.autograd.grad(loss, weights)
    for got, want in zip(twin._gradients(mlp, weights, u, target), expected):
        assert torch.allclose(got, want, atol=1e-10)


def torch_reference(mixer, x, optimizer_name, lr, steps):
    """One row read token by token: a copy of the inner model, torch.nn.functional.mse_loss, torch's own optimizer."""
    with torch.no_grad():
        h = torch.nn.functional.layer_norm(x, (D,), mixer.norm.weight, mixer.norm.bias, 1e-5)
        q, target = h @ mixer.in_proj.weight.t(), h @ mixer.target_proj.weight.t()
    inner = copy.deepcopy(mixer.inner)
    params = list(inner.initial())

    def predict(u):
        if mixer.mlp:
            return torch.nn.functional.linear(torch.nn.functional.gelu(torch.nn.functional.linear(u, params[0], params[1])),
                                              params[2], params[3])
        return torch.nn.functional.linear(u, params[0], params[1])

    optimizer = (torch.optim.SGD(params, lr=lr) if optimizer_name == "sgd"
                 else torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01))
    outputs = []
    for t in range(x.size(0)):
        for _ in range(steps):
            optimizer.zero_grad()
            torch.nn.functional.mse_loss(predict(q[t]), target[t]).backward()
            optimizer.step()
        with torch.no_grad():
            outputs.append(predict(q[t]))
    with torch.no_grad():
        return torch.stack(outputs) @ mixer.out_proj.weight.t()


@pytest.mark.parametrize("inner,optimizer,lr,steps", VARIANTS)
def test_equals_reading_the_row_with_torchs_own_optimizer(inner, optimizer, lr, steps):
    mixer = ttt(inner, optimizer, lr, steps)
    x = inputs(2, 7, D)
    got = run(mixer, x)
    for row in range(2):
        expected = torch_reference(mixer, x[row], optimizer, lr, steps)
        assert (got[row] - expected).abs().max() < 1e-5


@pytest.mark.parametrize("inner,optimizer,lr,steps", VARIANTS)
def test_causal_and_prefill_plus_steps_equal_the_full_forward(inner, optimizer, lr, steps):
    mixer = ttt(inner, optimizer, lr, steps)
    x = inputs(2, 12, D)
    full = run(mixer, x)
    changed = x.clone()
    changed[:, 8:] = inputs(2, 4, D, seed=9)
    assert torch.equal(run(mixer, changed)[:, :8], full[:, :8])
    cache = mixer.new_cache()
    pieces = [run(mixer, x[:, :5], 0, cache)] + [run(mixer, x[:, t:t + 1], t, cache) for t in range(5, 12)]
    assert (torch.cat(pieces, 1) - full).abs().max() < 1e-5


@pytest.mark.parametrize("inner,optimizer,lr,steps", VARIANTS)
def test_padding_changes_no_real_token_and_the_cache_continues(inner, optimizer, lr, steps):
    check_mixer_padding(partial(ttt, inner, optimizer, lr, steps), D)


def test_learns_under_no_grad_and_inference_mode_as_with_grad_and_training_reaches_every_parameter():
    mixer = ttt("mlp", "adamw", 0.01)
    x = inputs(2, 6, D)
    with_grad = run(mixer, x)
    with torch.no_grad():
        assert torch.equal(run(mixer, x), with_grad)
    with torch.inference_mode():
        assert torch.equal(run(mixer, x), with_grad)
    with_grad.square().sum().backward()
    for name, p in mixer.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_the_cache_follows_beam_search():
    mixer = ttt("linear", "adamw", 0.02)
    x = inputs(2, 4, D)
    cache = mixer.new_cache()
    run(mixer, x, 0, cache)
    swapped = mixer.new_cache()
    run(mixer, x.flip(0), 0, swapped)
    cache.reorder_cache(torch.tensor([1, 0]))
    step = inputs(2, 1, D, seed=4)
    assert torch.allclose(run(mixer, step, 4, cache), run(mixer, step, 4, swapped))
    cache.batch_repeat_interleave(2)
    assert cache.weights[0].size(0) == 4 and cache.steps.size(0) == 4
    cache.batch_select_indices(torch.tensor([0, 3]))
    assert cache.first_moment[0].size(0) == 2


def test_a_cache_of_another_batch_is_refused():
    mixer = ttt()
    cache = mixer.new_cache()
    run(mixer, inputs(2, 3, D), 0, cache)
    with pytest.raises(ValueError, match="the cache holds 2 rows, this call 3"):
        run(mixer, inputs(3, 1, D), 3, cache)


def test_is_an_ordinary_module():
    check_module_hygiene(ttt())
