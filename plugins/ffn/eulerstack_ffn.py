"""The Python twin of the ffn plugin: the `mlp` and `gated_mlp` FFN blocks.

Mirrors plugins/ffn/ffn_modules.cpp: both are the SDK's FeedForward
(eulerstack_sdk.py, eulerstack/runtime/feed_forward.hpp) with the same parameter
names and shapes (HF convention, under `ffn.`), the same math and init:

    mlp:       down_proj(act(up_proj(x)))                  up_proj [f, d], down_proj [d, f]
    gated_mlp: down_proj(act(gate_proj(x)) * up_proj(x))   gate_proj [f, d] as well

per token (a padding token needs nothing: `padding_mask` is accepted and unused), with
f = model.mlp_ratio * model.d_model, a bias on every projection when
`bias: true`, and act one of gelu (exact, erf form), relu, swiglu (SiLU).

A twin imports only torch, the standard library and the SDK module beside it
(transformers' remote code).
"""

from typing import Optional, Tuple

import torch

from .eulerstack_sdk import FeedForward


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
