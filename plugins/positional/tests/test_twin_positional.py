"""The Python twin of the positional plugin (plugins/positional/eulerstack_positional.py).

Mirrors plugins/positional/tests/test_positional.cpp on the Python side: parameter layout and
counts (the plugin's formulas restated), `none` as the identity, RoPE's relative
property, plain and partial RoPE and every scaling mode against inverse frequencies
computed here independently (in double precision, HF's formulas written out), ALiBi's
slopes against the paper's reference code and its bias, the learned table and its
bound check. Cross-language parity is checked through the exporter (test_hf_export.py).
"""

import math
import pickle

import pytest

from twin_support import (PLUGINS, ModuleRegistrar, imported_roots, load_twin, max_abs_diff, model_section,
                          positional_context, random)

torch = pytest.importorskip("torch")

TWIN = PLUGINS / "positional" / "eulerstack_positional.py"

twin = load_twin(TWIN)

HEAD_DIM = 16  # d_model 64 / 4 heads

REGISTRY = ModuleRegistrar("positional")
twin.register(REGISTRY)


def make(type_, params=None, model=None, init_std=0.02, seed=0):
    """Scheme `type_` with its documented defaults (positional_plugin.cpp, twin_support.POSITIONAL_DEFAULTS)."""
    torch.manual_seed(seed)
    return REGISTRY.positionals[type_](positional_context(type_, params, model, init_std))


def scaling(type_, factor):
    return {"rope_scaling": {"type": type_, "factor": factor}}


def positions_of(values):
    return torch.tensor(values, dtype=torch.long)


def plain_inv_freq(base, rot):
    """theta^(-i/rot) for i = 0, 2, ..., rot - 2, in double."""
    return [base ** (-float(i) / float(rot)) for i in range(0, rot, 2)]


def reference_rope(x, inv_freq, angles_at, scale=1.0):
    """rotate_half RoPE on the first 2 * len(inv_freq) dims, in double, element by element:
    (x1, x2) -> (x1 c - x2 s, x2 c + x1 s) with c, s = cos, sin of position * inv_freq_i (times `scale`)."""
    half = len(inv_freq)
    x = x.detach().double()
    out = x.clone()
    for t, p in enumerate(angles_at):
        for i in range(half):
            angle = float(p) * inv_freq[i]
            c, s = math.cos(angle) * scale, math.sin(angle) * scale
            x1, x2 = x[..., t, i], x[..., t, i + half]
            out[..., t, i] = x1 * c - x2 * s
            out[..., t, i + half] = x2 * c + x1 * s
    return out


def rotate(rope, positions, dtype=torch.float32):
    """q [1, 4, T, 16] and k [1, 2, T, 16] rotated at `positions`."""
    t = len(positions)
    return rope.rotate(random((1, 4, t, HEAD_DIM), 1, dtype), random((1, 2, t, HEAD_DIM), 2, dtype),
                       positions_of(positions))


def check_against_reference(rope, positions, inv_freq, scale=1.0, angles_at=None, tolerance=2e-4):
    t = len(positions)
    q, k = random((1, 4, t, HEAD_DIM), 1), random((1, 2, t, HEAD_DIM), 2)
    rq, rk = rope.rotate(q, k, positions_of(positions))
    at = list(positions) if angles_at is None else angles_at
    assert rq.dtype == torch.float32 and rk.dtype == torch.float32
    assert max_abs_diff(rq, reference_rope(q, inv_freq, at, scale)) < tolerance
    assert max_abs_diff(rk, reference_rope(k, inv_freq, at, scale)) < tolerance


# --- the twin's contract ---------------------------------------------------------------------


def test_imports_only_torch_and_the_standard_library():
    roots = imported_roots(TWIN)
    assert roots <= {"torch", "math", "typing"}, roots


def test_registers_the_four_schemes():
    assert REGISTRY.positionals == {"rope": twin.Rope, "alibi": twin.Alibi, "learned": twin.LearnedPositions,
                                    "none": twin.Positional}


def formula_count(type_, model):
    """positional_plugin.cpp: no weights, except learned's max_seq_len * d_model."""
    return model["max_seq_len"] * model["d_model"] if type_ == "learned" else 0


@pytest.mark.parametrize("type_", ["rope", "alibi", "none", "learned"])
@pytest.mark.parametrize("model", [model_section(), model_section(max_seq_len=100, d_model=32)])
def test_parameter_counts_follow_the_plugin_formulas_and_there_are_no_buffers(type_, model):
    module = make(type_, model=model)
    assert sum(p.numel() for p in module.parameters()) == formula_count(type_, model)
    assert dict(module.named_buffers()) == {}
    expected = ["weight"] if type_ == "learned" else []
    assert sorted(module.state_dict()) == expected


def test_learned_table_is_max_seq_len_by_d_model_and_drawn_from_init_std():
    learned = make("learned", model=model_section(max_seq_len=512, d_model=128), init_std=0.05)
    assert list(learned.weight.shape) == [512, 128]
    assert learned.weight.std().item() == pytest.approx(0.05, rel=0.02)
    assert abs(learned.weight.mean().item()) < 0.002
    with torch.no_grad():
        learned.weight.fill_(7.0)
    learned.reset_parameters()
    assert learned.weight.std().item() == pytest.approx(0.05, rel=0.02)


def test_learned_init_goes_through_torch_nn_init_so_a_loaded_table_is_kept():
    initialization = pytest.importorskip("transformers.initialization")
    learned = make("learned")
    loaded = learned.weight.detach().clone()
    learned.weight._is_hf_initialized = True
    with torch.no_grad(), initialization.guard_torch_init_functions():
        learned.reset_parameters()
    assert torch.equal(learned.weight, loaded)


def test_blocks_pickle():
    for type_ in ("rope", "alibi", "learned", "none"):
        clone = pickle.loads(pickle.dumps(make(type_, scaling("yarn", 2.0) if type_ == "rope" else None)))
        assert type(clone).__name__ == type(make(type_)).__name__


# --- none ------------------------------------------------------------------------------------


def test_none_adds_nothing_and_leaves_queries_and_keys_alone():
    none = make("none")
    q, k = random((1, 4, 3, HEAD_DIM), 1), random((1, 2, 3, HEAD_DIM), 2)
    rq, rk = none.rotate(q, k, positions_of([0, 1, 2]))
    assert rq is q and rk is k
    assert none.embed(positions_of([0, 1])) is None
    assert none.attention_bias(4, positions_of([0]), positions_of([0])) is None


def test_rope_and_alibi_add_no_embedding_and_rope_no_bias_alibi_no_rotation():
    rope, alibi = make("rope"), make("alibi")
    assert rope.embed(positions_of([0, 1])) is None
    assert alibi.embed(positions_of([0, 1])) is None
    assert rope.attention_bias(4, positions_of([0]), positions_of([0])) is None
    q, k = random((1, 4, 3, HEAD_DIM), 1), random((1, 2, 3, HEAD_DIM), 2)
    rq, rk = alibi.rotate(q, k, positions_of([0, 1, 2]))
    assert rq is q and rk is k


# --- rope --------------------------------------------------------------------------------------


def test_rope_q_dot_k_depends_only_on_the_distance():
    rope = make("rope")
    q, k = random((1, 1, 1, HEAD_DIM), 3), random((1, 1, 1, HEAD_DIM), 4)

    def score(m, n):
        qm = rope.rotate(q, k, positions_of([m]))[0]
        kn = rope.rotate(q, k, positions_of([n]))[1]
        return (qm.double() * kn.double()).sum().item()

    assert score(5, 2) == pytest.approx(score(13, 10), rel=1e-5)
    assert score(40, 40) == pytest.approx(score(0, 0), rel=1e-5)
    assert score(100, 37) == pytest.approx(score(63, 0), rel=1e-4)
    assert abs(score(5, 2) - score(5, 3)) > 1e-3  # and the distance does matter
    assert score(0, 0) == pytest.approx((q.double() * k.double()).sum().item(), rel=1e-6)


def test_plain_rope_matches_the_rotate_half_reference_with_theta_to_the_minus_2i_over_rot():
    rope = make("rope", {"rope_theta": 500000.0})
    check_against_reference(rope, [0, 1, 7, 255], plain_inv_freq(500000.0, HEAD_DIM))


def test_no_scaling_means_the_plain_frequencies():
    rope = make("rope")
    assert rope.scaling == "none" and rope.factor == 1.0
    check_against_reference(rope, [0, 3, 100], plain_inv_freq(10000.0, HEAD_DIM))


def test_inverse_frequencies_are_float32_and_equal_the_double_formula():
    for base, rot in ((10000.0, 16), (500000.0, 8), (1e6, 128)):
        inv = twin.inverse_frequencies(base, rot)
        assert inv.dtype == torch.float32 and list(inv.shape) == [rot // 2]
        expected = torch.tensor(plain_inv_freq(base, rot), dtype=torch.float64)
        assert torch.allclose(inv.double(), expected, rtol=1e-6, atol=0)


def test_partial_rotary_rotates_only_the_first_head_dim_times_factor_dims():
    rope = make("rope", {"partial_rotary_factor": 0.5})
    assert rope.rot == 8
    q, k = random((1, 4, 5, HEAD_DIM), 5), random((1, 2, 5, HEAD_DIM), 6)
    rq, rk = rope.rotate(q, k, positions_of([3, 4, 5, 6, 7]))
    assert torch.equal(rq[..., 8:], q[..., 8:])
    assert torch.equal(rk[..., 8:], k[..., 8:])
    assert max_abs_diff(rq[..., :8], q[..., :8]) > 1e-2
    expected = reference_rope(q[..., :8], plain_inv_freq(10000.0, 8), [3, 4, 5, 6, 7])
    assert max_abs_diff(rq[..., :8], expected) < 1e-5


def test_partial_rotary_truncates_head_dim_times_factor():
    # 16 * 0.3 = 4.8 -> 4 (static_cast truncation), 16 * 0.6 = 9.6 -> 9 (odd: refused)
    assert make("rope", {"partial_rotary_factor": 0.3}).rot == 4
    with pytest.raises(ValueError, match=r"rotated part of each head \(9 of 16 dims\) must be even and at least 2"):
        make("rope", {"partial_rotary_factor": 0.6})
    with pytest.raises(ValueError, match=r"\(1 of 16 dims\)"):
        make("rope", {"partial_rotary_factor": 0.1})


def test_ntk_and_dynamic_need_more_than_two_rotated_dims():
    # head_dim 16, factor 0.125 -> rot 2: exponent rot / (rot - 2) undefined
    for type_ in ("ntk", "dynamic"):
        with pytest.raises(ValueError, match="rope_scaling %s needs a rotated part of more than 2 dims" % type_):
            make("rope", dict(scaling(type_, 2.0), partial_rotary_factor=0.125))
    for type_ in ("linear", "yarn"):
        assert make("rope", dict(scaling(type_, 2.0), partial_rotary_factor=0.125)).rot == 2


def test_rotate_refuses_heads_narrower_than_the_rotated_part():
    rope = make("rope")
    q, k = random((1, 4, 2, 8), 1), random((1, 2, 2, 8), 2)
    with pytest.raises(ValueError, match="head_dim 8 is smaller than the 16 rotated dims"):
        rope.rotate(q, k, positions_of([0, 1]))


def test_linear_scaling_equals_plain_rope_at_positions_over_factor():
    linear, plain = make("rope", scaling("linear", 4.0)), make("rope")
    scaled = rotate(linear, [0, 4, 8, 400, 1020])
    reference = rotate(plain, [0, 1, 2, 100, 255])
    assert max_abs_diff(scaled[0], reference[0]) < 1e-5
    assert max_abs_diff(scaled[1], reference[1]) < 1e-5
    # Between the grid points it interpolates: positions 2 and 7 under factor 4 are 0.5 and 1.75.
    check_against_reference(linear, [2, 7], plain_inv_freq(10000.0, HEAD_DIM), angles_at=[0.5, 1.75])


def test_scaling_type_defaults_to_linear_and_factor_to_one():
    rope = make("rope", {"rope_scaling": {"factor": 2.0}})
    assert rope.scaling == "linear" and rope.factor == 2.0
    check_against_reference(rope, [0, 6, 9], plain_inv_freq(10000.0, HEAD_DIM), angles_at=[0.0, 3.0, 4.5])
    assert make("rope", {"rope_scaling": {"type": "ntk"}}).factor == 1.0


# max_seq_len 256 is the extended context; factor 4 -> trained context 64.
def test_ntk_scaling_raises_the_base_to_theta_times_factor_to_rot_over_rot_minus_2():
    ntk = make("rope", scaling("ntk", 4.0))
    base = 10000.0 * 4.0 ** (16.0 / 14.0)
    check_against_reference(ntk, [0, 1, 63, 200, 255], plain_inv_freq(base, HEAD_DIM))
    assert max_abs_diff(rotate(ntk, [200])[0], rotate(make("rope"), [200])[0]) > 1e-2
    # with a partial rotary part, the exponent is that of rot: 8 / 6
    partial = make("rope", dict(scaling("ntk", 4.0), partial_rotary_factor=0.5))
    q, k = random((1, 4, 3, HEAD_DIM), 1), random((1, 2, 3, HEAD_DIM), 2)
    rq, _ = partial.rotate(q, k, positions_of([0, 50, 255]))
    expected = reference_rope(q[..., :8], plain_inv_freq(10000.0 * 4.0 ** (8.0 / 6.0), 8), [0, 50, 255])
    assert max_abs_diff(rq[..., :8], expected) < 2e-4


def test_dynamic_scaling_is_plain_inside_the_trained_context_and_ntk_stretched_beyond_it():
    dynamic = make("rope", scaling("dynamic", 4.0))
    # max position 63: seq_len 64 = trained context -> theta unchanged.
    check_against_reference(dynamic, [0, 10, 63], plain_inv_freq(10000.0, HEAD_DIM))
    # max position 127: seq_len 128 -> base = theta * (4 * 128/64 - 3)^(16/14), for every position of the call.
    base = 10000.0 * (4.0 * 128.0 / 64.0 - 3.0) ** (16.0 / 14.0)
    check_against_reference(dynamic, [0, 10, 63, 127], plain_inv_freq(base, HEAD_DIM))
    longest = 10000.0 * (4.0 * 256.0 / 64.0 - 3.0) ** (16.0 / 14.0)
    check_against_reference(dynamic, [5, 255], plain_inv_freq(longest, HEAD_DIM))
    # The same position rotates differently depending on the furthest position of the call.
    q, k = random((1, 4, 1, HEAD_DIM), 1), random((1, 2, 1, HEAD_DIM), 2)
    alone = dynamic.rotate(q, k, positions_of([10]))[0]
    q2 = torch.cat((q, q), 2)
    together = dynamic.rotate(q2, torch.cat((k, k), 2), positions_of([10, 200]))[0][:, :, :1]
    assert max_abs_diff(alone, together) > 1e-3
    # No positions: nothing to rotate, no error.
    empty = dynamic.rotate(q[:, :, :0], k[:, :, :0], positions_of([]))
    assert empty[0].shape[2] == 0


def yarn_inv_freq(theta, dim, original, factor):
    """HF's _compute_yarn_parameters (truncate, beta_fast 32, beta_slow 1) in double, restated."""

    def correction(rotations):
        return dim * math.log(original / (rotations * 2.0 * math.pi)) / (2.0 * math.log(theta))

    low = max(math.floor(correction(32.0)), 0.0)
    high = min(math.ceil(correction(1.0)), dim - 1.0)
    if low == high:
        high += 0.001
    result = []
    for i, extrapolated in enumerate(plain_inv_freq(theta, int(dim))):
        ramp = min(max((i - low) / (high - low), 0.0), 1.0)
        result.append(extrapolated / factor * ramp + extrapolated * (1.0 - ramp))
    return result, low, high


def test_yarn_blends_interpolated_and_extrapolated_frequencies_and_scales_cos_sin():
    factor, theta = 4.0, 10000.0
    inv_freq, low, high = yarn_inv_freq(theta, 16.0, 64.0, factor)
    assert (low, high) == (0.0, 3.0)  # the numbers this test was written for: a ramp over dims 0..3
    assert inv_freq[0] == 1.0  # fully extrapolated
    assert inv_freq[7] == pytest.approx(theta ** (-14.0 / 16.0) / 4.0)  # fully interpolated
    yarn = make("rope", scaling("yarn", factor))
    assert torch.allclose(yarn.yarn_frequencies().double(), torch.tensor(inv_freq, dtype=torch.float64),
                          rtol=1e-6, atol=0)
    check_against_reference(yarn, [0, 1, 17, 64, 255], inv_freq, 0.1 * math.log(factor) + 1.0)


@pytest.mark.parametrize("theta,factor,max_seq_len,rot_factor", [
    (500000.0, 8.0, 8192, 1.0),   # a ramp strictly inside the dims
    (10000.0, 2.0, 256, 0.5),     # partial rotary: dim = rot
    (10000.0, 1.0, 256, 1.0),     # factor 1: plain frequencies, no cos/sin scale
    (1e6, 16.0, 2 ** 15, 1.0),
    (10000.0, 4.0, 16, 1.0),      # trained context 4: the ramp collapses at dim 0 (low == high)
    (10.0, 2.0, 2 ** 15, 1.0),    # tiny theta: the ramp collapses at dim - 1 (low == high)
])
def test_yarn_against_hf_formulas_in_other_regimes(theta, factor, max_seq_len, rot_factor):
    model = model_section(max_seq_len=max_seq_len)
    yarn = make("rope", dict(scaling("yarn", factor), rope_theta=theta, partial_rotary_factor=rot_factor), model)
    rot = int(HEAD_DIM * rot_factor)
    inv_freq, _, _ = yarn_inv_freq(theta, float(rot), max_seq_len / factor, factor)
    assert torch.allclose(yarn.yarn_frequencies().double(), torch.tensor(inv_freq, dtype=torch.float64),
                          rtol=1e-6, atol=0)
    scale = 1.0 if factor <= 1.0 else 0.1 * math.log(factor) + 1.0
    q, k = random((1, 4, 3, HEAD_DIM), 1), random((1, 2, 3, HEAD_DIM), 2)
    rq, _ = yarn.rotate(q, k, positions_of([0, 9, 200]))
    assert max_abs_diff(rq[..., :rot], reference_rope(q[..., :rot], inv_freq, [0, 9, 200], scale)) < 2e-4
    assert torch.equal(rq[..., rot:], q[..., rot:])


def test_yarn_degenerate_ramps_are_widened_by_a_thousandth():
    assert yarn_inv_freq(10000.0, 16.0, 4.0, 4.0)[1:] == (0.0, 0.001)
    assert yarn_inv_freq(10.0, 16.0, 2.0 ** 14, 2.0)[1:] == (15.0, 15.001)


def test_cos_sin_are_float32_rot_wide_and_duplicated_halves():
    rope = make("rope", dict(scaling("yarn", 2.0), partial_rotary_factor=0.5))
    cos, sin = rope.cos_sin(positions_of([0, 1, 2]))
    assert cos.dtype == sin.dtype == torch.float32
    assert list(cos.shape) == [3, 8]
    assert torch.equal(cos[:, :4], cos[:, 4:]) and torch.equal(sin[:, :4], sin[:, 4:])


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float64])
def test_rotation_runs_in_float32_and_returns_the_input_dtype(dtype):
    rope = make("rope", scaling("yarn", 2.0))
    q, k = random((1, 4, 3, HEAD_DIM), 1, dtype), random((1, 2, 3, HEAD_DIM), 2, dtype)
    rq, rk = rope.rotate(q, k, positions_of([0, 9, 130]))
    assert rq.dtype == dtype and rk.dtype == dtype
    # The island: computed from the input upcast to float32, then cast back.
    cos, sin = rope.cos_sin(positions_of([0, 9, 130]))
    head = q.float()
    expected = (head * cos + torch.cat((-head[..., 8:], head[..., :8]), -1) * sin).to(dtype)
    assert torch.equal(rq, expected)
    q32, _ = rope.rotate(q.float(), k.float(), positions_of([0, 9, 130]))
    assert max_abs_diff(rq, q32) < 0.05


# --- alibi ---------------------------------------------------------------------------------------


def test_alibi_eight_heads_get_the_slopes_2_to_the_minus_1_to_minus_8():
    bias = make("alibi").attention_bias(8, positions_of([1]), positions_of([0]))
    assert list(bias.shape) == [8, 1, 1]
    assert bias.dtype == torch.float32
    for h in range(8):
        assert -bias[h, 0, 0].item() == 2.0 ** -(h + 1)


def paper_slopes(n):
    """The ALiBi paper's reference code (ofirpress/attention_with_linear_biases)."""

    def power_of_2(m):
        start = 2 ** (-2 ** -(math.log2(m) - 3))
        ratio = start
        return [start * ratio ** i for i in range(m)]

    if math.log2(n).is_integer():
        return power_of_2(n)
    closest = 2 ** math.floor(math.log2(n))
    return power_of_2(closest) + paper_slopes(2 * closest)[0::2][:n - closest]


@pytest.mark.parametrize("heads", [1, 2, 3, 5, 6, 12, 16, 24, 40, 64])
def test_alibi_slopes_follow_the_papers_interleaved_extension(heads):
    expected = paper_slopes(heads)
    assert len(expected) == heads
    slopes = twin.alibi_slopes(heads)
    assert slopes == pytest.approx(expected, rel=1e-12)
    bias = make("alibi").attention_bias(heads, positions_of([1]), positions_of([0]))
    for h in range(heads):
        assert -bias[h, 0, 0].item() == pytest.approx(expected[h], rel=1e-6)


def test_alibi_six_heads_are_2_to_the_minus_2_4_6_8_then_minus_1_3():
    assert twin.alibi_slopes(6) == [2.0 ** -2, 2.0 ** -4, 2.0 ** -6, 2.0 ** -8, 2.0 ** -1, 2.0 ** -3]


def test_alibi_bias_is_minus_slope_times_q_pos_minus_k_pos_over_every_pair():
    bias = make("alibi").attention_bias(4, positions_of([10, 11, 12]), positions_of([8, 9, 10, 11, 12]))
    assert list(bias.shape) == [4, 3, 5]
    for h in range(4):
        slope = 2.0 ** (-2.0 * (h + 1))
        for i in range(3):
            for j in range(5):
                assert bias[h, i, j].item() == pytest.approx(-slope * ((10 + i) - (8 + j)), abs=1e-7)
    # Keys after a query get a positive bias (the mask, not ALiBi, hides them).
    assert (bias[:, 0, 3:] > 0).all()


# --- learned -----------------------------------------------------------------------------------


def test_learned_embed_returns_the_tables_rows_for_the_positions():
    learned = make("learned")
    rows = learned.embed(positions_of([0, 5, 255]))
    assert list(rows.shape) == [3, 64]
    assert torch.equal(rows[1], learned.weight[5])
    assert torch.equal(rows[2], learned.weight[255])
    assert list(learned.embed(positions_of([])).shape) == [0, 64]
    assert learned.rotate is not None and learned.attention_bias(4, positions_of([0]), positions_of([0])) is None


def test_learned_positions_at_or_beyond_max_seq_len_are_refused_with_the_cpp_sentence():
    learned = make("learned")
    learned.embed(positions_of([255]))
    with pytest.raises(ValueError) as error:
        learned.embed(positions_of([254, 255, 256]))
    assert str(error.value) == (
        "learned positional embeddings cover positions 0..255 (model.max_seq_len 256), but position 256 was "
        "requested; shorten the input or raise model.max_seq_len (the table has no rows beyond it)")
    small = make("learned", model=model_section(max_seq_len=10))
    with pytest.raises(ValueError, match=r"positions 0\.\.9 \(model\.max_seq_len 10\), but position 40 was"):
        small.embed(positions_of([3, 40, 12]))


def test_learned_refuses_negative_positions():
    with pytest.raises(ValueError, match="positions must not be negative"):
        make("learned").embed(positions_of([0, -1]))


def test_learned_gradient_reaches_exactly_the_used_rows():
    learned = make("learned")
    learned.embed(positions_of([2, 3, 3])).sum().backward()
    grad = learned.weight.grad
    assert grad[3].eq(2.0).all() and grad[2].eq(1.0).all()
    assert grad.abs().sum().item() == pytest.approx(3 * 64)
