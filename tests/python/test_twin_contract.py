"""The block contract of the Python twins, on the model of every mini preset built from the real twins:
padding (docs/PADDING.md) in forward and in cached decoding, nn.Module hygiene, the attention
implementations and gradient checkpointing. (The user journeys on exported directories, in a venv
without eulerstack, are tests/python/ecosystem.)"""

import pytest
import torch
from torch import nn

from test_hf_python import MINI_PRESETS, ROOT, compiled_ir, ids, random_model, write_export

ATOL = 1e-4


def twins_of(ir):
    twins = {}
    for plugin in ir["plugins"]:
        found = sorted(ROOT.glob(f"plugins/**/eulerstack_{plugin['name']}.py"))
        assert found, f"plugin {plugin['name']} has no Python twin"
        twins[plugin["name"]] = found[0]
    return twins


@pytest.fixture(scope="module", params=MINI_PRESETS)
def preset_model(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(request.param)
    ir = compiled_ir(request.param, tmp)
    model = random_model(write_export(tmp / "export", ir, twins_of(ir)))
    return request.param, ir, model


def rows_alone(model, rows, **kwargs):
    with torch.no_grad():
        return [model(torch.tensor([row]), **kwargs).logits[0] for row in rows]


def padded(rows, side, pad=0):
    """input_ids and attention_mask of `rows` padded on the left, on the right, or in the middle of the longest."""
    width = max(len(r) for r in rows)
    tokens, mask = [], []
    for row in rows:
        gap = width - len(row)
        if side == "left":
            tokens.append([pad] * gap + row), mask.append([0] * gap + [1] * len(row))
        elif side == "right":
            tokens.append(row + [pad] * gap), mask.append([1] * len(row) + [0] * gap)
        else:  # the padding between the first two real tokens
            tokens.append(row[:1] + [pad] * gap + row[1:]), mask.append([1] + [0] * gap + [1] * (len(row) - 1))
    return torch.tensor(tokens), torch.tensor(mask)


def real_logits(logits, mask):
    return [logits[b][mask[b].bool()] for b in range(logits.shape[0])]


def sample_rows(ir, lengths=(7, 4, 2), seed=0):
    vocab = ir["model"]["vocab_size"]
    return [ids(1, n, seed + n, vocab)[0].tolist() for n in lengths]


# --- padding ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("side", ["left", "right", "middle"])
def test_padding_changes_no_real_token(preset_model, side):
    name, ir, model = preset_model
    rows = sample_rows(ir)
    tokens, mask = padded(rows, side, pad=ir["model"]["vocab_size"] - 1)
    with torch.no_grad():
        logits = model(tokens, attention_mask=mask).logits
    assert torch.isfinite(logits).all(), name
    for got, alone in zip(real_logits(logits, mask), rows_alone(model, rows)):
        assert torch.allclose(got, alone, atol=ATOL), (name, side, (got - alone).abs().max())


def test_a_padded_prefill_continues_in_the_cache_as_each_row_alone(preset_model):
    """Left-padded prompts, then tokens one at a time with the mask grown by ones (what generate does), against
    each row's own prompt and steps."""
    name, ir, model = preset_model
    rows = sample_rows(ir, lengths=(6, 3))
    steps = ids(2, 3, 7, ir["model"]["vocab_size"])
    tokens, mask = padded(rows, "left")
    with torch.no_grad():
        cache = model.new_cache()
        got = [model(tokens, attention_mask=mask, past_key_values=cache).logits[:, -1]]
        for i in range(steps.shape[1]):
            mask = torch.cat((mask, torch.ones(2, 1, dtype=mask.dtype)), 1)
            got.append(model(steps[:, i:i + 1], attention_mask=mask, past_key_values=cache).logits[:, -1])
        for b, row in enumerate(rows):
            alone = model(torch.tensor([row + steps[b].tolist()])).logits[0, len(row) - 1:]
            mine = torch.stack([g[b] for g in got])
            assert torch.allclose(mine, alone, atol=ATOL), (name, b, (mine - alone).abs().max())


def test_generate_on_a_left_padded_batch_gives_each_rows_tokens(preset_model):
    name, ir, model = preset_model
    rows = sample_rows(ir, lengths=(5, 2))
    tokens, mask = padded(rows, "left")
    with torch.no_grad():
        batch = model.generate(tokens, attention_mask=mask, max_new_tokens=4, do_sample=False, pad_token_id=0)
        for b, row in enumerate(rows):
            alone = model.generate(torch.tensor([row]), max_new_tokens=4, do_sample=False, pad_token_id=0)
            assert batch[b, -4:].tolist() == alone[0, -4:].tolist(), name


# --- nn.Module hygiene ------------------------------------------------------------------------------------------

MODULE_ATTRIBUTES = set(dir(nn.Module))
OVERRIDABLE = {"forward", "extra_repr", "__init__", "__setstate__"}


def test_no_twin_shadows_an_nn_module_method_or_attribute(preset_model):
    name, ir, model = preset_model
    for path, module in model.named_modules():
        for cls in type(module).__mro__:
            if cls.__module__.startswith(("torch.", "transformers.")) or cls is object:
                continue
            clash = (set(vars(cls)) & MODULE_ATTRIBUTES) - OVERRIDABLE - {"__module__", "__doc__", "__qualname__",
                                                                           "__annotations__", "__dict__",
                                                                           "__weakref__"}
            assert not clash, f"{name}: {cls.__qualname__} ({path}) shadows nn.Module's {sorted(clash)}"
        own = set(vars(module)) & MODULE_ATTRIBUTES
        assert not (own - {"training"}), f"{name}: {path} sets nn.Module attributes {sorted(own)}"


def test_dtype_and_device_casts_work_and_keep_forward_running(preset_model):
    name, ir, model = preset_model
    tokens = ids(1, 5, 3, ir["model"]["vocab_size"])
    copy = random_model_copy(model)
    for cast in (lambda m: m.to(torch.bfloat16), lambda m: m.half(), lambda m: m.float(), lambda m: m.cpu()):
        copy = cast(copy)
        with torch.no_grad():
            assert torch.isfinite(copy(tokens).logits.float()).all(), name


def random_model_copy(model):
    clone = type(model)(model.config)
    clone.load_state_dict(model.state_dict())
    return clone.eval()


# --- attention implementations and gradient checkpointing -------------------------------------------------------


def test_attention_implementations_give_the_same_logits(preset_model):
    name, ir, model = preset_model
    rows = sample_rows(ir)
    tokens, mask = padded(rows, "left")
    results = {}
    for implementation in ("sdpa", "eager", "flex_attention"):
        model.set_attn_implementation(implementation)
        with torch.no_grad():
            results[implementation] = model(tokens, attention_mask=mask).logits
    model.set_attn_implementation("sdpa")
    for implementation in ("eager", "flex_attention"):
        got = real_logits(results[implementation], mask)
        want = real_logits(results["sdpa"], mask)
        for g, w in zip(got, want):
            assert torch.allclose(g, w, atol=ATOL), (name, implementation, (g - w).abs().max())


def test_gradient_checkpointing_gives_the_same_gradients(preset_model):
    name, ir, model = preset_model
    tokens, mask = padded(sample_rows(ir), "right")
    labels = tokens.masked_fill(mask == 0, -100)

    def gradients():
        model.zero_grad(set_to_none=True)
        model(tokens, attention_mask=mask, labels=labels).loss.backward()
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    model.train()
    torch.manual_seed(0)
    plain = gradients()
    model.gradient_checkpointing_enable()
    torch.manual_seed(0)
    try:
        checkpointed = gradients()
        assert model.model.layers[0].gradient_checkpointing
    finally:
        model.gradient_checkpointing_disable()
        model.zero_grad(set_to_none=True)
        model.eval()
    assert plain.keys() == checkpointed.keys(), name
    for key in plain:
        assert torch.allclose(plain[key], checkpointed[key], atol=1e-6), (name, key)


# --- tensor parallelism ---------------------------------------------------------------------------------------


def test_the_tensor_parallel_plan_splits_only_what_every_matching_block_declares(preset_model):
    """transformers applies `layers.*.<part>.<name>` to every layer: a rule must hold for each layer that has such
    a submodule (retnet's q_proj beside attention's keeps both whole), and the embedding and head follow."""
    name, ir, model = preset_model
    plan = model.model._tp_plan
    assert plan.get("embed_tokens") == "embedding_rowwise" or not plan, name
    for key, style in plan.items():
        if key == "embed_tokens":
            continue
        _, star, part, child = key.split(".")
        assert star == "*", key
        for layer in model.model.layers:
            block = getattr(layer, part)
            if hasattr(block, child):
                assert (getattr(block, "tensor_parallel_plan", None) or {}).get(child) == style, (name, key)
    assert model._tp_plan.get("lm_head") == "colwise_gather_output"
