"""Tests of the hyena plugin's Python twin (eulerstack_hyena.py).

Parity with the C++ module is checked end to end by eulerstack's
tests/python/test_out_of_tree_plugin.py (export, then transformers' logits
against `eulerstack run`); the C++ module's contract by `eulerstack plugins
test hyena` (the `conformance` test of this project). Here: the twin's
parameter layout, its FFT convolution, causality, the decay window and
decoding with a cache.
"""

import ast
import importlib.util
import math
import os
import sys
import types
from pathlib import Path
from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")

# The twin (EULERSTACK_TWIN: the build's copy) and the SDK module it imports relatively
# (EULERSTACK_PYTHON_SDK: where eulerstack_sdk.py is; in eulerstack's tree, core/hf_python).
HERE = Path(__file__).resolve()
TWIN = Path(os.environ.get("EULERSTACK_TWIN", HERE.parents[1] / "eulerstack_hyena.py"))
SDK = Path(os.environ.get("EULERSTACK_PYTHON_SDK", HERE.parents[4] / "core" / "hf_python"))
package = types.ModuleType("hyena_twin")  # the twin's package, as in an export: the twin beside the SDK module
package.__path__ = [str(TWIN.parent), str(SDK)]
sys.modules[package.__name__] = package
spec = importlib.util.spec_from_file_location("hyena_twin.twin", TWIN)
hyena = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = hyena
spec.loader.exec_module(hyena)

DEFAULTS = {"depth": 2, "filter_hidden": 64, "filter_decay": 0.0, "filter_bands": 4}  # hyena_plugin.cpp
MODEL = {"d_model": 16, "n_heads": 2, "max_seq_len": 64}


def make(seed=0, **params):
    torch.manual_seed(seed)
    ctx = SimpleNamespace(model=dict(MODEL), params={**DEFAULTS, **params}, n_layers=2, init_std=0.02)
    module = hyena.Hyena(ctx)
    with torch.no_grad():  # filters of order one, so that the long convolutions matter
        module.filter.fc2.weight.normal_(0.0, 0.3)
    return module.eval()


def run(module, x, offset=0, cache=None):
    return module(x, torch.arange(offset, offset + x.size(1)), None, cache)


def test_imports_only_torch_the_standard_library_and_the_sdk_module():
    roots = set()
    for node in ast.walk(ast.parse(TWIN.read_text())):
        if isinstance(node, ast.Import):
            roots.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            roots.add(node.module.split(".")[0] if node.level == 0 else "." * node.level + node.module)
    assert roots <= {"torch", "math", "typing", ".eulerstack_sdk"}


@pytest.mark.parametrize("depth,hidden,bands", [(1, 8, 1), (2, 64, 4), (3, 5, 2)])
def test_parameter_layout_and_count(depth, hidden, bands):
    module = make(depth=depth, filter_hidden=hidden, filter_bands=bands)
    d, features = MODEL["d_model"], 1 + 2 * bands
    expected = {
        "in_proj.weight": ((depth + 1) * d, d), "in_proj.bias": ((depth + 1) * d,),
        "filter.fc1.weight": (hidden, features), "filter.fc1.bias": (hidden,),
        "filter.fc2.weight": (depth * d, hidden),
        "out_proj.weight": (d, d), "out_proj.bias": (d,),
    }
    assert {n: tuple(p.shape) for n, p in module.named_parameters()} == expected
    # The descriptor's count formula (hyena_plugin.cpp), restated.
    count = (depth + 1) * d * d + (depth + 1) * d + features * hidden + hidden + hidden * depth * d + d * d + d
    assert sum(p.numel() for p in module.parameters()) == count


def test_fft_convolution_equals_the_direct_sum():
    g = torch.Generator().manual_seed(1)
    v, h = torch.randn(2, 9, 3, generator=g), torch.randn(9, 3, generator=g)
    direct = torch.stack([sum(h[k] * v[:, t - k] for k in range(t + 1)) for t in range(9)], 1)
    assert torch.allclose(hyena.causal_conv_tail(v, h, 0), direct, atol=1e-5)
    assert torch.allclose(hyena.causal_conv_tail(v, h, 8), direct[:, 8:], atol=1e-5)  # one new token: the sum


def test_causal():
    module = make()
    x = torch.randn(1, 12, MODEL["d_model"])
    changed = x.clone()
    changed[:, 7:] += 1.0
    with torch.no_grad():
        before, after = run(module, x), run(module, changed)
    # FFT round-off differs between the two inputs: equal up to float32 noise.
    assert (before[:, :7] - after[:, :7]).abs().max() < 1e-7
    assert (before[:, 7:] - after[:, 7:]).abs().max() > 1e-4


def test_decay_window_scales_the_filter_by_lag():
    plain, decayed = make(seed=3), make(seed=3, filter_decay=0.25)
    with torch.no_grad():
        ratio = decayed.filter(10, torch.device("cpu")) / plain.filter(10, torch.device("cpu"))
    expected = torch.exp(-0.25 * torch.arange(10.0)).view(10, 1, 1).expand_as(ratio)
    assert torch.allclose(ratio, expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("splits", [[12], [7, 1, 1, 1, 1, 1], [1] * 12, [4, 5, 3]])
def test_cached_decoding_equals_the_full_forward(splits):
    module = make(depth=3, filter_decay=0.05)
    x = torch.randn(2, 12, MODEL["d_model"])
    with torch.no_grad():
        full = run(module, x)
        cache, pieces, offset = module.new_cache(), [], 0
        for length in splits:
            pieces.append(run(module, x[:, offset:offset + length], offset, cache))
            offset += length
    assert torch.allclose(torch.cat(pieces, 1), full, atol=1e-5)
    assert [h.shape for h in cache.history] == [torch.Size([2, 12, MODEL["d_model"]])] * 3


def test_reorder_cache_selects_batch_rows():
    module = make()
    x = torch.randn(2, 5, MODEL["d_model"])
    with torch.no_grad():
        cache = module.new_cache()
        run(module, x, 0, cache)
        cache.reorder_cache(torch.tensor([1, 1]))
        step = torch.randn(1, 1, MODEL["d_model"]).expand(2, 1, -1)
        out = run(module, step, 5, cache)
        alone = module.new_cache()
        run(module, x[1:], 0, alone)
        assert torch.allclose(out[0], run(module, step[:1], 5, alone)[0], atol=1e-6)
    assert torch.equal(out[0], out[1])


def test_gradients_reach_every_parameter():
    module = make().train()
    run(module, torch.randn(2, 8, MODEL["d_model"])).pow(2).mean().backward()
    for name, p in module.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert math.isfinite(float(p.grad.abs().sum())), name


def test_conforms_to_the_twin_contract():
    """eulerstack's shipped checks: no nn.Module name shadowed, padding changes no real token (docs/PADDING.md)."""
    conformance = pytest.importorskip("eulerstack.twin_conformance")
    conformance.check_module_hygiene(make())
    conformance.check_mixer_padding(make, MODEL["d_model"])
    with pytest.raises(NotImplementedError, match="padding after tokens already in the cache"):
        module, cache = make(), hyena.HyenaCache()
        run(module, torch.randn(1, 3, MODEL["d_model"]), cache=cache)
        module(torch.randn(1, 2, MODEL["d_model"]), torch.arange(3, 5), None, cache,
               padding_mask=torch.tensor([[False, True]]))
