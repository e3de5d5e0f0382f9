"""Every built-in block's twin against the shipped conformance checks (python/eulerstack/twin_conformance.py),
the ones a third-party plugin's tests call too: nn.Module hygiene and padding invariance (docs/PADDING.md) in
forward and across a cache, for each block and its variants."""

import sys
from functools import partial

import pytest

torch = pytest.importorskip("torch")

from conftest import BUILTIN, ROOT  # noqa: E402

sys.path.insert(0, str(ROOT / "python"))
from eulerstack.twin_conformance import check_ffn_padding, check_mixer_padding, check_module_hygiene  # noqa: E402

# The built-in plugins' own twin tests (in their folders) build the blocks.
for plugin in BUILTIN["plugins"]:
    sys.path.insert(0, str(ROOT / plugin["folder"] / "tests"))

import test_twin_attention as attention_tests  # noqa: E402
import test_twin_ffn_moe as ffn_tests  # noqa: E402
import test_twin_mamba as mamba_tests  # noqa: E402
import test_twin_retnet as retnet_tests  # noqa: E402
import test_twin_ttt as ttt_tests  # noqa: E402

D = 64

MIXERS = {
    "attention": partial(attention_tests.attention, {}),
    "attention_window": partial(attention_tests.attention, {"window": 3}),
    "attention_dilated": partial(attention_tests.attention, {"window": 4, "window_mode": "dilated",
                                                             "window_dilation": 2}),
    "attention_nsa": partial(attention_tests.attention, {"window": 2, "window_mode": "nsa"}),
    "attention_mla": partial(attention_tests.attention, {"latent_dim": 16, "qkv_bias": True}),
    "attention_sinks": partial(attention_tests.with_sinks, {"window": 3}),
    "retnet_parallel": lambda: retnet_tests.twin.RetNet(retnet_tests.context({"chunkwise": False})),
    "retnet_chunkwise": lambda: retnet_tests.twin.RetNet(retnet_tests.context({"chunk_size": 2})),
    "mamba2": lambda: mamba_tests.twin.make_mamba(mamba_tests.context({"head_dim": 16, "d_state": 8,
                                                                        "chunk_size": 2})),
    "mamba1": lambda: mamba_tests.twin.make_mamba(mamba_tests.context({"variant": "mamba1", "d_state": 8})),
    "ttt_mlp_sgd": partial(ttt_tests.ttt, "mlp", "sgd", 0.05),
    "ttt_linear_adamw": partial(ttt_tests.ttt, "linear", "adamw", 0.02, 2),
}

FFNS = {
    "mlp": partial(ffn_tests.make_ffn, "mlp"),
    "gated_mlp": partial(ffn_tests.make_ffn, "gated_mlp"),
    "moe_softmax": partial(ffn_tests.make_moe, {"experts": 4, "top_k": 2, "shared_experts": 1}),
    "moe_sigmoid_corrected": partial(ffn_tests.make_moe, {"router": "sigmoid", "experts": 4, "top_k": 2,
                                                          "bias_correction": {"enabled": True}}),
}


def seeded(factory):
    def make():
        torch.manual_seed(3)
        return factory()
    return make


@pytest.mark.parametrize("name", sorted(MIXERS))
def test_mixer_conforms(name):
    check_module_hygiene(MIXERS[name]())
    check_mixer_padding(seeded(MIXERS[name]), D)


@pytest.mark.parametrize("name", sorted(FFNS))
def test_ffn_conforms(name):
    check_module_hygiene(FFNS[name]())
    check_ffn_padding(seeded(FFNS[name]), D)


def test_hash_routing_conforms_with_token_ids():
    check_ffn_padding(seeded(partial(ffn_tests.make_moe, {"experts": 4, "top_k": 1,
                                                           "routing": {"type": "hash", "hash_salt": 5}})), D,
                      token_ids=True)


def test_the_checks_catch_a_block_that_ignores_the_mask():
    class Leaky(torch.nn.Module):
        """A running mean over the call: the padding leaks into the real tokens."""

        def forward(self, x, positions, positional, cache=None, padding_mask=None):
            return x.cumsum(1) / torch.arange(1, x.shape[1] + 1).view(1, -1, 1)

    with pytest.raises(AssertionError, match="padding changes row"):
        check_mixer_padding(Leaky, D)

    class Shadowing(torch.nn.Module):
        def _apply(self, fn, *args, **kwargs):
            return super()._apply(fn, *args, **kwargs)

    with pytest.raises(AssertionError, match=r"Shadowing\._apply"):
        check_module_hygiene(Shadowing())
