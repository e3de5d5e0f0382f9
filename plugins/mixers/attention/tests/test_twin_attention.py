"""The Python twin of the attention mixer (plugins/mixers/attention/eulerstack_attention.py).

Mirrors plugins/mixers/attention/tests/test_attention.cpp on the Python side: parameter layout and
counts (the plugin's formula restated), init rules, masks against an explicit float64
masked-softmax reference (global, window, dilated, nsa, ALiBi), GQA/MQA against MHA with
repeated weights, MLA, the SDPA masking choices, KV-cache decoding against the full
forward (with window trimming), causality, gradients and dropout. The positional
modules come from the positional twin (plugins/positional/eulerstack_positional.py,
tested in test_twin_positional.py). Cross-language parity is checked through the
exporter (test_hf_export.py).
"""

import math
import pickle
from functools import partial

import pytest

import twin_support
from twin_support import (PLUGINS, ModuleRegistrar, block_context, imported_roots, init_all, load_twin, max_abs_diff,
                          model_section, positional_context, positions, random, sharpen, weights)

torch = pytest.importorskip("torch")

TWIN = PLUGINS / "mixers" / "attention" / "eulerstack_attention.py"
POSITIONAL_TWIN = PLUGINS / "positional" / "eulerstack_positional.py"

twin = load_twin(TWIN)
positional_twin = load_twin(POSITIONAL_TWIN)

# The documented defaults (attention_plugin.cpp; positional_plugin.cpp's are twin_support's).
DEFAULTS = {"qkv_bias": False, "attn_drop": 0.0, "window": None, "window_mode": "standard",
            "window_dilation": None, "latent_dim": None, "attention_sinks": None}
SINKS = {"n_per_head": 2, "learnable": True}

REGISTRY = ModuleRegistrar("mixer", "positional")
twin.register(REGISTRY)
positional_twin.register(REGISTRY)

context = partial(block_context, DEFAULTS)
relative_diff = partial(twin_support.relative_diff, floor=1e-12)


def attention(params=None, model=None, n_layers=2, seed=7, dtype=torch.float32):
    torch.manual_seed(seed)
    return REGISTRY.mixers["attention"](context(params, model, n_layers)).to(dtype)


def positional(type_="rope", params=None, model=None):
    return REGISTRY.positionals[type_](positional_context(type_, params, model))


def run(mixer, pos, x, offset=0, cache=None):
    return mixer(x, positions(offset, x.size(1)), pos, cache)


def formula_count(model, params):
    """attention_plugin.cpp's count_attention, restated."""
    d, heads, kv_heads = model["d_model"], model["n_heads"], model["n_kv_heads"]
    head_dim = d // heads
    q_width, kv_width = heads * head_dim, kv_heads * head_dim
    total = d * q_width + q_width * d  # q_proj, o_proj
    if params.get("latent_dim") is not None:
        latent = params["latent_dim"]
        total += d * latent + 2 * latent * kv_width  # kv_down_proj, k_up_proj, v_up_proj
    else:
        total += 2 * d * kv_width  # k_proj, v_proj
    if params.get("qkv_bias"):
        total += q_width + 2 * kv_width
    sinks = params.get("attention_sinks")
    if sinks and sinks["learnable"]:
        total += heads * sinks["n_per_head"]  # sinks
    return total


def causal(i, j):
    return j <= i


def reference(mixer, pos, x, visible, offset=0):
    """Attention written out in float64: projections from the module's own parameters, the positional
    rotation and bias, softmax over the keys `visible(i, j)` allows (positions i, j), GQA by repetition."""
    p = weights(mixer)

    def linear(inp, name):
        out = inp @ p[name + ".weight"].t()
        return out + p[name + ".bias"] if name + ".bias" in p else out

    heads, kv_heads = mixer.n_heads, mixer.n_kv_heads
    batch, length = x.size(0), x.size(1)
    hd = mixer.head_dim
    xd = x.detach().double()
    mla = "kv_down_proj.weight" in p
    source = linear(xd, "kv_down_proj") if mla else xd
    q = linear(xd, "q_proj").view(batch, length, heads, hd).transpose(1, 2)
    k = linear(source, "k_up_proj" if mla else "k_proj").view(batch, length, kv_heads, hd).transpose(1, 2)
    v = linear(source, "v_up_proj" if mla else "v_proj").view(batch, length, kv_heads, hd).transpose(1, 2)
    at = positions(offset, length)
    q, k = pos.rotate(q, k, at)
    q, k = q.double(), k.double()
    k = k.repeat_interleave(heads // kv_heads, 1)
    v = v.repeat_interleave(heads // kv_heads, 1)
    scores = q @ k.transpose(-1, -2) / math.sqrt(hd)
    bias = pos.attention_bias(heads, at, at)
    if bias is not None:
        scores = scores + bias.double()
    hidden = torch.tensor([[not visible(offset + i, offset + j) for j in range(length)] for i in range(length)])
    scores = scores.masked_fill(hidden, float("-inf"))
    if mixer.sink_count:  # the sink logits join each query's softmax, their columns dropped
        sinks = p["sinks"] if "sinks" in p else torch.zeros(heads, mixer.sink_count, dtype=torch.float64)
        sink = sinks.view(1, heads, 1, -1).expand(batch, heads, length, -1)
        probs = torch.softmax(torch.cat((scores, sink), -1), -1)[..., :length]
    else:
        probs = torch.softmax(scores, -1)
    out = (probs @ v).transpose(1, 2).reshape(batch, length, heads * hd)
    return linear(out, "o_proj")


def check_decoding(mixer, pos, length, prefill, chunk=1, tolerance=1e-5):
    """Full forward over `length` tokens == a prefill of `prefill` tokens, then `chunk`-token calls, with
    one cache. Returns the cache."""
    x = random((2, length, 64), 11)
    full = run(mixer, pos, x)
    cache = mixer.new_cache()
    pieces = [run(mixer, pos, x[:, :prefill], 0, cache)]
    for start in range(prefill, length, chunk):
        n = min(chunk, length - start)
        pieces.append(run(mixer, pos, x[:, start:start + n], start, cache))
    assert relative_diff(torch.cat(pieces, 1), full) < tolerance
    return cache


# --- the twin's contract ---------------------------------------------------------------------


def test_imports_only_torch_and_the_standard_library():
    roots = imported_roots(TWIN)
    assert roots <= {"torch", "math", "typing", "eulerstack_sdk"}, roots


def test_registers_the_attention_mixer():
    assert REGISTRY.mixers == {"attention": twin.Attention}


MHA = model_section(n_kv_heads=4)
MQA = model_section(n_kv_heads=1)
WIDE = model_section(d_model=96, n_heads=6, n_kv_heads=3)


@pytest.mark.parametrize("model,params", [
    (MHA, {}),
    (model_section(), {}),
    (MQA, {}),
    (model_section(), {"qkv_bias": True}),
    (MQA, {"qkv_bias": True}),
    (model_section(), {"latent_dim": 32}),
    (MHA, {"latent_dim": 16, "qkv_bias": True}),
    (WIDE, {"latent_dim": 48, "window": 16}),
    (model_section(d_model=72, n_heads=8, n_kv_heads=2), {"qkv_bias": True}),  # d not a multiple of heads * hd
    (model_section(), {"attention_sinks": {"n_per_head": 3, "learnable": True}}),
    (model_section(), {"attention_sinks": {"n_per_head": 3, "learnable": False}}),
])
def test_parameter_count_equals_the_plugin_formula(model, params):
    mixer = attention(params, model)
    assert sum(p.numel() for p in mixer.parameters()) == formula_count(model, context(params, model).params)
    assert dict(mixer.named_buffers()) == {}  # nothing beyond the C++ names in the state dict


def test_parameter_names_and_shapes_follow_the_hf_layout():
    gqa = dict((n, tuple(p.shape)) for n, p in attention({"qkv_bias": True}).named_parameters())
    assert gqa == {"q_proj.weight": (64, 64), "q_proj.bias": (64,), "k_proj.weight": (32, 64), "k_proj.bias": (32,),
                   "v_proj.weight": (32, 64), "v_proj.bias": (32,), "o_proj.weight": (64, 64)}
    plain = dict((n, tuple(p.shape)) for n, p in attention().named_parameters())
    assert plain == {"q_proj.weight": (64, 64), "k_proj.weight": (32, 64), "v_proj.weight": (32, 64),
                     "o_proj.weight": (64, 64)}
    mla = dict((n, tuple(p.shape)) for n, p in attention({"latent_dim": 24}).named_parameters())
    assert mla == {"q_proj.weight": (64, 64), "kv_down_proj.weight": (24, 64), "k_up_proj.weight": (32, 24),
                   "v_up_proj.weight": (32, 24), "o_proj.weight": (64, 64)}
    mla_bias = dict(attention({"latent_dim": 24, "qkv_bias": True}).named_parameters())
    assert "kv_down_proj.bias" not in mla_bias and "o_proj.bias" not in mla_bias
    assert tuple(mla_bias["k_up_proj.bias"].shape) == (32,)
    # d 72, 8 heads: head_dim 9, q width 72, kv width 18
    odd = dict((n, tuple(p.shape)) for n, p in
               attention({}, model_section(d_model=72, n_heads=8, n_kv_heads=2)).named_parameters())
    assert odd["k_proj.weight"] == (18, 72) and odd["o_proj.weight"] == (72, 72)


def test_projections_are_nn_linear_so_peft_finds_them():
    mixer = attention({"qkv_bias": True})
    for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
        assert isinstance(getattr(mixer, name), torch.nn.Linear), name


def test_init_rules_weights_init_std_o_proj_depth_scaled_biases_zero():
    # 8 layers: o_proj std = 0.02 / sqrt(16) = 0.005.
    model = model_section(d_model=256, n_heads=4, n_kv_heads=4)
    mixer = attention({"qkv_bias": True}, model, n_layers=8)
    with torch.no_grad():
        for p in mixer.parameters():
            p.fill_(5.0)
    init_all(mixer)
    p = dict(mixer.named_parameters())
    for name in ("q_proj", "k_proj", "v_proj"):
        assert p[name + ".weight"].std().item() == pytest.approx(0.02, rel=0.05)
        assert p[name + ".bias"].abs().max().item() == 0.0
    assert p["o_proj.weight"].std().item() == pytest.approx(0.005, rel=0.05)
    # n_layers 0 counts as 1; MLA's projections follow the weight rule.
    mla = attention({"latent_dim": 128}, model, n_layers=0)
    assert mla.o_proj.weight.std().item() == pytest.approx(0.02 / math.sqrt(2), rel=0.05)
    for name in ("kv_down_proj", "k_up_proj", "v_up_proj"):
        assert getattr(mla, name).weight.std().item() == pytest.approx(0.02, rel=0.05)


def test_init_goes_through_torch_nn_init_so_loaded_tensors_are_kept():
    initialization = pytest.importorskip("transformers.initialization")
    mixer = attention({"qkv_bias": True})
    with torch.no_grad():
        for p in mixer.parameters():
            p.add_(1.0)
    loaded = {name: p.detach().clone() for name, p in mixer.named_parameters()}
    for p in mixer.parameters():
        p._is_hf_initialized = True
    with torch.no_grad(), initialization.guard_torch_init_functions():
        init_all(mixer)
    for name, p in mixer.named_parameters():
        assert torch.equal(p, loaded[name]), name


def test_heads_must_be_a_multiple_of_kv_heads():
    with pytest.raises(ValueError, match="n_heads 4 must be a multiple of n_kv_heads 3"):
        attention({}, model_section(n_kv_heads=3))
    with pytest.raises(ValueError, match="n_heads 4 must be a multiple of n_kv_heads 0"):
        attention({}, model_section(n_kv_heads=0))


def test_key_pattern_reads_window_mode_and_stride():
    assert twin.KeyPattern(dict(DEFAULTS)).is_global()
    assert twin.KeyPattern(dict(DEFAULTS, window=8, window_mode="dilated")).stride == 1
    assert twin.KeyPattern(dict(DEFAULTS, window=8, window_mode="nsa")).stride == 4
    assert twin.KeyPattern(dict(DEFAULTS, window=8, window_mode="nsa", window_dilation=2)).stride == 2
    assert twin.KeyPattern(dict(DEFAULTS, window=8)).cache_keep() == 7
    assert twin.KeyPattern(dict(DEFAULTS, window=8, window_mode="dilated", window_dilation=3)).cache_keep() == 7
    assert twin.KeyPattern(dict(DEFAULTS, window=8, window_mode="nsa")).cache_keep() is None
    assert twin.KeyPattern(dict(DEFAULTS)).cache_keep() is None


@pytest.mark.parametrize("params,rule", [
    ({}, lambda i, j: j <= i),
    ({"window": 4}, lambda i, j: j <= i and i - j < 4),
    ({"window": 4, "window_mode": "sliding"}, lambda i, j: j <= i and i - j < 4),
    ({"window": 7, "window_mode": "dilated", "window_dilation": 2},
     lambda i, j: j <= i and i - j < 7 and (i - j) % 2 == 0),
    ({"window": 7, "window_mode": "dilated"}, lambda i, j: j <= i and i - j < 7),
    ({"window": 3, "window_mode": "nsa", "window_dilation": 5},
     lambda i, j: j <= i and (i - j < 3 or (i - j) % 5 == 0)),
    ({"window": 3, "window_mode": "nsa"}, lambda i, j: j <= i and (i - j < 3 or (i - j) % 4 == 0)),
])
def test_visible_matches_the_rule_at_any_positions(params, rule):
    pattern = twin.KeyPattern(dict(DEFAULTS, **params))
    q_pos, k_pos = positions(20, 6), torch.tensor([3, 8, 12, 17, 19, 20, 21, 22, 25, 30])
    visible = pattern.visible(q_pos, k_pos)
    assert visible.dtype == torch.bool and list(visible.shape) == [6, 10]
    for a, i in enumerate(q_pos.tolist()):
        for b, j in enumerate(k_pos.tolist()):
            assert bool(visible[a, b]) == rule(i, j), (i, j)


# --- shapes, dtypes, causality -------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_shapes_and_dtypes(dtype):
    rope = positional("rope")
    mixer = attention({"window": 4}, dtype=dtype)
    assert mixer.q_proj.weight.dtype == dtype
    x = random((3, 9, 64), 1, dtype)
    y = run(mixer, rope, x)
    assert y.shape == x.shape and y.dtype == dtype and torch.isfinite(y).all()
    cache = mixer.new_cache()
    step = run(mixer, rope, x[:, :1], 0, cache)
    assert list(step.shape) == [3, 1, 64] and step.dtype == dtype


@pytest.mark.parametrize("params", [{}, {"window": 3}, {"latent_dim": 32}, {"window": 5, "window_mode": "nsa"}])
@pytest.mark.parametrize("scheme", ["rope", "alibi"])
def test_causal_a_later_token_never_changes_earlier_outputs(params, scheme):
    pos = positional(scheme)
    mixer = attention(params)
    sharpen(mixer, 3.0)
    x = random((2, 10, 64), 2)
    before = run(mixer, pos, x)
    x[:, 6:] = random((2, 4, 64), 3)
    after = run(mixer, pos, x)
    assert max_abs_diff(before[:, :6], after[:, :6]) < 1e-6
    assert max_abs_diff(before[:, 6:], after[:, 6:]) > 1e-4


# --- against the explicit reference ---------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["rope", "none"])
def test_global_causal_attention_equals_the_explicit_reference(scheme):
    pos = positional(scheme)
    mixer = attention({"qkv_bias": True})
    with torch.no_grad():  # non-zero biases, so that their use is checked too
        for p in mixer.parameters():
            p.add_(0.01)
    sharpen(mixer, 3.0)
    x = random((2, 12, 64), 4)
    assert relative_diff(run(mixer, pos, x), reference(mixer, pos, x, causal)) < 1e-5
    # at an offset (positions 50..61): rope rotates by absolute position, the mask uses positions
    assert relative_diff(run(mixer, pos, x, 50), reference(mixer, pos, x, causal, 50)) < 1e-5


@pytest.mark.parametrize("mode", ["standard", "sliding"])
def test_sliding_window_equals_a_masked_softmax_reference(mode):
    rope = positional("rope")
    mixer = attention({"window": 4, "window_mode": mode})
    sharpen(mixer)
    x = random((2, 13, 64), 5)
    out = run(mixer, rope, x)
    assert relative_diff(out, reference(mixer, rope, x, lambda i, j: j <= i and i - j < 4)) < 1e-5
    assert relative_diff(out, reference(mixer, rope, x, causal)) > 1e-3  # the window matters


def test_dilated_window_equals_its_reference():
    rope = positional("rope")
    mixer = attention({"window": 7, "window_mode": "dilated", "window_dilation": 2})
    sharpen(mixer)
    x = random((1, 16, 64), 6)
    rule = lambda i, j: j <= i and i - j < 7 and (i - j) % 2 == 0  # noqa: E731
    out = run(mixer, rope, x)
    assert relative_diff(out, reference(mixer, rope, x, rule)) < 1e-5
    assert relative_diff(out, reference(mixer, rope, x, lambda i, j: j <= i and i - j < 7)) > 1e-3


def test_nsa_sees_its_window_plus_every_stride_th_distant_key():
    rope = positional("rope")
    x = random((1, 20, 64), 7)
    strided = attention({"window": 3, "window_mode": "nsa", "window_dilation": 5})
    sharpen(strided)
    nsa5 = lambda i, j: j <= i and (i - j < 3 or (i - j) % 5 == 0)  # noqa: E731
    assert relative_diff(run(strided, rope, x), reference(strided, rope, x, nsa5)) < 1e-5
    plain = attention({"window": 3, "window_mode": "nsa"})  # default stride 4
    sharpen(plain)
    nsa4 = lambda i, j: j <= i and (i - j < 3 or (i - j) % 4 == 0)  # noqa: E731
    out = run(plain, rope, x)
    assert relative_diff(out, reference(plain, rope, x, nsa4)) < 1e-5
    assert relative_diff(out, reference(plain, rope, x, nsa5)) > 1e-3


@pytest.mark.parametrize("params,rule", [
    ({}, causal),
    ({"window": 5}, lambda i, j: j <= i and i - j < 5),
    ({"window": 6, "window_mode": "nsa", "window_dilation": 3},
     lambda i, j: j <= i and (i - j < 6 or (i - j) % 3 == 0)),
])
def test_alibi_bias_equals_its_reference(params, rule):
    alibi = positional("alibi")
    mixer = attention(params)
    sharpen(mixer, 3.0)
    x = random((2, 11, 64), 8)
    out = run(mixer, alibi, x)
    assert relative_diff(out, reference(mixer, alibi, x, rule)) < 1e-5
    assert relative_diff(out, run(mixer, positional("none"), x)) > 1e-3  # the bias matters


@pytest.mark.parametrize("kv", [2, 1])
def test_gqa_equals_mha_whose_kv_weights_are_the_gqa_weights_repeated_per_head(kv):
    rope = positional("rope")
    gqa = attention({"qkv_bias": True}, model_section(n_kv_heads=kv))
    mha = attention({"qkv_bias": True}, model_section(n_kv_heads=4), seed=8)
    g, m = dict(gqa.named_parameters()), dict(mha.named_parameters())
    with torch.no_grad():
        for t in g.values():
            t.add_(0.01)
        sharpen(gqa, 3.0)
        for name in ("q_proj.weight", "q_proj.bias", "o_proj.weight"):
            m[name].copy_(g[name])
        for name in ("k_proj", "v_proj"):
            repeated = g[name + ".weight"].view(kv, 16, 64).repeat_interleave(4 // kv, 0)
            m[name + ".weight"].copy_(repeated.reshape(64, 64))
            m[name + ".bias"].copy_(g[name + ".bias"].view(kv, 16).repeat_interleave(4 // kv, 0).reshape(64))
    x = random((2, 9, 64), 9)
    assert relative_diff(run(gqa, rope, x), run(mha, rope, x)) < 1e-5
    assert relative_diff(run(gqa, rope, x), reference(gqa, rope, x, causal)) < 1e-5


def test_mla_matches_its_reference_and_decodes():
    rope = positional("rope")
    mixer = attention({"latent_dim": 32, "qkv_bias": True})
    with torch.no_grad():
        for p in mixer.parameters():
            p.add_(0.01)
    sharpen(mixer, 3.0)
    x = random((2, 10, 64), 10)
    assert relative_diff(run(mixer, rope, x), reference(mixer, rope, x, causal)) < 1e-5
    cache = check_decoding(mixer, rope, 12, 5)
    # MLA caches its up-projected, rotated keys and values: [B, KV, T, hd]
    assert list(cache.keys.shape) == [2, 2, 12, 16] and list(cache.values.shape) == [2, 2, 12, 16]


@pytest.mark.parametrize("scaling", [{"type": "yarn", "factor": 4.0}, {"type": "linear", "factor": 2.0}])
def test_partial_and_scaled_rope_pass_through_the_mixer(scaling):
    rope = positional("rope", {"rope_scaling": scaling, "partial_rotary_factor": 0.5})
    mixer = attention({"window": 6})
    sharpen(mixer, 3.0)
    x = random((1, 10, 64), 14)
    assert relative_diff(run(mixer, rope, x, 30), reference(mixer, rope, x, lambda i, j: j <= i and i - j < 6,
                                                             30)) < 1e-5


# --- the SDPA masking choices ------------------------------------------------------------------------


class SdpaSpy:
    def __init__(self, monkeypatch):
        self.calls = []
        original = twin.F.scaled_dot_product_attention

        def spy(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, **kwargs):
            self.calls.append({"q": q.shape, "k": k.shape, "mask": attn_mask, "dropout_p": dropout_p,
                               "is_causal": is_causal, "kwargs": kwargs})
            return original(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p, is_causal=is_causal, **kwargs)

        monkeypatch.setattr(twin.F, "scaled_dot_product_attention", spy)


def test_global_attention_without_cache_or_bias_uses_sdpas_own_causal_mask(monkeypatch):
    spy = SdpaSpy(monkeypatch)
    run(attention(), positional("rope"), random((2, 5, 64), 1))
    call = spy.calls[-1]
    assert call["mask"] is None and call["is_causal"] is True and call["dropout_p"] == 0.0 and call["kwargs"] == {}
    # GQA: K/V are repeated to the query heads before SDPA
    assert list(call["k"]) == [2, 4, 5, 16]


def test_one_cached_token_of_global_attention_needs_no_mask(monkeypatch):
    mixer, rope = attention(), positional("rope")
    x = random((2, 5, 64), 1)
    cache = mixer.new_cache()
    spy = SdpaSpy(monkeypatch)
    run(mixer, rope, x[:, :3], 0, cache)
    prefill = spy.calls[-1]  # an empty cache: the keys are the queries, SDPA's causal mask is exact
    assert prefill["is_causal"] is True and prefill["mask"] is None
    run(mixer, rope, x[:, 3:4], 3, cache)
    step = spy.calls[-1]
    assert step["mask"] is None and step["is_causal"] is False and list(step["k"]) == [2, 4, 4, 16]
    run(mixer, rope, x[:, 4:5].expand(2, 2, 64).contiguous(), 4, cache)  # two tokens: a mask again
    assert spy.calls[-1]["mask"].shape == (2, 6)


def test_windowed_attention_passes_the_bool_mask_once_the_window_bites(monkeypatch):
    spy = SdpaSpy(monkeypatch)
    mixer = attention({"window": 3})
    run(mixer, positional("rope"), random((1, 5, 64), 1))
    call = spy.calls[-1]
    assert call["is_causal"] is False
    expected = torch.tensor([[j <= i and i - j < 3 for j in range(5)] for i in range(5)])
    assert torch.equal(call["mask"], expected)
    cache = mixer.new_cache()
    run(mixer, positional("rope"), random((1, 2, 64), 1), 0, cache)
    run(mixer, positional("rope"), random((1, 1, 64), 1), 2, cache)
    assert spy.calls[-1]["mask"].dtype == torch.bool  # one token of windowed attention: still masked


@pytest.mark.parametrize("params, length, plain", [
    ({"window": 8}, 8, True),  # every distance inside the window
    ({"window": 8}, 9, False),
    ({"window": 8, "window_mode": "nsa"}, 8, True),
    ({"window": 8, "window_mode": "dilated", "window_dilation": 2}, 4, False),
    ({"window": 8, "window_mode": "dilated", "window_dilation": 1}, 8, True),
])
def test_a_window_wider_than_the_prompt_uses_sdpas_causal_mask(monkeypatch, params, length, plain):
    spy = SdpaSpy(monkeypatch)
    mixer = attention(params)
    x = random((1, length, 64), 3)
    cache = mixer.new_cache()
    out = run(mixer, positional("rope"), x, 0, cache)
    call = spy.calls[-1]
    assert call["is_causal"] is plain and (call["mask"] is None) is plain
    expected = reference(mixer, positional("rope"), x,
                         lambda i, j: bool(mixer.pattern.visible(torch.tensor([i]), torch.tensor([j]))))
    assert relative_diff(out, expected) < 1e-5


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_alibi_passes_a_float_mask_with_minus_infinity_in_the_query_dtype(monkeypatch, dtype):
    spy = SdpaSpy(monkeypatch)
    alibi = positional("alibi")
    run(attention(dtype=dtype), alibi, random((1, 4, 64), 1, dtype))
    call = spy.calls[-1]
    mask = call["mask"]
    assert call["is_causal"] is False and mask.dtype == dtype and list(mask.shape) == [1, 4, 4, 4]
    bias = alibi.attention_bias(4, positions(0, 4), positions(0, 4))
    upper = torch.ones(4, 4, dtype=torch.bool).triu(1)
    assert torch.isinf(mask[0][:, upper]).all() and (mask[0][:, upper] < 0).all()
    assert torch.equal(mask[0][:, ~upper], bias.to(dtype)[:, ~upper])


# --- decoding -------------------------------------------------------------------------------------------


def test_prefill_plus_single_steps_equal_the_full_forward_global_rope():
    rope = positional("rope")
    mixer = attention()
    sharpen(mixer, 3.0)
    cache = check_decoding(mixer, rope, 14, 6)
    assert cache.length() == 14  # global attention keeps every key
    assert cache.positions.tolist() == list(range(14))
    assert list(cache.keys.shape) == [2, 2, 14, 16]  # KV heads, not repeated
    check_decoding(mixer, rope, 14, 1)
    check_decoding(mixer, rope, 15, 4, 3)  # chunked prefill


@pytest.mark.parametrize("mode", ["standard", "sliding"])
def test_prefill_plus_steps_with_a_window_and_the_cache_is_trimmed(mode):
    rope = positional("rope")
    mixer = attention({"window": 4, "window_mode": mode})
    sharpen(mixer, 3.0)
    cache = check_decoding(mixer, rope, 16, 9)
    assert cache.length() == 3  # window - 1: all a later query can see
    assert cache.positions.tolist() == [13, 14, 15]
    assert cache.keys.is_contiguous() and cache.values.is_contiguous()
    cache = check_decoding(mixer, rope, 16, 2, 3)  # multi-token calls over a trimmed cache
    assert cache.length() == 3


def test_other_windows_trim_as_documented():
    rope = positional("rope")
    one = attention({"window": 1})
    assert check_decoding(one, rope, 6, 3).length() == 0
    dilated = attention({"window": 6, "window_mode": "dilated", "window_dilation": 2})
    sharpen(dilated, 3.0)
    assert check_decoding(dilated, rope, 16, 7).length() == 5
    check_decoding(dilated, rope, 16, 3, 4)
    nsa = attention({"window": 3, "window_mode": "nsa", "window_dilation": 4})
    sharpen(nsa, 3.0)
    assert check_decoding(nsa, rope, 16, 5).length() == 16  # distant keys stay reachable
    check_decoding(nsa, rope, 17, 2, 5)


def test_the_trimmed_cache_holds_the_newest_rotated_keys():
    rope = positional("rope")
    mixer = attention({"window": 3})
    x = random((1, 7, 64), 3)
    cache = mixer.new_cache()
    run(mixer, rope, x, 0, cache)
    k = mixer.k_proj(x).view(1, 7, 2, 16).transpose(1, 2)
    _, rotated = rope.rotate(k.repeat(1, 2, 1, 1), k, positions(0, 7))
    assert torch.equal(cache.keys, rotated[:, :, 5:])
    assert torch.equal(cache.values, mixer.v_proj(x).view(1, 7, 2, 16).transpose(1, 2)[:, :, 5:])
    assert cache.positions.tolist() == [5, 6]


@pytest.mark.parametrize("params", [{}, {"window": 5}, {"window": 4, "window_mode": "nsa"}])
def test_prefill_plus_steps_with_alibi_and_with_no_positional_signal(params):
    mixer = attention(params)
    sharpen(mixer, 3.0)
    check_decoding(mixer, positional("alibi"), 13, 5)
    check_decoding(mixer, positional("alibi"), 13, 2, 4)
    check_decoding(mixer, positional("none"), 10, 4)


def test_the_cache_refuses_a_changed_batch_and_foreign_states():
    mixer, rope = attention(), positional("rope")
    cache = mixer.new_cache()
    run(mixer, rope, random((2, 3, 64), 1), 0, cache)
    with pytest.raises(RuntimeError, match="batch size changed from 2 to 3 while decoding"):
        run(mixer, rope, random((3, 1, 64), 2), 3, cache)
    with pytest.raises(TypeError, match="not made by this attention layer's new_cache"):
        run(mixer, rope, random((2, 1, 64), 2), 0, object())
    with pytest.raises(ValueError, match="positional module must be given"):
        mixer(random((2, 1, 64), 2), positions(0, 1), None)


def test_a_fresh_cache_is_empty_and_independent():
    mixer = attention()
    a, b = mixer.new_cache(), mixer.new_cache()
    assert a.length() == 0 and a.keys is None and a is not b
    run(mixer, positional("rope"), random((1, 2, 64), 1), 0, a)
    assert a.length() == 2 and b.length() == 0


def test_batch_reordering_for_generation():
    mixer, rope = attention(), positional("rope")
    x = random((3, 4, 64), 1)
    cache = mixer.new_cache()
    run(mixer, rope, x, 0, cache)
    keys, values = cache.keys.clone(), cache.values.clone()
    cache.reorder_cache(torch.tensor([2, 0, 0]))
    assert torch.equal(cache.keys, keys[[2, 0, 0]]) and torch.equal(cache.values, values[[2, 0, 0]])
    cache.batch_select_indices(torch.tensor([1, 2]))
    assert torch.equal(cache.keys, keys[[0, 0]])
    cache.batch_repeat_interleave(2)
    assert cache.keys.shape[0] == 4 and cache.positions.tolist() == [0, 1, 2, 3]
    cache.reset()
    assert cache.length() == 0


# --- gradients, dropout, pickling ----------------------------------------------------------------------


@pytest.mark.parametrize("params", [{"qkv_bias": True, "attn_drop": 0.1}, {"latent_dim": 32, "qkv_bias": True},
                                    {"window": 3, "window_mode": "dilated"}])
def test_backward_gives_finite_gradients_to_every_parameter(params):
    mixer = attention(params)
    mixer.train()
    x = random((2, 7, 64), 12).requires_grad_(True)
    run(mixer, positional("rope"), x).pow(2).sum().backward()
    for name, p in mixer.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum().item() > 0.0, name
    assert torch.isfinite(x.grad).all()


def test_dropout_on_the_attention_probabilities_only_while_training(monkeypatch):
    rope = positional("rope")
    dropped, plain = attention({"attn_drop": 0.5}), attention()
    x = random((2, 8, 64), 13)
    dropped.eval()
    assert torch.equal(run(dropped, rope, x), run(plain, rope, x))
    dropped.train()
    assert max_abs_diff(run(dropped, rope, x), run(plain, rope, x)) > 1e-4
    spy = SdpaSpy(monkeypatch)
    run(dropped, rope, x)
    assert spy.calls[-1]["dropout_p"] == 0.5
    dropped.eval()
    run(dropped, rope, x)
    assert spy.calls[-1]["dropout_p"] == 0.0


def test_bfloat16_stays_close_to_float32_and_decodes():
    single = attention({"window": 5})
    half = attention({"window": 5}, dtype=torch.bfloat16)
    rope = positional("rope")
    x = random((2, 11, 64), 15)
    out = run(half, rope, x.to(torch.bfloat16))
    assert out.dtype == torch.bfloat16
    assert relative_diff(out, run(single, rope, x)) < 5e-2
    cache = half.new_cache()
    pieces = [run(half, rope, x[:, :4].to(torch.bfloat16), 0, cache)]
    pieces += [run(half, rope, x[:, t:t + 1].to(torch.bfloat16), t, cache) for t in range(4, 11)]
    assert relative_diff(torch.cat(pieces, 1), out) < 5e-2


def test_blocks_pickle():
    mixer = attention({"window": 4, "latent_dim": 16})
    clone = pickle.loads(pickle.dumps(mixer))
    rope = positional("rope")
    x = random((1, 5, 64), 1)
    assert torch.equal(clone(x, positions(0, 5), rope), mixer(x, positions(0, 5), rope))


# --- attention sinks ---------------------------------------------------------------------------


def with_sinks(params=None, seed=5, **sinks):
    mixer = attention(dict(params or {}, attention_sinks=dict(SINKS, **sinks)))
    if mixer.learnable_sinks:
        with torch.no_grad():
            mixer.sinks.copy_(random(tuple(mixer.sinks.shape), seed))
    return mixer


def test_learnable_sinks_are_a_zero_initialised_h_by_n_parameter():
    mixer = attention({"attention_sinks": SINKS})
    assert tuple(mixer.sinks.shape) == (4, 2) and not mixer.sinks.any()
    assert "sinks" in dict(mixer.named_parameters()) and dict(mixer.named_buffers()) == {}
    assert "sinks" not in dict(attention({"attention_sinks": dict(SINKS, learnable=False)}).named_parameters())
    assert mixer.tensor_parallel_plan == {}  # every head's sinks: the layer stays whole


@pytest.mark.parametrize("scheme", ["rope", "alibi", "none"])
@pytest.mark.parametrize("learnable", [True, False])
def test_sinks_join_the_softmax_as_the_reference_says(scheme, learnable):
    pos = positional(scheme)
    mixer = with_sinks(learnable=learnable)
    sharpen(mixer, 3.0)
    x = random((2, 9, 64), 6)
    assert relative_diff(run(mixer, pos, x), reference(mixer, pos, x, causal)) < 1e-5


@pytest.mark.parametrize("implementation", ["sdpa", "eager", "flex_attention"])
def test_every_attention_implementation_computes_the_sinks(implementation):
    pos = positional("rope")
    mixer = with_sinks()
    x = random((2, 7, 64), 3)
    expected = run(mixer, pos, x)
    mixer.attention_implementation = implementation
    assert relative_diff(run(mixer, pos, x), expected) < 1e-6


def test_a_dominant_sink_attends_to_nothing_and_a_vanishing_one_changes_nothing():
    pos = positional("rope")
    mixer = with_sinks(n_per_head=1)
    plain = attention()
    plain.load_state_dict({k: v for k, v in mixer.state_dict().items() if k != "sinks"})
    x = random((1, 6, 64), 8)
    with torch.no_grad():
        mixer.sinks.fill_(-1e4)
        assert relative_diff(run(mixer, pos, x), run(plain, pos, x)) < 1e-6
        mixer.sinks.fill_(1e4)
        assert run(mixer, pos, x).abs().max() < 1e-6


@pytest.mark.parametrize("params", [{}, {"window": 4}])
def test_sinks_prefill_plus_steps_equal_the_full_forward(params):
    pos = positional("rope")
    mixer = with_sinks(params)
    check_decoding(mixer, pos, 13, 5)
    check_decoding(mixer, pos, 13, 4, 3)


def test_sinks_get_gradients():
    mixer = with_sinks()
    run(mixer, positional("rope"), random((2, 5, 64), 2)).square().sum().backward()
    assert mixer.sinks.grad is not None and mixer.sinks.grad.abs().sum() > 0
