"""The Python twin of the ffn plugin: the `mlp` and `gated_mlp` FFN blocks.

Mirrors plugins/ffn/ffn_modules.cpp: both are FeedForward (feed_forward.hpp)
with the same parameter names and shapes (HF convention, under `ffn.`), the same
math and init:

    mlp:       down_proj(act(up_proj(x)))                  up_proj [f, d], down_proj [d, f]
    gated_mlp: down_proj(act(gate_proj(x)) * up_proj(x))   gate_proj [f, d] as well

per token (a padding token needs nothing: `padding_mask` is accepted and unused), with
f = model.mlp_ratio * model.d_model, a bias on every projection when
`bias: true`, and act one of gelu (exact, erf form), relu, swiglu (SiLU).

A twin imports only torch, the standard library and the SDK module beside it
(transformers' remote code).
"""

from typing import Callable, Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .eulerstack_sdk import Linear, output_std


def _gelu(x: torch.Tensor) -> torch.Tensor:
    return F.gelu(x, approximate="none")  # exact (erf) GELU, as at::gelu(x, "none")


# Module-level functions, not lambdas, so that the blocks stay picklable.
_ACTIVATIONS: Dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "gelu": _gelu,
    "relu": F.relu,
    "swiglu": F.silu,  # swiglu names the SiLU; the gating is the network's
}


def activation_named(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """"gelu" (exact, erf form), "relu", "swiglu" (SiLU; the gate of SwiGLU)."""
    if name not in _ACTIVATIONS:
        raise ValueError("unknown activation '%s'" % name)
    return _ACTIVATIONS[name]


class FeedForward(nn.Module):
    """The dense feed-forward network: gated, down_proj(act(gate_proj(x)) * up_proj(x)); otherwise
    down_proj(act(up_proj(x))). gate_proj and up_proj normal(init_std), down_proj normal(output_std)."""

    def __init__(self, width: int, hidden: int, gated: bool, bias: bool, activation: str, ctx) -> None:
        super().__init__()
        self.activation = str(activation)
        self._act = activation_named(self.activation)
        self.gated = bool(gated)
        if self.gated:
            self.gate_proj = Linear(width, hidden, bias, ctx.init_std)
        self.up_proj = Linear(width, hidden, bias, ctx.init_std)
        self.down_proj = Linear(hidden, width, bias, output_std(ctx))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [..., width] -> [..., width]
        if self.gated:
            return self.down_proj(self._act(self.gate_proj(x)) * self.up_proj(x))
        return self.down_proj(self._act(self.up_proj(x)))


class Mlp(FeedForward):
    """mlp: down_proj(act(up_proj(x)))."""

    gated = False

    def __init__(self, ctx) -> None:
        d = int(ctx.model["d_model"])
        bias = bool(ctx.params["bias"])
        super().__init__(d, int(ctx.model["mlp_ratio"]) * d, type(self).gated, bias, str(ctx.params["activation"]), ctx)
        # transformers' tensor parallelism (tp_plan="auto"), without biases (a split down_proj would add its bias
        # once per rank).
        self.tensor_parallel_plan = {} if bias else dict(
            {"gate_proj": "colwise"} if self.gated else {}, up_proj="colwise", down_proj="rowwise")

    def forward(self, x: torch.Tensor, token_ids: Optional[torch.Tensor] = None,
                padding_mask: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, None]:
        return super().forward(x), None


class GatedMlp(Mlp):
    """gated_mlp: down_proj(act(gate_proj(x)) * up_proj(x)) — SwiGLU, GeGLU, ReGLU."""

    gated = True


def register(registrar) -> None:
    registrar.ffn("mlp", Mlp)
    registrar.ffn("gated_mlp", GatedMlp)
