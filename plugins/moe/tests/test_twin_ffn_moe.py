"""The Python twins of the ffn and moe plugins (plugins/ffn/eulerstack_ffn.py, plugins/moe/eulerstack_moe.py).

The blocks are built from a local stand-in of core's ModuleContext (docs/EXPORT.md, "The Python
blocks") and checked against what the C++ modules document and test (plugins/ffn/tests/test_ffn.cpp,
plugins/moe/tests/test_moe.cpp): parameter names, shapes and counts against the plugins' count formulas (restated
here), the math against explicit references (the MoE token by token), capacity in training and
inference, the hash routing formula, bias correction and the aux loss. Cross-language parity is
checked through the exporter.
"""
import copy
import math
import pickle

import pytest

from twin_support import (PLUGINS, ModuleContext, ModuleCatalog, ModuleRegistrar, block_context, imported_roots, init_all,
                          load_twin, max_abs_diff, merge, model_section)

torch = pytest.importorskip("torch")

TWINS = {"ffn": PLUGINS / "ffn" / "eulerstack_ffn.py", "moe": PLUGINS / "moe" / "eulerstack_moe.py"}

ffn_twin = load_twin(TWINS["ffn"])
moe_twin = load_twin(TWINS["moe"])

# --- a stand-in for core's side (twin_support) ------------------------------------------------

REGISTRY = ModuleRegistrar("ffn", "router")
ffn_twin.register(REGISTRY)
moe_twin.register(REGISTRY)
BUILDER = ModuleCatalog(REGISTRY)  # builds the routers a MoE references


D = 64  # model_section()'s d_model


# The documented defaults (plugins/ffn/ffn_plugin.cpp, plugins/moe/moe_plugin.cpp).
FFN_DEFAULTS = {"mlp": {"activation": "gelu", "bias": False}, "gated_mlp": {"activation": "swiglu", "bias": False}}
MOE_DEFAULTS = {
    "activation": "gelu", "bias": False, "router": "softmax", "expert_type": "gated_mlp", "z_loss": 0.0,
    "capacity_factor": 1.0, "capacity_drop_policy": "overflow", "load_balance_coef": 0.01, "router_init_std": None,
    "router_jitter": 0.0, "bias_correction": {"enabled": False, "update_rate": 1e-3, "target_imbalance": 0.0},
    "affinity": "softmax", "shared_experts": 0, "routing": {"type": "learned", "hash_salt": None},
    "balance": {"sequence_aux_coef": 0.0, "group_limit": None},
}
ROUTER_DEFAULTS = {"norm_topk_prob": True}


def make_ffn(type_, params=None, model=None, n_layers=2, seed=7):
    torch.manual_seed(seed)
    return REGISTRY.ffns[type_](block_context(FFN_DEFAULTS[type_], params, model, n_layers))


def moe_params(changes=None):
    """A MoE of 4 experts, top 2, with a router decisive enough that no scores tie (as test_moe.cpp)."""
    return merge(merge(copy.deepcopy(MOE_DEFAULTS), {"experts": 4, "top_k": 2, "router_init_std": 0.5}), changes or {})


def moe_ir(changes=None, norm_topk_prob=True):
    params = moe_params(changes)
    ref = {"kind": "router", "type": params["router"], "plugin": "moe", "plugin_version": "0.1.0",
           "params": {"norm_topk_prob": norm_topk_prob}}
    return params, {"router": ref}


def make_moe(changes=None, model=None, n_layers=2, seed=7):
    params, refs = moe_ir(changes)
    torch.manual_seed(seed)
    return REGISTRY.ffns["moe"](ModuleContext(model or model_section(), params, refs, n_layers=n_layers,
                                             builder=BUILDER))


def make_router(changes=None, norm_topk_prob=True, seed=7):
    params, refs = moe_ir(changes, norm_topk_prob)
    torch.manual_seed(seed)
    return BUILDER.make_router(refs["router"], ModuleContext(model_section(), params, refs, builder=BUILDER))


def sample_input(batch, tokens, seed=11):
    torch.manual_seed(seed)
    return torch.randn(batch, tokens, D)


def params_of(module):
    return dict(module.named_parameters())


def parameter_count(module):
    return sum(p.numel() for p in module.parameters())


# --- reference math ----------------------------------------------------------------------------


def activation(name, h):
    if name == "gelu":
        return 0.5 * h * (1.0 + torch.erf(h / math.sqrt(2.0)))
    if name == "relu":
        return torch.where(h > 0, h, torch.zeros_like(h))
    return h / (1.0 + torch.exp(-h))  # swiglu: SiLU


def linear(params, name, x):
    y = torch.matmul(x, params[name + ".weight"].t())
    if name + ".bias" in params:
        y = y + params[name + ".bias"]
    return y


def expert_ref(params, prefix, act, x):
    if prefix + ".gate_proj.weight" in params:
        return linear(params, prefix + ".down_proj",
                      activation(act, linear(params, prefix + ".gate_proj", x)) * linear(params, prefix + ".up_proj", x))
    return linear(params, prefix + ".down_proj", activation(act, linear(params, prefix + ".up_proj", x)))


def softmax_list(values):
    peak = max(values)
    exps = [math.exp(v - peak) for v in values]
    return [e / sum(exps) for e in exps]


def route_token(params, x, k):
    """The softmax router's choices for one token x [d], in double precision."""
    logits = torch.mv(params["router.weight"].double(), x.double()).tolist()
    probs = softmax_list(logits)
    experts = sorted(range(len(probs)), key=lambda e: -probs[e])[:k]
    total = sum(probs[e] for e in experts)
    return {"logits": logits, "probs": probs, "experts": experts, "weights": [probs[e] / total for e in experts]}


def moe_reference(moe, x, k, shared, act):
    """The MoE computed token by token."""
    params = params_of(moe)
    flat = x.reshape(-1, D)
    rows = []
    for t in range(flat.size(0)):
        token = flat[t]
        r = route_token(params, token, k)
        y = torch.zeros(D)
        for e, w in zip(r["experts"], r["weights"]):
            y = y + w * expert_ref(params, "experts.%d" % e, act, token)
        for s in range(shared):
            y = y + expert_ref(params, "shared_experts.%d" % s, act, token)
        rows.append(y)
    return torch.stack(rows).reshape(x.shape)


def mark_experts(moe, experts):
    """Zeroes every routed expert except experts.<e>.down_proj.bias = unit vector e (expert_type mlp,
    bias on): output column e of a token is then its combine weight on expert e, zero when dropped."""
    with torch.no_grad():
        for name, p in moe.named_parameters():
            if name.startswith("experts."):
                p.zero_()
        for e in range(experts):
            params_of(moe)["experts.%d.down_proj.bias" % e][e] = 1.0


def marked(changes=None):
    return merge({"expert_type": "mlp", "bias": True}, changes or {})


# The plugins' count formulas (ffn_plugin.cpp count_mlp / count_gated_mlp, moe_plugin.cpp
# count_expert / count_moe and the routers' d_model * experts).
def ffn_formula(model, type_, bias):
    d, f = model["d_model"], model["mlp_ratio"] * model["d_model"]

    def lin(i, o):
        return i * o + (o if bias else 0)

    return (2 if type_ == "gated_mlp" else 1) * lin(d, f) + lin(f, d)


def moe_formula(model, params):
    d, f = model["d_model"], model["mlp_ratio"] * model["d_model"]
    matrices = 3 if params["expert_type"] == "gated_mlp" else 2
    expert = matrices * d * f + ((matrices - 1) * f + d if params["bias"] else 0)
    return (params["experts"] + params["shared_experts"]) * expert + d * params["experts"]


# --- the files ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(TWINS))
def test_twin_imports_only_torch_and_the_standard_library(name):
    imported = imported_roots(TWINS[name])
    assert imported <= {"torch", "math", "typing", "itertools", "weakref", "eulerstack_sdk"}, imported


def test_register_names_the_blocks():
    assert set(REGISTRY.ffns) == {"mlp", "gated_mlp", "moe"}
    assert set(REGISTRY.routers) == {"softmax", "sigmoid"}


# --- ffn ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("type_", ["mlp", "gated_mlp"])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("ratio", [2, 4])
def test_ffn_parameter_count_equals_the_formula(type_, bias, ratio):
    model = model_section(mlp_ratio=ratio)
    assert parameter_count(make_ffn(type_, {"bias": bias}, model)) == ffn_formula(model, type_, bias)


def test_ffn_parameter_names_and_shapes():
    mlp = params_of(make_ffn("mlp", {"bias": True}))
    assert {k: tuple(v.shape) for k, v in mlp.items()} == {
        "up_proj.weight": (128, 64), "up_proj.bias": (128,), "down_proj.weight": (64, 128), "down_proj.bias": (64,)}
    gated = params_of(make_ffn("gated_mlp"))
    assert {k: tuple(v.shape) for k, v in gated.items()} == {
        "gate_proj.weight": (128, 64), "up_proj.weight": (128, 64), "down_proj.weight": (64, 128)}
    assert dict(make_ffn("gated_mlp").named_buffers()) == {}


def test_ffn_init_draws_projections_from_init_std_and_down_proj_depth_scaled():
    # 2 layers: down_proj std = 0.02 / sqrt(4) = 0.01.
    ffn = make_ffn("gated_mlp", {"bias": True}, model_section(d_model=256))
    with torch.no_grad():
        for p in ffn.parameters():
            p.fill_(5.0)
    init_all(ffn)
    p = params_of(ffn)
    assert p["gate_proj.weight"].std().item() == pytest.approx(0.02, rel=0.05)
    assert p["up_proj.weight"].std().item() == pytest.approx(0.02, rel=0.05)
    assert p["down_proj.weight"].std().item() == pytest.approx(0.01, rel=0.05)
    assert p["up_proj.bias"].abs().max().item() == 0.0
    assert p["down_proj.bias"].abs().max().item() == 0.0
    # n_layers 8: 0.02 / sqrt(16); n_layers 0 counts as 1.
    assert params_of(make_ffn("mlp", {}, model_section(d_model=256), n_layers=8))["down_proj.weight"].std().item() \
        == pytest.approx(0.005, rel=0.05)
    assert params_of(make_ffn("mlp", {}, model_section(d_model=256), n_layers=0))["down_proj.weight"].std().item() \
        == pytest.approx(0.02 / math.sqrt(2), rel=0.05)


def randomize_biases(module):
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("bias"):
                p.normal_(0.0, 0.5)


@pytest.mark.parametrize("act", ["gelu", "relu", "swiglu"])
def test_mlp_applies_each_activation_like_its_formula(act):
    x = sample_input(2, 5)
    ffn = make_ffn("mlp", {"activation": act, "bias": True})
    randomize_biases(ffn)
    p = params_of(ffn)
    expected = linear(p, "down_proj", activation(act, linear(p, "up_proj", x)))
    hidden, aux = ffn(x, None)
    assert hidden.shape == x.shape
    assert aux is None
    assert max_abs_diff(hidden, expected) < 1e-5


@pytest.mark.parametrize("act", ["swiglu", "gelu", "relu"])
def test_gated_mlp_is_down_of_act_gate_times_up(act):
    x = sample_input(2, 5)
    ffn = make_ffn("gated_mlp", {"activation": act, "bias": True})
    randomize_biases(ffn)
    p = params_of(ffn)
    gate = activation(act, linear(p, "gate_proj", x))
    expected = linear(p, "down_proj", gate * linear(p, "up_proj", x))
    hidden, aux = ffn(x, None)
    assert aux is None
    assert max_abs_diff(hidden, expected) < 1e-5


def test_gated_swiglu_equals_silu_gate_times_up():
    x = sample_input(2, 5)
    ffn = make_ffn("gated_mlp")  # swiglu by default
    p = params_of(ffn)
    expected = torch.matmul(torch.nn.functional.silu(torch.matmul(x, p["gate_proj.weight"].t()))
                            * torch.matmul(x, p["up_proj.weight"].t()), p["down_proj.weight"].t())
    assert max_abs_diff(ffn(x, None)[0], expected) < 1e-6


def test_gelu_is_the_exact_erf_form():
    h = torch.linspace(-4, 4, 101, dtype=torch.float64)
    mlp = make_ffn("mlp", {"activation": "gelu"})
    assert max_abs_diff(mlp._act(h), 0.5 * h * (1.0 + torch.erf(h / math.sqrt(2.0)))) < 1e-12
    assert max_abs_diff(mlp._act(h), torch.nn.functional.gelu(h, approximate="tanh")) > 1e-5


def test_ffn_unknown_activation_is_refused():
    with pytest.raises(ValueError, match="unknown activation"):
        make_ffn("mlp", {"activation": "tanh"})


def test_ffn_backward_reaches_every_parameter():
    ffn = make_ffn("gated_mlp", {"bias": True})
    ffn(sample_input(2, 5), None)[0].square().sum().backward()
    for name, p in ffn.named_parameters():
        assert p.grad is not None and p.grad.abs().sum().item() > 0.0, name


@pytest.mark.parametrize("type_", ["mlp", "gated_mlp"])
def test_ffn_bfloat16_runs_and_stays_close_to_float32(type_):
    full = make_ffn(type_)
    half = copy.deepcopy(full).to(torch.bfloat16)
    x = sample_input(2, 5)
    y = half(x.to(torch.bfloat16), None)[0]
    assert y.dtype == torch.bfloat16
    expected = full(x, None)[0]
    assert max_abs_diff(y, expected) < 0.05 * expected.abs().max().item()


def test_blocks_pickle():
    for block in (make_ffn("gated_mlp"), make_moe({"shared_experts": 1})):
        clone = pickle.loads(pickle.dumps(block))
        x = sample_input(1, 3)
        assert torch.equal(clone(x, None)[0], block(x, None)[0])


# --- moe: structure ----------------------------------------------------------------------------


@pytest.mark.parametrize("type_", ["gated_mlp", "mlp"])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("shared", [0, 2])
@pytest.mark.parametrize("experts", [1, 4])
@pytest.mark.parametrize("router", ["softmax", "sigmoid"])
def test_moe_parameter_count_equals_the_formula(type_, bias, shared, experts, router):
    model = model_section()
    changes = {"expert_type": type_, "bias": bias, "shared_experts": shared, "experts": experts, "top_k": 1,
               "router": router}
    moe = make_moe(changes)
    assert parameter_count(moe) == moe_formula(model, moe_params(changes))
    expected_router = moe_twin.SigmoidRouter if router == "sigmoid" else moe_twin.SoftmaxRouter
    assert type(moe.router) is expected_router


def test_moe_parameter_names_shapes_and_init():
    moe = make_moe({"experts": 16, "shared_experts": 2, "bias": True}, model=model_section(d_model=128))
    p = params_of(moe)
    assert tuple(p["router.weight"].shape) == (16, 128)
    assert p["router.weight"].std().item() == pytest.approx(0.5, rel=0.08)
    assert tuple(p["experts.15.gate_proj.weight"].shape) == (256, 128)
    assert tuple(p["experts.15.up_proj.bias"].shape) == (256,)
    assert tuple(p["experts.0.down_proj.weight"].shape) == (128, 256)
    assert tuple(p["shared_experts.1.down_proj.bias"].shape) == (128,)
    assert "experts.16.up_proj.weight" not in p
    names = {"router.weight"}
    for group, count in (("experts", 16), ("shared_experts", 2)):
        for i in range(count):
            for proj in ("gate_proj", "up_proj", "down_proj"):
                names |= {"%s.%d.%s.weight" % (group, i, proj), "%s.%d.%s.bias" % (group, i, proj)}
    assert set(p) == names
    # The bias-correction state is a float32 buffer, never a parameter, and saved with the weights.
    buffers = dict(moe.named_buffers())
    assert set(buffers) == {"router.expert_bias"}
    assert tuple(buffers["router.expert_bias"].shape) == (16,)
    assert buffers["router.expert_bias"].dtype == torch.float32
    assert set(moe.state_dict()) == names | {"router.expert_bias"}

    weights = torch.cat([p["experts.%d.up_proj.weight" % e].flatten() for e in range(16)])
    assert weights.std().item() == pytest.approx(0.02, rel=0.03)
    down = torch.cat([p["experts.%d.down_proj.weight" % e].flatten() for e in range(16)])
    assert down.std().item() == pytest.approx(0.01, rel=0.03)
    assert max(p[n].abs().max().item() for n in names if n.endswith(".bias")) == 0.0

    plain = make_moe({"router_init_std": None, "experts": 16}, model=model_section(d_model=256))
    assert params_of(plain)["router.weight"].std().item() == pytest.approx(0.02, rel=0.08)
    mlp = params_of(make_moe({"expert_type": "mlp"}))
    assert "experts.0.gate_proj.weight" not in mlp and "experts.0.up_proj.weight" in mlp
    assert not list(make_moe().shared_experts.parameters())


def test_moe_reset_parameters_redraws_weights_and_zeroes_the_bias_state():
    moe = make_moe({"experts": 16, "bias": True, "bias_correction": {"enabled": True}},
                   model=model_section(d_model=128))
    with torch.no_grad():
        for p in moe.parameters():
            p.fill_(3.0)
        moe.router.expert_bias.fill_(3.0)
    init_all(moe)
    p = params_of(moe)
    assert p["router.weight"].std().item() == pytest.approx(0.5, rel=0.08)
    assert p["experts.3.down_proj.weight"].std().item() == pytest.approx(0.01, rel=0.05)
    assert p["experts.3.gate_proj.weight"].std().item() == pytest.approx(0.02, rel=0.05)
    assert p["experts.3.up_proj.bias"].abs().max().item() == 0.0
    assert moe.router.expert_bias.abs().max().item() == 0.0


def test_init_goes_through_torch_nn_init_so_loaded_tensors_are_kept():
    """transformers' from_pretrained patches torch.nn.init to skip tensors flagged as loaded; a buffer
    missing from the checkpoint (an export from before it was saved) is (re)initialised by the router's init."""
    initialization = pytest.importorskip("transformers.initialization")
    moe = make_moe({"bias": True})
    loaded = {name: p.detach().clone() for name, p in moe.named_parameters()}
    for p in moe.parameters():
        p._is_hf_initialized = True
    with torch.no_grad():
        moe.router.expert_bias.fill_(float("nan"))  # what torch.empty_like may leave
    with torch.no_grad(), initialization.guard_torch_init_functions():
        init_all(moe)
    for name, p in moe.named_parameters():
        assert torch.equal(p, loaded[name]), name
    assert moe.router.expert_bias.abs().max().item() == 0.0


def test_expert_bias_is_saved_and_restored_with_the_weights():
    moe = make_moe({"bias_correction": {"enabled": True}})
    with torch.no_grad():
        moe.router.expert_bias.copy_(torch.tensor([1e-3, -2e-3, 1.0 + 1e-3, 0.0]))
    state = moe.state_dict()
    fresh = make_moe({"bias_correction": {"enabled": True}}, seed=8)
    fresh.load_state_dict(state)
    assert torch.equal(fresh.router.expert_bias, moe.router.expert_bias)
    assert "expert_bias" not in moe.router._non_persistent_buffers_set


def test_moe_group_limit_is_refused():
    with pytest.raises(ValueError, match=r"runtime\.unsupported_param.*balance\.group_limit"):
        make_moe({"balance": {"group_limit": 2}})


# --- moe: math -------------------------------------------------------------------------------


def test_moe_output_equals_a_token_by_token_reference_gated_swiglu_shared():
    x = sample_input(2, 3)
    moe = make_moe({"activation": "swiglu", "shared_experts": 1})
    hidden, aux = moe(x, None)
    assert hidden.shape == x.shape
    assert max_abs_diff(hidden, moe_reference(moe, x, 2, 1, "swiglu")) < 1e-5


def test_moe_output_equals_a_token_by_token_reference_mlp_gelu_biases_top3_of_8():
    x = sample_input(2, 3)
    moe = make_moe({"expert_type": "mlp", "bias": True, "experts": 8, "top_k": 3})
    with torch.no_grad():
        for name, p in moe.named_parameters():
            if ".bias" in name:
                p.normal_(0.0, 0.3)
    assert max_abs_diff(moe(x, None)[0], moe_reference(moe, x, 3, 0, "gelu")) < 1e-5


@pytest.mark.parametrize("type_", ["gated_mlp", "mlp"])
def test_one_expert_top1_equals_that_expert_as_a_dense_ffn(type_):
    x = sample_input(2, 4)
    moe = make_moe({"experts": 1, "top_k": 1, "expert_type": type_, "activation": "relu", "bias": True})
    dense = make_ffn(type_, {"activation": "relu", "bias": True}, seed=99)
    with torch.no_grad():
        for name, p in moe.named_parameters():
            if name.startswith("experts.0."):
                p.normal_(0.0, 0.2)
        moe_params_ = params_of(moe)
        for name, p in dense.named_parameters():
            p.copy_(moe_params_["experts.0." + name])
    assert max_abs_diff(moe(x, None)[0], dense(x, None)[0]) < 1e-6


def test_router_sends_every_token_to_top_k_experts_with_weights_summing_to_one():
    x = sample_input(2, 8).reshape(-1, D)
    router = make_router({"experts": 8, "top_k": 3})
    weights, experts, probs, logits = router.route(x, 3, None)
    assert tuple(experts.shape) == (16, 3) and experts.dtype == torch.int64
    assert tuple(probs.shape) == (16, 8) and probs.dtype == torch.float32
    assert tuple(logits.shape) == (16, 8) and logits.dtype == torch.float32
    assert weights.dtype == x.dtype
    assert max_abs_diff(weights.sum(-1), torch.ones(16)) < 1e-6
    for t in range(16):
        assert len(set(experts[t].tolist())) == 3


def test_moe_module_sends_every_token_to_top_k_experts():
    x = sample_input(2, 8)
    moe = make_moe(marked({"experts": 8, "top_k": 3}))
    mark_experts(moe, 8)
    y = moe(x, None)[0].reshape(-1, D)[:, :8]
    assert bool(((y > 0).sum(-1) == 3).all())
    assert max_abs_diff(y.sum(-1), torch.ones(16)) < 1e-6


@pytest.mark.parametrize("policy", ["drop", "pad"])
def test_capacity_drops_assignments_in_training_only_first_come_first_served(policy):
    # 32 tokens, top 1 of 4 experts, capacity_factor 0.5: capacity ceil(0.5 * 32 / 4) = 4.
    capacity = 4
    x = sample_input(2, 16)
    moe = make_moe(marked({"top_k": 1, "capacity_factor": 0.5, "capacity_drop_policy": policy}))
    mark_experts(moe, 4)
    moe.eval()
    assert moe.capacity(32) is None
    routed = moe(x, None)[0].reshape(-1, D)[:, :4]
    moe.train()
    assert moe.capacity(32) == capacity
    kept = moe(x, None)[0].reshape(-1, D)[:, :4]

    # Inference keeps every token (some expert is over capacity by pigeonhole).
    assert max_abs_diff(routed.sum(-1), torch.ones(32)) < 1e-6
    assert (routed > 0).sum(0).max().item() > capacity
    # Training keeps exactly the first `capacity` tokens of each expert.
    for e in range(4):
        tokens = torch.nonzero(routed[:, e] > 0).flatten()
        got = torch.nonzero(kept[:, e] > 0).flatten()
        assert got.numel() <= capacity
        assert torch.equal(got, tokens[:capacity]), e


def test_capacity_overflow_never_drops():
    x = sample_input(2, 16)
    moe = make_moe(marked({"top_k": 1, "capacity_factor": 0.5, "capacity_drop_policy": "overflow"}))
    mark_experts(moe, 4)
    moe.train()
    assert moe.capacity(32) is None
    assert max_abs_diff(moe(x, None)[0].reshape(-1, D)[:, :4].sum(-1), torch.ones(32)) < 1e-6


def test_capacity_is_the_ceiling_of_the_even_share():
    # ceil(capacity_factor * N * top_k / E)
    cases = [(1.0, 32, 1, 4, 8), (1.25, 10, 2, 4, 7), (1.0, 7, 2, 3, 5), (0.5, 1, 1, 4, 1), (2.0, 6, 3, 8, 5)]
    for factor, tokens, k, experts, expected in cases:
        moe = make_moe({"capacity_factor": factor, "top_k": k, "experts": experts, "capacity_drop_policy": "drop"})
        moe.train()
        assert moe.capacity(tokens) == expected == math.ceil(factor * tokens * k / experts)


def test_top2_capacity_keeps_the_first_assignments_in_token_major_order():
    """With top_k 2 an expert's assignments are ordered by token, then by rank (token-major flattening)."""
    moe_twin_dispatch = moe_twin.dispatch

    class Tag(torch.nn.Module):
        def __init__(self, e):
            super().__init__()
            self.e = e

        def forward(self, x):
            out = torch.zeros_like(x)
            out[:, self.e] = 1.0
            return out

    experts = torch.tensor([[0, 1], [1, 0], [0, 1], [0, 1]])
    weights = torch.tensor([[0.6, 0.4], [0.7, 0.3], [0.5, 0.5], [0.9, 0.1]])
    x = torch.zeros(4, 2)
    out = moe_twin_dispatch(x, experts, weights, [Tag(0), Tag(1)], 2)
    # expert 0 takes tokens 0 and 1; expert 1 takes tokens 0 and 1 as well.
    assert torch.equal(out, torch.tensor([[0.6, 0.4], [0.3, 0.7], [0.0, 0.0], [0.0, 0.0]]))
    full = moe_twin_dispatch(x, experts, weights, [Tag(0), Tag(1)], None)
    assert torch.equal(full, torch.tensor([[0.6, 0.4], [0.3, 0.7], [0.5, 0.5], [0.9, 0.1]]))
    assert torch.equal(moe_twin_dispatch(x, experts, weights, [Tag(0), Tag(1)], 0), torch.zeros(4, 2))


# --- moe: aux loss -----------------------------------------------------------------------------


def test_aux_loss_equals_a_manual_computation():
    lb, z, seq = 0.1, 0.001, 0.05
    E, k, B, T = 4, 2, 2, 6
    moe = make_moe({"load_balance_coef": lb, "z_loss": z, "balance": {"sequence_aux_coef": seq}})
    x = sample_input(B, T)
    aux = moe(x, None)[1]
    assert aux.dim() == 0 and aux.dtype == torch.float32

    params = params_of(moe)
    flat = x.reshape(-1, D)
    routes = [route_token(params, flat[t], k) for t in range(B * T)]

    def balance(begin, end):
        f, P = [0.0] * E, [0.0] * E
        for t in range(begin, end):
            for e in routes[t]["experts"]:
                f[e] += 1.0 / ((end - begin) * k)
            for e in range(E):
                P[e] += routes[t]["probs"][e] / (end - begin)
        return E * sum(f[e] * P[e] for e in range(E))

    z_term = sum(math.log(sum(math.exp(l) for l in r["logits"])) ** 2 for r in routes) / (B * T)
    sequences = (balance(0, T) + balance(T, 2 * T)) / 2.0
    expected = lb * balance(0, B * T) + z * z_term + seq * sequences
    assert aux.item() == pytest.approx(expected, rel=1e-5)


def test_aux_loss_counts_assignments_before_capacity():
    moe = make_moe({"top_k": 1, "capacity_factor": 0.5, "capacity_drop_policy": "drop"})
    x = sample_input(2, 16)
    moe.eval()
    inference = moe(x, None)[1]
    moe.train()
    assert moe(x, None)[1].item() == inference.item()


def test_z_loss_alone_and_a_zero_aux_loss_without_coefficients():
    x = sample_input(2, 5)
    moe = make_moe({"load_balance_coef": 0.0, "z_loss": 0.01})
    logits = torch.matmul(x.reshape(-1, D), params_of(moe)["router.weight"].t())
    expected = 0.01 * torch.logsumexp(logits, -1).square().mean().item()
    assert moe(x, None)[1].item() == pytest.approx(expected, rel=1e-5)

    aux = make_moe({"load_balance_coef": 0.0})(x, None)[1]
    assert isinstance(aux, torch.Tensor) and aux.dim() == 0 and aux.dtype == torch.float32
    assert aux.item() == 0.0


# --- routers ---------------------------------------------------------------------------------


def softplus_root(l):
    return torch.sqrt(torch.log1p(torch.exp(l)))


def sigmoid(l):
    return 1.0 / (1.0 + torch.exp(-l))


def softmax(s):
    return torch.exp(s) / torch.exp(s).sum(-1, keepdim=True)


@pytest.mark.parametrize("router_type, affinity, normalize, score", [
    ("sigmoid", "sigmoid", True, sigmoid),
    ("sigmoid", "softmax", False, sigmoid),
    ("sigmoid", "sqrt_softplus", True, softplus_root),
    ("sigmoid", "sqrt_softplus", False, softplus_root),
    ("softmax", "softmax", True, softmax),
    ("softmax", "softmax", False, softmax),
    ("softmax", "sigmoid", True, lambda l: softmax(sigmoid(l))),
    ("softmax", "sqrt_softplus", True, lambda l: softmax(softplus_root(l))),
])
def test_sigmoid_router_and_affinities_score_as_documented(router_type, affinity, normalize, score):
    x = sample_input(2, 6).reshape(-1, D)
    router = make_router({"router": router_type, "affinity": affinity}, normalize)
    assert router.normalize is normalize
    weights, experts, probs, logits = router.route(x, 2, None)
    expected_logits = torch.matmul(x, router.weight.t())
    assert max_abs_diff(logits, expected_logits) < 1e-5
    scores = score(expected_logits)
    top_scores, top_experts = scores.topk(2, -1)
    assert torch.equal(experts, top_experts)
    expected = top_scores / top_scores.sum(-1, keepdim=True) if normalize else top_scores
    assert max_abs_diff(weights, expected) < 1e-6
    assert max_abs_diff(probs, scores / scores.sum(-1, keepdim=True)) < 1e-6


def test_router_computes_in_float32_and_returns_weights_in_the_input_dtype():
    router = make_router().to(torch.bfloat16)
    x = sample_input(1, 8).reshape(-1, D).to(torch.bfloat16)
    weights, experts, probs, logits = router.route(x, 2, None)
    assert weights.dtype == torch.bfloat16
    assert probs.dtype == torch.float32 and logits.dtype == torch.float32
    expected = torch.matmul(x.float(), router.weight.float().t())
    assert max_abs_diff(logits, expected) < 1e-5


def test_router_jitter_perturbs_the_logits_in_training_only():
    x = sample_input(1, 8).reshape(-1, D)
    router = make_router({"router_jitter": 0.5})
    clean = torch.matmul(x, router.weight.t())
    router.eval()
    assert max_abs_diff(router.route(x, 2, None)[3], clean) < 1e-5
    router.train()
    noisy = router.route(x, 2, None)[3]
    assert max_abs_diff(noisy, clean) > 1e-3
    # Multiplicative noise on x within [1 - j, 1 + j]: the logits of 0 stay 0.
    assert max_abs_diff(router.route(torch.zeros(3, D), 2, None)[3], torch.zeros(3, 4)) == 0.0


# --- hash routing ------------------------------------------------------------------------------

P_HASH, A_HASH = 2147483647, 48271


def documented_hash(t, salt):
    # h = (((t mod P) * A + (salt mod P)) mod P) * A mod P, with the non-negative remainder.
    return (((t % P_HASH) * A_HASH + salt % P_HASH) % P_HASH) * A_HASH % P_HASH


def test_hash_experts_follow_the_documented_formula():
    ids = torch.tensor([0, 1, 57, 199, 2147483646, 2147483647, 2147483648, 9_000_000_000_000_000_000 // 1000])
    for salt in (982451653, 7, 0, -5, -982451653, 2**62, -(2**62)):
        for E, k in ((8, 2), (4, 4), (3, 1), (65536, 3)):
            got = moe_twin.hash_experts(ids, salt, E, k)
            assert got.dtype == torch.int64 and tuple(got.shape) == (ids.numel(), k)
            for row, t in enumerate(ids.tolist()):
                h = documented_hash(t, salt)
                assert got[row].tolist() == [(h + j) % E for j in range(k)], (t, salt, E, k)
    # Two values worked out once, by hand from the formula.
    assert documented_hash(0, 982451653) == 982451653 * 48271 % 2147483647
    assert moe_twin.hash_experts(torch.tensor([1]), 982451653, 8, 2).tolist() == [
        [(((48271 + 982451653) % 2147483647) * 48271 % 2147483647 + j) % 8 for j in range(2)]]


def test_hash_routing_is_deterministic_follows_the_formula_and_spreads_tokens():
    E, k, salt = 8, 2, 982451653
    hashed = {"experts": E, "top_k": k, "routing": {"type": "hash", "hash_salt": salt}}
    router = make_router(hashed)
    ids = torch.arange(200)
    w1, first, _, _ = router.route(sample_input(1, 200, 1).reshape(-1, D), k, ids)
    _, again, _, _ = router.route(sample_input(1, 200, 2).reshape(-1, D), k, ids)
    assert torch.equal(first, again)  # independent of the hidden states
    assert max_abs_diff(w1, torch.full((200, k), 0.5)) == 0.0
    for t in (0, 1, 57, 199):
        h = documented_hash(t, salt)
        assert first[t].tolist() == [(h + j) % E for j in range(k)]
    counts = torch.bincount(first[:, 0], minlength=E)
    assert counts.min().item() >= 200 // E // 2
    assert counts.max().item() <= 2 * 200 // E

    other = make_router({"experts": E, "top_k": k, "routing": {"type": "hash", "hash_salt": 7}})
    assert not torch.equal(other.route(sample_input(1, 200).reshape(-1, D), k, ids)[1], first)
    # Weights 1/top_k in the input dtype, whatever norm_topk_prob says.
    w3 = make_router({"experts": E, "top_k": 3, "routing": {"type": "hash", "hash_salt": 7}}, False).route(
        sample_input(1, 4).reshape(-1, D), 3, torch.arange(4))[0]
    assert torch.equal(w3, torch.full((4, 3), 1.0 / 3.0))


def test_moe_hash_routes_a_token_id_the_same_wherever_it_appears():
    E, k = 8, 2
    moe = make_moe(marked({"experts": E, "top_k": k, "routing": {"type": "hash", "hash_salt": 982451653}}))
    mark_experts(moe, E)
    token_ids = torch.tensor([5, 9, 5, 40]).reshape(2, 2)
    y = moe(sample_input(2, 2), token_ids)[0].reshape(-1, D)[:, :E]
    assert torch.equal(y[0], y[2])
    assert bool(((y > 0).sum(-1) == k).all())
    for row, t in enumerate(token_ids.flatten().tolist()):
        h = documented_hash(t, 982451653)
        assert set(torch.nonzero(y[row] > 0).flatten().tolist()) == {(h + j) % E for j in range(k)}
    with pytest.raises(ValueError, match="token ids"):
        moe(sample_input(2, 2), None)


# --- bias correction ---------------------------------------------------------------------------

CORRECTED = {"experts": 4, "top_k": 2, "bias_correction": {"enabled": True, "update_rate": 0.01, "target_imbalance": 0.5}}


def test_bias_picks_the_experts_and_the_unbiased_scores_weigh_them():
    x = sample_input(2, 8).reshape(-1, D)
    router = make_router(CORRECTED)
    router.eval()
    with torch.no_grad():
        router.expert_bias[3] = 10.0
    weights, experts, _, logits = router.route(x, 2, None)
    assert bool(((experts == 3).sum(-1) == 1).all())
    scores = torch.softmax(logits, -1).gather(1, experts)
    assert max_abs_diff(weights, scores / scores.sum(-1, keepdim=True)) < 1e-6
    assert router.expert_bias[3].item() == 10.0  # eval: no update


def optimizer_step(*modules):
    """One optimizer step over the modules' parameters (lr 0: only the step hook acts)."""
    torch.optim.SGD([p for m in modules for p in m.parameters()], lr=0.0).step()


def test_bias_updates_follow_sign_of_load_minus_share_after_an_optimizer_step_in_training_only():
    x = sample_input(2, 8).reshape(-1, D)
    router = make_router(CORRECTED)
    router.eval()
    router.route(x, 2, None)
    optimizer_step(router)
    assert router.expert_bias.abs().max().item() == 0.0

    router.train()
    experts = router.route(x, 2, None)[1]
    assert router.expert_bias.abs().max().item() == 0.0  # never inside forward
    optimizer_step(router)
    load = torch.bincount(experts.flatten(), minlength=4).double() / 32.0
    expected = torch.zeros(4)
    for e in range(4):
        excess = load[e].item() - 0.25
        if abs(excess) > 0.5 * 0.25:
            expected[e] = -0.01 if excess > 0 else 0.01
    assert max_abs_diff(router.expert_bias, expected) < 1e-7
    before = router.expert_bias.clone()
    optimizer_step(router)  # nothing counted since: no change
    assert torch.equal(router.expert_bias, before)


def test_bias_updates_respect_the_tolerance_and_accumulate():
    # Expert 0 is made to win every token (load 1/2 of the top-2 assignments): with tolerance
    # 0.5 / E only it moves; the others' smaller imbalances are tolerated.
    torch.manual_seed(3)
    direction = torch.randn(D)
    direction = direction / direction.norm()
    x = sample_input(2, 8).reshape(-1, D) * 0.1 + 3.0 * direction
    router = make_router(CORRECTED)
    with torch.no_grad():
        router.weight[0] = 4.0 * direction
    router.train()

    def expected_step(experts, tolerance):
        load = torch.bincount(experts.flatten(), minlength=4).double() / experts.numel()
        excess = load - 0.25
        return 0.01 * torch.sign(excess) * (excess.abs() > tolerance * 0.25).double()

    experts = router.route(x, 2, None)[1]
    optimizer_step(router)
    assert bool((experts == 0).any(-1).all())
    step = expected_step(experts, 0.5)
    assert step.tolist()[0] == 0.01 and (step == 0).any()
    assert max_abs_diff(router.expert_bias, -step) < 1e-7

    # A second step starts from the new bias (which here does not yet change the selection); two
    # forwards before one step (gradient accumulation) count together.
    before = router.expert_bias.clone()
    first = router.route(x[:10], 2, None)[1]
    second = router.route(x[10:], 2, None)[1]
    optimizer_step(router)
    assert max_abs_diff(router.expert_bias, before - expected_step(torch.cat((first, second)), 0.5)) < 1e-7

    # Without tolerance every expert off its share moves.
    strict = make_router(merge(copy.deepcopy(CORRECTED), {"bias_correction": {"target_imbalance": 0.0}}))
    with torch.no_grad():
        strict.weight[0] = 4.0 * direction
    strict.train()
    experts = strict.route(x, 2, None)[1]
    optimizer_step(strict)
    step = expected_step(experts, 0.0)
    assert int((step != 0).sum()) > int((expected_step(experts, 0.5) != 0).sum())
    assert max_abs_diff(strict.expert_bias, -step) < 1e-7


def test_a_frozen_router_or_another_optimizer_leaves_the_bias_alone():
    """A LoRA base (router weight frozen, not in the optimizer) must keep its bias, or the adapter would not
    reproduce the trained model."""
    x = sample_input(2, 8).reshape(-1, D)
    router = make_router(CORRECTED)
    router.train()
    router.weight.requires_grad_(False)
    router.route(x, 2, None)
    other = torch.nn.Linear(2, 2)
    optimizer_step(other)
    assert router.expert_bias.abs().max().item() == 0.0


def test_gradient_checkpointing_recompute_does_not_count_twice():
    x = sample_input(2, 8)
    moe = make_moe(CORRECTED)
    twin = make_moe(CORRECTED)
    moe.train(), twin.train()
    moe(x)[0].sum().backward()
    out = torch.utils.checkpoint.checkpoint(lambda t: twin(t)[0], x.clone().requires_grad_(), use_reentrant=False)
    out.sum().backward()
    assert torch.equal(moe.router.pending_load, twin.router.pending_load)
    assert moe.router.pending_load.sum().item() == 16 * 2


def test_every_expert_joins_the_backward_pass_even_without_tokens():
    moe = make_moe({"experts": 8, "top_k": 1})
    moe.train()
    moe(sample_input(1, 2))[0].sum().backward()
    for name, p in moe.named_parameters():
        assert p.grad is not None, name
    idle = [e for e in range(8) if float(moe.experts[e].up_proj.weight.grad.abs().sum()) == 0.0]
    assert idle, "two tokens, top-1 of 8: some expert must be idle"


@pytest.mark.parametrize("policy", ["overflow", "drop"])
def test_the_static_dispatch_equals_the_sorted_one(policy):
    moe = make_moe({"experts": 4, "top_k": 2, "capacity_factor": 0.5, "capacity_drop_policy": policy})
    moe.train()
    x = sample_input(2, 8).reshape(-1, D)
    with torch.no_grad():
        weights, experts, _, _ = moe.router.route(x, 2, None)
        capacity = moe.capacity(x.size(0))
        sorted_out = moe_twin.dispatch(x, experts, weights, list(moe.experts), capacity)
        dense_out = moe_twin.dispatch_dense(x, experts, weights, list(moe.experts), capacity)
    assert max_abs_diff(sorted_out, dense_out) < 1e-6


def test_padding_tokens_are_not_routed_and_stay_out_of_the_losses():
    moe = make_moe({"experts": 4, "top_k": 2, "z_loss": 0.1, "balance": {"sequence_aux_coef": 0.3},
                    "bias_correction": {"enabled": True}})
    moe.train()
    rows = [sample_input(1, 5, seed=1), sample_input(1, 3, seed=2)]
    batch = torch.zeros(2, 5, D)
    batch[0] = rows[0][0]
    batch[1, 2:] = rows[1][0]
    mask = torch.tensor([[True] * 5, [False, False, True, True, True]])
    moe(batch, padding_mask=mask)
    assert moe.router.pending_load.sum().item() == 8 * 2  # the load counts the real tokens only
    moe.eval()  # no capacity: outputs comparable with each row alone
    out, loss = moe(batch, padding_mask=mask)
    # The same tokens as a batch of two rows of their own (per-sequence terms over each row's tokens).
    alone = [moe(row) for row in rows]
    assert max_abs_diff(out[0], alone[0][0][0]) < 1e-6 and max_abs_diff(out[1, 2:], alone[1][0][0]) < 1e-6
    assert float(out[1, :2].abs().max()) == 0.0  # no expert, no shared expert in this config
    tokens = torch.cat([rows[0][0], rows[1][0]])
    weights, experts, probs, logits = moe.router.route(tokens, 2, None)
    mod = moe_twin
    expected = mod.aux_loss(experts, probs, logits, 2, moe.load_balance_coef, moe.z_loss, moe.sequence_aux_coef,
                            torch.tensor([0] * 5 + [1] * 3))
    assert max_abs_diff(loss, expected) < 1e-6
    per_row = [mod._balance(e.reshape(1, -1), p.reshape(1, -1, 4))
               for e, p in ((experts[:5], probs[:5]), (experts[5:], probs[5:]))]
    ragged = mod._balance_ragged(experts, probs, torch.tensor([0] * 5 + [1] * 3), 2)
    assert max_abs_diff(ragged, (per_row[0] + per_row[1]) / 2) < 1e-6

def test_bias_is_left_alone_without_correction_and_by_hash_routing():
    x = sample_input(2, 8).reshape(-1, D)
    router = make_router({"experts": 4, "top_k": 1})
    router.train()
    router.route(x, 1, None)
    assert router.expert_bias.abs().max().item() == 0.0
    hashed = make_router({"bias_correction": {"enabled": True}, "routing": {"type": "hash", "hash_salt": 3}})
    hashed.train()
    hashed.route(x, 2, torch.arange(16))
    assert hashed.expert_bias.abs().max().item() == 0.0


def test_bias_correction_through_the_module():
    moe = make_moe({"bias_correction": {"enabled": True, "update_rate": 0.01}})
    moe.eval()
    moe(sample_input(2, 8), None)
    assert moe.router.expert_bias.abs().max().item() == 0.0
    moe.train()
    moe(sample_input(2, 8), None)
    assert moe.router.expert_bias.abs().max().item() == 0.0
    optimizer_step(moe)
    assert moe.router.expert_bias.abs().max().item() == pytest.approx(0.01)


# --- gradients and dtypes ----------------------------------------------------------------------


def test_moe_backward_reaches_the_router_and_gives_nonzero_gradients_to_exactly_the_used_experts():
    moe = make_moe({"experts": 8, "top_k": 2, "shared_experts": 1})
    x = sample_input(1, 2)
    hidden, aux = moe(x, None)
    (hidden.square().sum() + aux).backward()
    p = params_of(moe)
    assert p["router.weight"].grad is not None and p["router.weight"].grad.abs().sum().item() > 0.0
    used = set()
    for t in range(2):
        used |= set(route_token(p, x[0][t], 2)["experts"])
    for e in range(8):
        grad = p["experts.%d.up_proj.weight" % e].grad
        reached = grad is not None and grad.abs().sum().item() > 0.0
        assert reached == (e in used), e
    assert p["shared_experts.0.down_proj.weight"].grad.abs().sum().item() > 0.0


def test_moe_bfloat16_runs_with_a_float32_aux_loss():
    moe = make_moe({"shared_experts": 1, "z_loss": 0.001}).to(torch.bfloat16)
    moe.train()
    hidden, aux = moe(sample_input(2, 5).to(torch.bfloat16), None)
    assert hidden.dtype == torch.bfloat16 and tuple(hidden.shape) == (2, 5, D)
    assert bool(torch.isfinite(hidden).all())
    assert aux.dtype == torch.float32 and math.isfinite(aux.item())
    (hidden.float().sum() + aux).backward()
    assert moe.router.weight.grad is not None
