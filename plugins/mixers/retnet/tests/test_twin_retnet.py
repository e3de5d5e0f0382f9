"""The Python twin of the retnet mixer (plugins/mixers/retnet/eulerstack_retnet.py).

Mirrors plugins/mixers/retnet/tests/test_retnet.cpp on the Python side: parameter layout and
count, the agreement of its parallel, chunkwise and recurrent forms, decoding with
a cache (chunked prefill, then single steps), causality, its own rotation against
a naive double-precision reference, per-head decays, dtypes and gradients.
Cross-language parity is checked through the exporter (test_hf_export.py).
"""

import math
from functools import partial
from types import SimpleNamespace

import pytest

from twin_support import (PLUGINS, ModuleCatalog, SpyPositional, block_context, imported_roots, inputs, load_twin,
                          model_section, positions, relative_diff, sharpen, weights)

torch = pytest.importorskip("torch")

TWIN = PLUGINS / "mixers" / "retnet" / "eulerstack_retnet.py"

twin = load_twin(TWIN)

DEFAULTS = {"chunkwise": True, "chunk_size": 64, "rope": True, "value_factor": 1}  # retnet_plugin.cpp

# core's ModuleContext for a retnet block: retnet references nothing, so it builds no routers.
context = partial(block_context, DEFAULTS, builder=ModuleCatalog(owner="retnet"))


def retnet(params=None, model=None, seed=7, dtype=torch.float32):
    torch.manual_seed(seed)
    module = twin.RetNet(context(params, model)).to(dtype)
    sharpen(module, 5.0)  # q.k of order one: init_std 0.02 hides differences between the forms
    return module


def full(module, x, offset=0):
    return module(x, positions(offset, x.size(1)), SpyPositional())


def cached(module, x, pieces=()):
    """Feeds x through one cache in calls of `pieces` tokens, then one token at a time."""
    cache = module.new_cache()
    outputs = []
    done = 0

    def feed(length):
        nonlocal done
        outputs.append(module(x.narrow(1, done, length), positions(done, length), SpyPositional(), cache))
        done += length

    for length in pieces:
        feed(length)
    while done < x.size(1):
        feed(1)
    return torch.cat(outputs, 1)


def formula_count(model, params):
    """retnet_plugin.cpp's count_retnet, restated."""
    d = model["d_model"]
    value = params["value_factor"] * d
    return 2 * d * d + 2 * d * value + value * d  # q, k; v, g; o


def naive_retnet(module, x, heads, rope, offset):
    """The block written out token by token in double precision: the rotation pair by
    pair, retention as a sum over earlier tokens, then the per-head layer norm, the
    gate and o_proj. x [1, T, d], positions start at `offset`."""
    w = weights(module)
    xd = x[0].detach().double()
    T, d = xd.shape
    q = xd @ w["q_proj.weight"].t()
    k = xd @ w["k_proj.weight"].t()
    v = xd @ w["v_proj.weight"].t()
    g = xd @ w["g_proj.weight"].t()
    dk, dv = d // heads, v.size(1) // heads

    def rotated(u, n):
        u = [float(c) for c in u]
        if not rope:
            return u
        p = float(offset + n)
        for i in range(dk // 2):
            angle = p * 10000.0 ** (-2.0 * i / dk)
            a, b = u[2 * i], u[2 * i + 1]
            u[2 * i] = a * math.cos(angle) - b * math.sin(angle)
            u[2 * i + 1] = b * math.cos(angle) + a * math.sin(angle)
        return u

    gated = torch.zeros(T, v.size(1), dtype=torch.float64)
    for h in range(heads):
        gamma = 1.0 - 2.0 ** (-5.0 - h)
        keys = [rotated(k[m, h * dk:(h + 1) * dk], m) for m in range(T)]
        for n in range(T):
            qn = rotated(q[n, h * dk:(h + 1) * dk], n)
            o = [0.0] * dv
            for m in range(n + 1):
                score = sum(a * b for a, b in zip(qn, keys[m])) * gamma ** (n - m) / math.sqrt(dk)
                vm = v[m, h * dv:(h + 1) * dv].tolist()
                o = [oc + score * vc for oc, vc in zip(o, vm)]
            mean = sum(o) / dv
            var = sum((c - mean) ** 2 for c in o) / dv
            for c in range(dv):
                gate = float(g[n, h * dv + c])
                gated[n, h * dv + c] = gate / (1.0 + math.exp(-gate)) * (o[c] - mean) / math.sqrt(var + 1e-5)
    return (gated @ w["o_proj.weight"].t()).unsqueeze(0)


# --- the twin's contract ---------------------------------------------------------------


def test_imports_only_torch_and_the_standard_library():
    roots = imported_roots(TWIN)
    assert roots <= {"torch", "math", "typing", "eulerstack_sdk"}, roots


def test_registers_the_retnet_mixer():
    seen = {}
    registry = SimpleNamespace(mixer=lambda name, factory: seen.setdefault(("mixer", name), factory),
                               ffn=None, router=None, positional=None)
    twin.register(registry)
    assert seen == {("mixer", "retnet"): twin.RetNet}


@pytest.mark.parametrize("model,value_factor", [
    (model_section(), 1),
    (model_section(), 2),
    (model_section(d_model=48, n_heads=3, n_kv_heads=3), 2),
    (model_section(d_model=32, n_heads=8, n_kv_heads=8), 3),
])
def test_parameters_are_named_as_documented_and_counted_by_the_plugin_formula(model, value_factor):
    ctx = context({"value_factor": value_factor}, model)
    module = twin.RetNet(ctx)
    d, value = model["d_model"], value_factor * model["d_model"]
    shapes = {name: list(p.shape) for name, p in module.named_parameters()}
    assert shapes == {"q_proj.weight": [d, d], "k_proj.weight": [d, d], "v_proj.weight": [value, d],
                      "g_proj.weight": [value, d], "o_proj.weight": [d, value]}
    assert sum(p.numel() for p in module.parameters()) == formula_count(model, ctx.params)
    # The state dict holds exactly the parameters: no buffers (decays, norm) to export.
    assert sorted(module.state_dict()) == sorted(shapes)


def test_init_rules():
    torch.manual_seed(0)
    module = twin.RetNet(context({"value_factor": 2}, model_section(d_model=256, n_heads=4), n_layers=8,
                                 init_std=0.05))
    for name in ("q_proj", "k_proj", "v_proj", "g_proj"):
        weight = getattr(module, name).weight
        assert abs(weight.std().item() - 0.05) < 0.05 * 0.05
        assert abs(weight.mean().item()) < 0.005
    o = module.o_proj.weight
    assert abs(o.std().item() - 0.05 / math.sqrt(16)) < 0.05 / 4 * 0.05


def test_d_model_must_divide_into_heads():
    with pytest.raises(ValueError, match="not divisible by n_heads"):
        twin.RetNet(context(model=model_section(d_model=50, n_heads=4)))


def test_decays_and_rotation_helpers():
    log_decay = twin.log_decays(8, torch.device("cpu"))
    assert log_decay.dtype == torch.float32
    expected = torch.tensor([1.0 - 2.0 ** (-5 - h) for h in range(8)], dtype=torch.float64)
    assert torch.allclose(log_decay.double().exp(), expected, rtol=1e-6, atol=0)
    # Pair i turns by p * 10000^(-2i/dk): at p = 1 with dk = 4, (1, 0 | 1, 0) -> (cos 1, sin 1 | cos .01, sin .01).
    x = torch.tensor([1.0, 0.0, 1.0, 0.0]).view(1, 1, 1, 4).to(torch.bfloat16)
    out = twin.rotate(x, torch.tensor([1]))
    assert out.dtype == torch.float32
    assert torch.allclose(out.view(4), torch.tensor([math.cos(1), math.sin(1), math.cos(0.01), math.sin(0.01)]),
                          atol=1e-6)


# --- forms, caches, causality ------------------------------------------------------------


@pytest.mark.parametrize("rope", [True, False])
def test_parallel_chunkwise_and_recurrent_forms_give_the_same_outputs(rope):
    x = inputs(2, 19, 64)
    reference = full(retnet({"chunkwise": False, "rope": rope}), x)
    for chunk in (1, 2, 4, 5, 7, 8, 16, 18):
        module = retnet({"chunkwise": True, "chunk_size": chunk, "rope": rope})
        assert relative_diff(full(module, x), reference) < 2e-5, chunk
    # A cache fed one token at a time runs the recurrent form.
    assert relative_diff(cached(retnet({"chunkwise": False, "rope": rope}), x), reference) < 2e-5


def test_the_three_forms_agree_on_raw_retention():
    generator = torch.Generator().manual_seed(1)
    q, k = (torch.randn(2, 3, 11, 8, generator=generator) for _ in range(2))
    v = torch.randn(2, 3, 11, 6, generator=generator)
    s0 = torch.randn(2, 3, 8, 6, generator=generator)
    log_decay = twin.log_decays(3, torch.device("cpu"))
    for state in (None, s0):
        out, final = twin.parallel(q, k, v, log_decay, state)
        for other in (twin.chunkwise(q, k, v, log_decay, state, 3), twin.recurrent(q, k, v, log_decay, state)):
            assert relative_diff(other[0], out) < 1e-5
            assert relative_diff(other[1], final) < 1e-5


@pytest.mark.parametrize("rope", [True, False])
@pytest.mark.parametrize("chunk", [4, 64])
def test_full_forward_equals_prefill_plus_single_steps(rope, chunk):
    x = inputs(2, 23, 64, seed=5)
    module = retnet({"chunk_size": chunk, "rope": rope})
    reference = full(module, x)
    assert relative_diff(cached(module, x, [9]), reference) < 2e-5
    assert relative_diff(cached(module, x, [1]), reference) < 2e-5
    # Chunked prefill: multi-token calls that continue a state.
    assert relative_diff(cached(module, x, [6, 7, 5]), reference) < 2e-5


@pytest.mark.parametrize("chunkwise,chunk,with_cache,tokens,form", [
    (True, 4, False, 9, "chunkwise"),
    (True, 4, False, 4, "parallel"),
    (True, 1, False, 1, "parallel"),
    (False, 4, False, 9, "parallel"),
    (True, 4, True, 1, "recurrent"),
    (False, 4, True, 1, "recurrent"),
    (True, 4, True, 9, "chunkwise"),
    (True, 4, True, 3, "parallel"),
    (False, 4, True, 9, "parallel"),
])
def test_which_form_runs(monkeypatch, chunkwise, chunk, with_cache, tokens, form):
    """Cache and one token: recurrent; else chunkwise when set and T > chunk_size; else parallel."""
    calls = []
    for name in ("parallel", "chunkwise", "recurrent"):
        original = getattr(twin, name)

        def spy(*args, _name=name, _original=original):
            calls.append(_name)
            return _original(*args)

        monkeypatch.setattr(twin, name, spy)
    module = retnet({"chunkwise": chunkwise, "chunk_size": chunk})
    cache = module.new_cache() if with_cache else None
    module(inputs(1, tokens, 64), positions(0, tokens), SpyPositional(), cache)
    assert calls[0] == form


def test_the_cache_holds_the_float32_state_after_the_last_token():
    module = retnet({"value_factor": 2}, dtype=torch.bfloat16)
    cache = module.new_cache()
    assert cache.state is None
    x = inputs(3, 5, 64, dtype=torch.bfloat16)
    module(x, positions(0, 5), SpyPositional(), cache)
    assert cache.state.dtype == torch.float32
    assert list(cache.state.shape) == [3, 4, 16, 32]
    first = cache.state
    module(x[:, :1], positions(5, 1), SpyPositional(), cache)
    assert cache.state is not first and not torch.equal(cache.state, first)
    # A fresh cache is independent.
    assert module.new_cache().state is None


def test_a_token_affects_only_itself_and_later_tokens():
    x = inputs(1, 16, 64)
    changed = x.clone()
    changed[:, 9] += 1.0
    for chunkwise in (False, True):
        module = retnet({"chunkwise": chunkwise, "chunk_size": 4})
        a, b = full(module, x), full(module, changed)
        assert torch.equal(a[:, :9], b[:, :9])
        for t in range(9, 16):
            assert (a[:, t] - b[:, t]).abs().max().item() > 1e-4, (chunkwise, t)


@pytest.mark.parametrize("rope", [True, False])
def test_matches_a_naive_token_by_token_reference_with_its_own_rotation(rope):
    x = inputs(1, 12, 64, seed=11)
    module = retnet({"rope": rope, "value_factor": 2, "chunk_size": 5})
    positional = SpyPositional()
    out = module(x, positions(3, 12), positional)
    assert positional.calls == 0
    assert relative_diff(out, naive_retnet(module, x, 4, rope, 3)) < 1e-5
    # Prefill then steps at the same offset, against the same reference.
    cache = module.new_cache()
    parts = [module(x[:, :7], positions(3, 7), positional, cache)]
    parts += [module(x[:, t:t + 1], positions(3 + t, 1), positional, cache) for t in range(7, 12)]
    assert positional.calls == 0
    assert relative_diff(torch.cat(parts, 1), naive_retnet(module, x, 4, rope, 3)) < 1e-5


def test_rope_depends_on_relative_positions_only_and_matters():
    x = inputs(1, 12, 64)
    module = retnet({"rope": True})
    at_zero = full(module, x)
    assert relative_diff(full(module, x, 100), at_zero) < 1e-4
    assert relative_diff(full(retnet({"rope": False}), x), at_zero) > 1e-2


def test_the_decay_of_head_h_is_1_minus_2_to_the_minus_5_minus_h():
    # Weights that make every head retain the constant 1 in channel 0 and a first-token
    # marker in channel 1: o_t = (sum_{j<=t} gamma^j, gamma^t, 0, ...). The layer norm
    # and the gate are affine per head, so (out_0 - out_2) / (out_1 - out_2) = o_0 / o_1.
    heads, d, T = 8, 128, 6
    dk = d // heads
    module = twin.RetNet(context({"rope": False, "value_factor": 1},
                                 model_section(d_model=d, n_heads=heads, n_kv_heads=heads)))
    with torch.no_grad():
        for p in module.parameters():
            p.zero_()
        for h in range(heads):
            module.q_proj.weight[h * dk, 0] = 1.0
            module.k_proj.weight[h * dk, 0] = math.sqrt(dk)  # cancels the dk^-0.5 scale
            module.v_proj.weight[h * dk, 0] = 1.0
            module.v_proj.weight[h * dk + 1, 1] = 1.0
        module.g_proj.weight[:, 0] = 1.0
        module.o_proj.weight.copy_(torch.eye(d))
    x = torch.zeros(1, T, d)
    x[..., 0] = 1.0
    x[0, 0, 1] = 1.0
    out = full(module, x).double()[0]
    for h in range(heads):
        expected = 1.0 - 2.0 ** (-5.0 - h)

        def ratio(t):
            zero = out[t, h * dk + 2].item()
            return (out[t, h * dk].item() - zero) / (out[t, h * dk + 1].item() - zero)

        assert 1.0 / (ratio(1) - 1.0) == pytest.approx(expected, rel=1e-5)
        assert ratio(T - 1) == pytest.approx(sum(expected ** -j for j in range(T)), rel=1e-5)


# --- dtypes, gradients ---------------------------------------------------------------------


def test_bfloat16_runs_and_stays_close_to_float32():
    params = {"chunk_size": 4, "value_factor": 2}
    single = retnet(params)
    half = retnet(params, dtype=torch.bfloat16)
    x = inputs(2, 13, 64)
    out = full(half, x.to(torch.bfloat16))
    assert out.dtype == torch.bfloat16
    assert torch.isfinite(out).all()
    assert relative_diff(out, full(single, x)) < 5e-2
    decoded = cached(half, x.to(torch.bfloat16), [5])
    assert decoded.dtype == torch.bfloat16
    assert relative_diff(decoded, out) < 5e-2


@pytest.mark.parametrize("chunkwise", [False, True])
def test_backward_gives_finite_gradients_to_every_parameter(chunkwise):
    module = retnet({"chunkwise": chunkwise, "chunk_size": 3, "value_factor": 2})
    module.train()
    full(module, inputs(2, 10, 64)).pow(2).sum().backward()
    for name, p in module.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().max().item() > 0.0, name
