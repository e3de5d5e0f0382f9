"""The Python twin of the mamba mixer (plugins/mixers/mamba/eulerstack_mamba.py).

Mirrors plugins/mixers/mamba/tests/test_mamba.cpp on the Python side: parameter names, shapes and
count for both variants, the init rules, the chunked SSD against a naive float64
per-token recurrence (groups, partial last chunks, a nonzero initial state), chunk-size
independence, decoding with a cache (prefill, chunked prefill, single steps),
causality, Mamba1's selective scan against a closed-form reference, the causal
convolution and gated RMSNorm pieces, dtypes and gradients.
Cross-language parity is checked through the exporter (test_hf_export.py).
"""

import math
from functools import partial
from types import SimpleNamespace

import pytest

from twin_support import (PLUGINS, ModuleCatalog, SpyPositional, block_context, imported_roots, inputs, load_twin,
                          model_section, positions, relative_diff, weights)

torch = pytest.importorskip("torch")
F = torch.nn.functional

TWIN = PLUGINS / "mixers" / "mamba" / "eulerstack_mamba.py"

twin = load_twin(TWIN)

DEFAULTS = {"variant": "mamba2", "d_state": 64, "d_conv": 4, "expand": 2, "head_dim": 64, "n_groups": 1,
            "chunk_size": 256}  # mamba_plugin.cpp

# core's ModuleContext for a mamba block: mamba references nothing, so it builds no routers.
context = partial(block_context, DEFAULTS, builder=ModuleCatalog(owner="mamba"))

random_input = partial(inputs, scale=3.0)  # hidden states of scale 3


def mamba2(groups=1, chunk=16, head_dim=32):
    """test_mamba.cpp's mamba2(): d_state 16."""
    return {"variant": "mamba2", "head_dim": head_dim, "n_groups": groups, "d_state": 16, "chunk_size": chunk}


def mamba1():
    return {"variant": "mamba1", "d_state": 8}


def stress_scan(module):
    """With the initial dt (1e-3..1e-1) and D = 1 the skip term dominates the output; larger steps and
    smaller skips make the scan visible in every test (test_mamba.cpp's stress_scan)."""
    generator = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name in ("dt_bias", "dt_proj.bias"):
                p.copy_(torch.rand(p.shape, generator=generator) * 4.0 - 3.0)
            if name == "D":
                p.copy_(torch.rand(p.shape, generator=generator) * 0.4 - 0.2)


def build(params=None, model=None, seed=7, dtype=torch.float32, stressed=True):
    torch.manual_seed(seed)
    module = twin.make_mamba(context(params, model))
    if stressed:
        stress_scan(module)
    return module.to(dtype)


def run(module, x, offset=0, cache=None, positional=None):
    return module(x, positions(offset, x.size(1)), positional if positional is not None else SpyPositional(), cache)


def run_with_cache(module, x, calls=()):
    """Runs x through a fresh cache in the given call lengths, the rest one token at a time."""
    cache = module.new_cache()
    outputs = []
    offset = 0
    for length in calls:
        outputs.append(run(module, x.narrow(1, offset, length), offset, cache))
        offset += length
    while offset < x.size(1):
        outputs.append(run(module, x.narrow(1, offset, 1), offset, cache))
        offset += 1
    return torch.cat(outputs, 1)


def formula_count(model, params):
    """mamba_plugin.cpp's count_mamba, restated."""
    d = model["d_model"]
    inner = params["expand"] * d
    state, conv = params["d_state"], params["d_conv"]
    if params["variant"] == "mamba1":
        rank = (d + 15) // 16
        return (d * 2 * inner                   # in_proj
                + inner * conv + inner          # conv1d
                + inner * (rank + 2 * state)    # x_proj
                + rank * inner + inner          # dt_proj
                + inner * state + inner         # A_log, D
                + inner * d)                    # out_proj
    heads = inner // params["head_dim"]
    groups = params["n_groups"]
    conv_dim = inner + 2 * groups * state
    return (d * (2 * inner + 2 * groups * state + heads)  # in_proj
            + conv_dim * conv + conv_dim                  # conv1d
            + 3 * heads                                   # dt_bias, A_log, D
            + inner                                       # gated RMSNorm
            + inner * d)                                  # out_proj


# --- naive float64 references (written from the HF / mamba_ssm definitions) ------------------------


def naive_causal_conv(x, w, bias):
    """out[t] = bias + sum_k w[k] x[t - (K-1) + k], by index."""
    T, K = x.size(1), w.size(2)
    out = bias.expand(x.size(0), T, x.size(2)).clone()
    for t in range(T):
        for k in range(K):
            src = t - (K - 1) + k
            if src >= 0:
                out[:, t] += w[:, 0, k] * x[:, src]
    return out


def naive_ssd(x, dt, A, B, C, state=None):
    """Mamba2's recurrence token by token, head by head, float64: x [b, T, h, p], dt [b, T, h], A [h],
    B, C [b, T, g, N], state [b, h, p, N]."""
    x, dt, A, B, C = (t.double() for t in (x, dt, A, B, C))
    b, T, h, p = x.shape
    g, n = B.size(2), B.size(3)
    s = state.double().clone() if state is not None else torch.zeros(b, h, p, n, dtype=torch.float64)
    y = torch.zeros(b, T, h, p, dtype=torch.float64)
    for head in range(h):
        group = head // (h // g)
        for t in range(T):
            dtt = dt[:, t, head].view(b, 1, 1)
            s[:, head] = torch.exp(dtt * A[head]) * s[:, head] + (dtt * x[:, t, head].unsqueeze(-1)) * \
                B[:, t, group].unsqueeze(1)
            y[:, t, head] = (s[:, head] * C[:, t, group].unsqueeze(1)).sum(-1)
    return y, s


def naive_mamba2(module, x, head_dim, groups, n):
    """The whole Mamba2 block in float64 (test_mamba.cpp's naive_mamba2)."""
    w = weights(module)
    b, T = x.size(0), x.size(1)
    di = w["out_proj.weight"].size(1)
    h, gn = di // head_dim, groups * n
    proj = x.double() @ w["in_proj.weight"].t()
    z = proj[..., :di]
    xBC = F.silu(naive_causal_conv(proj[..., di:2 * di + 2 * gn], w["conv1d.weight"], w["conv1d.bias"]))
    xs, B, C = xBC[..., :di], xBC[..., di:di + gn], xBC[..., di + gn:]
    dt = F.softplus(proj[..., 2 * di + 2 * gn:] + w["dt_bias"])
    A, D = -torch.exp(w["A_log"]), w["D"]
    y, _ = naive_ssd(xs.reshape(b, T, h, head_dim), dt, A, B.reshape(b, T, groups, n), C.reshape(b, T, groups, n))
    y = y.reshape(b, T, di) + xs * D.repeat_interleave(head_dim)
    gated = (y * F.silu(z)).reshape(b, T, groups, di // groups)
    gated = (gated * torch.rsqrt(gated.pow(2).mean(-1, keepdim=True) + 1e-5)).reshape(b, T, di) * w["norm.weight"]
    return gated @ w["out_proj.weight"].t()


def naive_selective_scan(x, dt, A, B, C, state=None):
    """Mamba1's scan in closed form, no recurrence, float64:
    y_t[c] = sum_{s<=t} sum_n C_t[n] exp(A[c,n] sum_{s<j<=t} dt_j[c]) B_s[n] dt_s[c] x_s[c]
             + sum_n C_t[n] exp(A[c,n] sum_{j<=t} dt_j[c]) state[c, n]."""
    x, dt, A, B, C = (t.double() for t in (x, dt, A, B, C))
    b, T, di = x.shape
    cum = dt.cumsum(1)
    y = torch.zeros(b, T, di, dtype=torch.float64)
    for t in range(T):
        for s in range(t + 1):
            decay = torch.exp((cum[:, t] - cum[:, s]).unsqueeze(-1) * A)  # [b, di, N]
            cb = (B[:, s] * C[:, t]).unsqueeze(1)  # [b, 1, N]
            y[:, t] += (decay * cb).sum(-1) * dt[:, s] * x[:, s]
        if state is not None:
            y[:, t] += (torch.exp(cum[:, t].unsqueeze(-1) * A) * state.double() * C[:, t].unsqueeze(1)).sum(-1)
    return y


def naive_mamba1(module, x):
    """The whole Mamba1 block in float64 (test_mamba.cpp's naive_mamba1)."""
    w = weights(module)
    di, n = w["out_proj.weight"].size(1), w["A_log"].size(1)
    r = w["dt_proj.weight"].size(1)
    proj = x.double() @ w["in_proj.weight"].t()
    z = proj[..., di:]
    xs = F.silu(naive_causal_conv(proj[..., :di], w["conv1d.weight"], w["conv1d.bias"]))
    dbc = xs @ w["x_proj.weight"].t()
    B, C = dbc[..., r:r + n], dbc[..., r + n:]
    dt = F.softplus(dbc[..., :r] @ w["dt_proj.weight"].t() + w["dt_proj.bias"])
    y = naive_selective_scan(xs, dt, -torch.exp(w["A_log"]), B, C)
    y = (y + w["D"] * xs) * F.silu(z)
    return y @ w["out_proj.weight"].t()


def scan_inputs(b, T, h, p, g, n, seed, state=False):
    """Random SSD inputs with steps of order one and decays over a wide range."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(b, T, h, p, generator=gen)
    dt = F.softplus(torch.randn(b, T, h, generator=gen) * 2.0 - 1.0)
    A = -torch.exp(torch.rand(h, generator=gen) * math.log(16.0))
    B = torch.randn(b, T, g, n, generator=gen)
    C = torch.randn(b, T, g, n, generator=gen)
    s0 = torch.randn(b, h, p, n, generator=gen) if state else None
    return x, dt, A, B, C, s0


# --- the twin's contract ---------------------------------------------------------------------------


def test_imports_only_torch_and_the_standard_library():
    roots = imported_roots(TWIN)
    assert roots <= {"torch", "math", "typing", "eulerstack_sdk"}, roots


def test_registers_the_mamba_mixer_which_builds_either_variant():
    seen = {}
    registry = SimpleNamespace(mixer=lambda name, factory: seen.setdefault(("mixer", name), factory),
                               ffn=None, router=None, positional=None)
    twin.register(registry)
    assert list(seen) == [("mixer", "mamba")]
    factory = seen[("mixer", "mamba")]
    assert type(factory(context())) is twin.Mamba2  # the default variant
    assert type(factory(context({"variant": "mamba2"}))) is twin.Mamba2
    assert type(factory(context({"variant": "mamba1"}))) is twin.Mamba1


@pytest.mark.parametrize("d,params", [
    (64, {"variant": "mamba2"}),
    (64, {"variant": "mamba2", "expand": 1, "head_dim": 16, "n_groups": 2, "d_state": 8}),
    (64, {"variant": "mamba2", "expand": 3, "head_dim": 48, "n_groups": 4, "d_state": 32, "d_conv": 2}),
    (48, {"variant": "mamba2", "expand": 2, "head_dim": 8, "n_groups": 3, "d_state": 5, "d_conv": 1}),
    (64, {"variant": "mamba1"}),
    (40, {"variant": "mamba1", "expand": 1, "d_state": 4, "d_conv": 2}),
    (17, {"variant": "mamba1", "expand": 3, "d_state": 16}),
])
def test_the_parameter_count_equals_the_plugin_formula(d, params):
    ctx = context(params, model_section(d_model=d))
    module = twin.make_mamba(ctx)
    assert sum(p.numel() for p in module.parameters()) == formula_count(ctx.model, ctx.params)
    # The state dict holds exactly the parameters: no buffers to export.
    assert sorted(module.state_dict()) == sorted(name for name, _ in module.named_parameters())


def test_parameters_carry_the_hf_mamba_and_mamba2_names_and_shapes():
    # d 64. mamba2: di 128, h 4, g 2, N 16, K 4: conv channels 128 + 64.
    m2 = {"in_proj.weight": [2 * 128 + 64 + 4, 64], "conv1d.weight": [192, 1, 4], "conv1d.bias": [192],
          "dt_bias": [4], "A_log": [4], "D": [4], "norm.weight": [128], "out_proj.weight": [64, 128]}
    # mamba1: di 128, N 8, r 4.
    m1 = {"in_proj.weight": [256, 64], "conv1d.weight": [128, 1, 4], "conv1d.bias": [128],
          "x_proj.weight": [4 + 16, 128], "dt_proj.weight": [128, 4], "dt_proj.bias": [128],
          "A_log": [128, 8], "D": [128], "out_proj.weight": [64, 128]}
    for params, expected in ((mamba2(2, 16), m2), (mamba1(), m1)):
        module = twin.make_mamba(context(params))
        assert {name: list(p.shape) for name, p in module.named_parameters()} == expected
    # PEFT finds the projections as nn.Linear.
    for params, names in ((mamba2(), ("in_proj", "out_proj")), (mamba1(), ("in_proj", "x_proj", "dt_proj",
                                                                           "out_proj"))):
        module = twin.make_mamba(context(params))
        for name in names:
            assert isinstance(getattr(module, name), torch.nn.Linear), name


def test_initialisation_follows_the_documented_rules():
    torch.manual_seed(0)
    m2 = twin.make_mamba(context(mamba2(1, 16)))
    w = weights(m2)
    dt2 = F.softplus(w["dt_bias"])
    assert dt2.min().item() >= 1e-3 * (1 - 1e-5) and dt2.max().item() <= 1e-1 * (1 + 1e-5)
    decay = torch.exp(w["A_log"])
    assert decay.min().item() >= 1.0 - 1e-6 and decay.max().item() <= 16.0 + 1e-5
    assert bool((w["D"] == 1).all()) and bool((w["norm.weight"] == 1).all())
    assert bool((w["conv1d.bias"] == 0).all())
    assert w["conv1d.weight"].abs().max().item() <= 0.5  # 1/sqrt(K), K = 4
    assert w["conv1d.weight"].abs().max().item() > 0.4  # uniform over the whole range
    # 2 layers: out_proj std 0.02 / 2, in_proj 0.02.
    assert w["in_proj.weight"].std().item() == pytest.approx(0.02, rel=0.05)
    assert w["out_proj.weight"].std().item() == pytest.approx(0.01, rel=0.05)

    m1 = twin.make_mamba(context(mamba1()))
    w = weights(m1)
    expected_a = torch.arange(1, 9, dtype=torch.float64).log().expand(128, 8)
    assert (w["A_log"] - expected_a).abs().max().item() < 1e-6
    dt1 = F.softplus(w["dt_proj.bias"])
    assert dt1.min().item() >= 1e-3 * (1 - 1e-5) and dt1.max().item() <= 1e-1 * (1 + 1e-5)
    # log-uniform: about as many steps below 1e-2 as above.
    assert 0.3 < (dt1 < 1e-2).double().mean().item() < 0.7
    assert w["dt_proj.weight"].abs().max().item() <= 0.5  # r = 4
    assert bool((w["D"] == 1).all()) and bool((w["conv1d.bias"] == 0).all())
    assert w["x_proj.weight"].std().item() == pytest.approx(0.02, rel=0.1)


def test_reset_parameters_restores_every_rule_and_skips_loaded_tensors():
    for params in (mamba2(2, 16), mamba1()):
        module = twin.make_mamba(context(params, n_layers=8))
        with torch.no_grad():
            for p in module.parameters():
                p.fill_(7.0)
        keep = module.A_log
        keep._is_hf_initialized = True  # transformers' mark of a tensor read from the checkpoint
        module.reset_parameters()
        assert bool((module.A_log == 7.0).all())
        for name, p in module.named_parameters():
            if name != "A_log":
                assert not bool((p == 7.0).any()), name
        assert bool((module.D == 1).all())
        assert module.out_proj.weight.std().item() == pytest.approx(0.02 / 4, rel=0.1)
        del keep._is_hf_initialized


def test_builds_on_the_meta_device():
    for params in (mamba2(2, 16), mamba1()):
        with torch.device("meta"):
            module = twin.make_mamba(context(params))
        assert all(p.is_meta for p in module.parameters())
        module.reset_parameters()


@pytest.mark.parametrize("params,message", [
    ({"expand": 2, "head_dim": 48}, "not divisible by head_dim"),
    ({"head_dim": 32, "n_groups": 3}, "cannot be split into 3 groups"),
])
def test_mamba2_refuses_what_the_plugin_check_refuses(params, message):
    with pytest.raises(ValueError, match=message):
        twin.make_mamba(context(params))
    twin.make_mamba(context(dict(params, variant="mamba1")))  # mamba1 ignores head_dim and n_groups


# --- the pieces ------------------------------------------------------------------------------------


@pytest.mark.parametrize("width", [1, 2, 4])
def test_causal_conv_matches_a_naive_convolution_and_continues_its_history(width):
    torch.manual_seed(3)
    conv = twin.CausalConv1d(6, width)
    with torch.no_grad():
        conv.bias.normal_()
    x = torch.randn(2, 9, 6)
    out, history = conv(x, None)
    reference = naive_causal_conv(x.double(), conv.weight.detach().double(), conv.bias.detach().double())
    assert relative_diff(out, reference) < 1e-6
    assert torch.equal(history, x[:, 9 - (width - 1):]) if width > 1 else history.shape == (2, 0, 6)
    # In pieces, each continuing the last K-1 inputs.
    parts, carried = [], None
    for start, length in ((0, 1), (1, 5), (6, 1), (7, 2)):
        piece, carried = conv(x[:, start:start + length], carried)
        assert carried.shape == (2, width - 1, 6)
        parts.append(piece)
    assert relative_diff(torch.cat(parts, 1), reference) < 1e-6


def test_gated_rms_norm_normalises_each_group_of_silu_gated_channels():
    torch.manual_seed(4)
    norm = twin.GatedRMSNorm(12, 4)
    with torch.no_grad():
        norm.weight.normal_()
    y, z = torch.randn(2, 3, 12), torch.randn(2, 3, 12).to(torch.bfloat16)
    out = norm(y, z)
    assert out.dtype == torch.bfloat16
    gated = (y.double() * F.silu(z.double())).reshape(2, 3, 3, 4)
    expected = (gated / torch.sqrt(gated.pow(2).mean(-1, keepdim=True) + 1e-5)).reshape(2, 3, 12)
    assert relative_diff(out, expected * norm.weight.detach().double()) < 1e-2  # bfloat16 output
    assert relative_diff(norm(y, z.float()), expected * norm.weight.detach().double()) < 1e-6


@pytest.mark.parametrize("groups,heads", [(1, 4), (2, 4), (4, 4), (3, 6)])
@pytest.mark.parametrize("tokens,chunk", [(37, 8), (16, 16), (5, 16), (13, 5), (9, 1)])
@pytest.mark.parametrize("with_state", [False, True])
def test_chunked_ssd_equals_the_naive_per_token_recurrence(groups, heads, tokens, chunk, with_state):
    x, dt, A, B, C, s0 = scan_inputs(2, tokens, heads, 5, groups, 6, seed=tokens + groups, state=with_state)
    y, state = twin.ssd_chunked(x, dt, A, B, C, chunk, s0)
    assert y.dtype == torch.float32 and state.dtype == torch.float32
    assert y.shape == (2, tokens, heads, 5) and state.shape == (2, heads, 5, 6)
    ref_y, ref_state = naive_ssd(x, dt, A, B, C, s0)
    assert relative_diff(y, ref_y) < 1e-5
    assert relative_diff(state, ref_state) < 1e-5


def test_the_ssd_step_equals_the_recurrence_and_continues_a_chunked_prefill():
    x, dt, A, B, C, s0 = scan_inputs(3, 12, 6, 4, 3, 5, seed=8, state=True)
    ref_y, ref_state = naive_ssd(x, dt, A, B, C, s0)
    y, state = twin.ssd_chunked(x[:, :7], dt[:, :7], A, B[:, :7], C[:, :7], 3, s0)
    steps = [y]
    for t in range(7, 12):
        out, state = twin.ssd_step(x[:, t], dt[:, t], A, B[:, t], C[:, t], state)
        steps.append(out.unsqueeze(1))
    assert relative_diff(torch.cat(steps, 1), ref_y) < 1e-5
    assert relative_diff(state, ref_state) < 1e-5
    # From no state: zeros.
    out, state = twin.ssd_step(x[:, 0], dt[:, 0], A, B[:, 0], C[:, 0], None)
    assert relative_diff(out, naive_ssd(x[:, :1], dt[:, :1], A, B[:, :1], C[:, :1])[0][:, 0]) < 1e-6


def test_the_ssd_step_updates_the_state_in_place_only_without_autograd():
    x, dt, A, B, C, s0 = scan_inputs(2, 1, 6, 4, 3, 5, seed=9, state=True)
    step = (x[:, 0], dt[:, 0], A, B[:, 0], C[:, 0])
    kept = s0.clone()
    y_grad, s_grad = twin.ssd_step(*step, s0)
    assert torch.equal(s0, kept) and s_grad.data_ptr() != s0.data_ptr()
    with torch.no_grad():
        y, s = twin.ssd_step(*step, s0)
    assert s.data_ptr() == s0.data_ptr()
    assert torch.allclose(y, y_grad, rtol=1e-6, atol=1e-6) and torch.allclose(s, s_grad, rtol=1e-6, atol=1e-6)
    with torch.inference_mode():
        made_in_inference = kept.clone()
    with torch.no_grad():  # an inference tensor cannot change outside inference mode: a new state
        _, s = twin.ssd_step(*step, made_in_inference)
    assert s.data_ptr() != made_in_inference.data_ptr() and torch.allclose(s, s_grad, rtol=1e-6, atol=1e-6)


def test_the_chunked_ssd_does_not_depend_on_chunk_size():
    # Decays far stronger than a trained model's (|a_cum| reaches thousands within a chunk): exp of float32
    # differences of such sums loses a few more digits the longer the chunk, as in the C++.
    x, dt, A, B, C, s0 = scan_inputs(2, 300, 4, 8, 2, 16, seed=3, state=True)
    reference, ref_state = twin.ssd_chunked(x, dt, A, B, C, 256, s0)
    naive_y, naive_state = naive_ssd(x, dt, A, B, C, s0)
    for chunk in (1, 7, 64, 300, 1000):
        y, state = twin.ssd_chunked(x, dt, A, B, C, chunk, s0)
        assert relative_diff(y, reference) < 5e-5, chunk
        assert relative_diff(state, ref_state) < 5e-5, chunk
        assert relative_diff(y, naive_y) < 5e-5, chunk
        assert relative_diff(state, naive_state) < 5e-5, chunk


@pytest.mark.parametrize("block_bytes", [1, 2 * 4 * 8 * 8 * 4, 3 * 2 * 4 * 8 * 8 * 4])
def test_the_chunked_ssd_scanned_a_few_chunks_at_a_time_equals_one_pass(block_bytes):
    # Blocks of one, two and three chunks of 8 over 45 tokens (the last block partial), the state carried.
    x, dt, A, B, C, s0 = scan_inputs(2, 45, 4, 5, 2, 6, seed=4, state=True)
    y, state = twin.ssd_chunked(x, dt, A, B, C, 8, s0, block_bytes=block_bytes)
    ref_y, ref_state = naive_ssd(x, dt, A, B, C, s0)
    assert relative_diff(y, ref_y) < 1e-5
    assert relative_diff(state, ref_state) < 1e-5


def test_the_chunked_ssd_survives_strong_decay():
    # exp(a_cum) underflows inside long chunks; the masked future entries must not overflow.
    x, dt, A, B, C, _ = scan_inputs(1, 64, 2, 4, 1, 4, seed=5)
    dt = dt * 50.0
    y, state = twin.ssd_chunked(x, dt, A, B, C, 64, None)
    assert torch.isfinite(y).all() and torch.isfinite(state).all()
    assert relative_diff(y, naive_ssd(x, dt, A, B, C)[0]) < 1e-4  # float32 differences of large sums


@pytest.mark.parametrize("with_state", [False, True])
def test_the_selective_scan_equals_the_closed_form(with_state):
    gen = torch.Generator().manual_seed(6)
    b, T, di, n = 2, 11, 7, 5
    x = torch.randn(b, T, di, generator=gen)
    dt = F.softplus(torch.randn(b, T, di, generator=gen) - 1.0)
    A = -torch.exp(torch.randn(di, n, generator=gen))
    B, C = torch.randn(b, T, n, generator=gen), torch.randn(b, T, n, generator=gen)
    s0 = torch.randn(b, di, n, generator=gen) if with_state else None
    y, state = twin.selective_scan(x, dt, A, B, C, s0)
    assert y.dtype == torch.float32 and state.shape == (b, di, n)
    assert relative_diff(y, naive_selective_scan(x, dt, A, B, C, s0)) < 1e-5
    # The state continues: the second half from the first half's state.
    y1, s1 = twin.selective_scan(x[:, :4], dt[:, :4], A, B[:, :4], C[:, :4], s0)
    y2, s2 = twin.selective_scan(x[:, 4:], dt[:, 4:], A, B[:, 4:], C[:, 4:], s1)
    assert relative_diff(torch.cat((y1, y2), 1), y) < 1e-6
    assert relative_diff(s2, state) < 1e-6


# --- whole blocks ----------------------------------------------------------------------------------


@pytest.mark.parametrize("groups", [1, 2, 4])
@pytest.mark.parametrize("tokens", [5, 16, 37])
def test_mamba2_equals_the_naive_block(groups, tokens):
    module = build(mamba2(groups, 16))
    x = random_input(2, tokens, 64, 11 + tokens)
    assert relative_diff(run(module, x), naive_mamba2(module, x, 32, groups, 16)) < 1e-5


@pytest.mark.parametrize("groups", [1, 2])
def test_mamba2_continues_from_a_nonzero_initial_state(groups):
    # The second call (21 tokens, chunks of 8: a partial last chunk) starts from the state of the first.
    module = build(mamba2(groups, 8))
    x = random_input(2, 30, 64, 5)
    cache = module.new_cache()
    first = run(module, x[:, :9], 0, cache)
    second = run(module, x[:, 9:], 9, cache)
    assert relative_diff(torch.cat((first, second), 1), naive_mamba2(module, x, 32, groups, 16)) < 1e-5


def test_mamba2_does_not_depend_on_chunk_size():
    x = random_input(2, 300, 64, 3)
    reference = run(build(mamba2(2, 256)), x)
    for chunk in (1, 7, 64):
        assert relative_diff(run(build(mamba2(2, chunk)), x), reference) < 1e-5, chunk


@pytest.mark.parametrize("tokens", [1, 6, 20])
def test_mamba1_equals_the_naive_block(tokens):
    module = build(mamba1())
    x = random_input(2, tokens, 64, 21 + tokens)
    assert relative_diff(run(module, x), naive_mamba1(module, x)) < 1e-5


@pytest.mark.parametrize("params", [mamba2(1, 8), mamba2(2, 8), mamba1(), dict(mamba2(2, 8), d_conv=1),
                                    dict(mamba1(), d_conv=1)], ids=["m2g1", "m2g2", "m1", "m2k1", "m1k1"])
def test_a_full_forward_equals_prefill_plus_single_token_steps(params):
    module = build(params)
    x = random_input(2, 24, 64, 9)
    full = run(module, x)
    assert relative_diff(run_with_cache(module, x, [11]), full) < 1e-5  # prefill, then steps
    assert relative_diff(run_with_cache(module, x, [6, 10]), full) < 1e-5  # chunked prefill of 2 calls, then steps
    assert relative_diff(run_with_cache(module, x, [1, 1, 2]), full) < 1e-5  # steps before a multi-token call
    assert relative_diff(run_with_cache(module, x, [24]), full) < 1e-6  # one call with a cache: the same path


@pytest.mark.parametrize("params", [mamba2(2, 8), mamba1()], ids=["mamba2", "mamba1"])
def test_outputs_depend_only_on_earlier_tokens(params):
    module = build(params)
    x = random_input(1, 20, 64, 4)
    changed = x.clone()
    changed[:, 13:] += torch.randn(1, 7, 64, generator=torch.Generator().manual_seed(1))
    a, b = run(module, x), run(module, changed)
    assert torch.equal(a[:, :13], b[:, :13])
    assert relative_diff(b[:, 13:], a[:, 13:]) > 1e-2


@pytest.mark.parametrize("with_cache,tokens,form", [
    (False, 1, "ssd_step"), (True, 1, "ssd_step"), (False, 2, "ssd_chunked"), (True, 5, "ssd_chunked"),
])
def test_mamba2_steps_single_tokens_and_chunks_longer_calls(monkeypatch, with_cache, tokens, form):
    calls = []
    for name in ("ssd_step", "ssd_chunked"):
        original = getattr(twin, name)

        def spy(*args, _name=name, _original=original):
            calls.append(_name)
            return _original(*args)

        monkeypatch.setattr(twin, name, spy)
    module = build(mamba2(2, 4))
    run(module, random_input(1, tokens, 64, 1), 0, module.new_cache() if with_cache else None)
    assert calls == [form]


def test_mamba_ignores_positions_and_the_positional_module():
    for params in (mamba2(2, 8), mamba1()):
        module = build(params)
        x = random_input(2, 7, 64, 2)
        spy = SpyPositional()
        at_zero = module(x, positions(0, 7), spy)
        assert torch.equal(module(x, positions(100, 7), spy, None), at_zero)
        assert spy.calls == 0


@pytest.mark.parametrize("params,ssm_shape", [(mamba2(2, 8), [3, 4, 32, 16]), (mamba1(), [3, 128, 8])],
                         ids=["mamba2", "mamba1"])
def test_the_cache_holds_the_last_conv_inputs_and_the_float32_state(params, ssm_shape):
    module = build(params, dtype=torch.bfloat16)
    cache = module.new_cache()
    assert cache.conv_state is None and cache.ssm_state is None
    x = random_input(3, 6, 64, 7, dtype=torch.bfloat16)
    run(module, x, 0, cache)
    conv_channels = module.conv1d.weight.size(0)
    assert list(cache.conv_state.shape) == [3, 3, conv_channels] and cache.conv_state.dtype == torch.bfloat16
    assert list(cache.ssm_state.shape) == ssm_shape and cache.ssm_state.dtype == torch.float32
    # The conv inputs, pre-activation: the xBC (mamba2) / x (mamba1) part of in_proj of the last K-1 tokens.
    projected = module.in_proj(x[:, 3:])
    start = module.inner if params["variant"] == "mamba2" else 0
    assert torch.equal(cache.conv_state, projected[..., start:start + conv_channels])
    first = cache.ssm_state
    run(module, x[:, :1], 6, cache)
    assert not torch.equal(cache.ssm_state, first)
    assert module.new_cache().ssm_state is None


def test_the_cache_follows_batch_edits():
    for params in (mamba2(2, 8), mamba1()):
        module = build(params)
        x = random_input(3, 10, 64, 12)
        full = run(module, x)
        cache = module.new_cache()
        run(module, x[:, :6], 0, cache)
        order = torch.tensor([2, 0, 1])
        cache.reorder_cache(order)
        tail = torch.cat([run(module, x[order, t:t + 1], t, cache) for t in range(6, 10)], 1)
        assert relative_diff(tail, full[order, 6:]) < 1e-5
        cache.batch_select_indices(torch.tensor([1]))
        cache.batch_repeat_interleave(2)
        assert cache.ssm_state.size(0) == 2 and cache.conv_state.size(0) == 2
        cache.reset()
        assert cache.conv_state is None and cache.ssm_state is None


# --- dtypes, gradients -----------------------------------------------------------------------------


@pytest.mark.parametrize("params", [mamba2(2, 8), mamba1()], ids=["mamba2", "mamba1"])
def test_a_bfloat16_forward_runs_and_is_close_to_float32(params):
    single = build(params)
    half = twin.make_mamba(context(params)).to(torch.bfloat16)
    with torch.no_grad():
        for name, p in half.named_parameters():
            p.copy_(dict(single.named_parameters())[name])
    x = random_input(2, 19, 64, 2)
    low = run(half, x.to(torch.bfloat16))
    assert low.dtype == torch.bfloat16
    assert torch.isfinite(low).all()
    assert relative_diff(low, run(single, x)) < 3e-2
    cache = half.new_cache()  # the cached path too
    run(half, x[:, :18].to(torch.bfloat16), 0, cache)
    step = run(half, x[:, 18:].to(torch.bfloat16), 18, cache)
    assert step.dtype == torch.bfloat16
    assert relative_diff(step, low[:, 18:]) < 3e-2


@pytest.mark.parametrize("params", [mamba2(2, 8), mamba1()], ids=["mamba2", "mamba1"])
def test_backward_gives_finite_gradients_for_every_parameter(params):
    module = build(params)
    module.train()
    x = random_input(2, 21, 64, 8).requires_grad_()
    out = run(module, x)
    (out * torch.randn(out.shape, generator=torch.Generator().manual_seed(0))).sum().backward()
    for name, p in module.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum().item() > 0.0, name
    assert torch.isfinite(x.grad).all()
