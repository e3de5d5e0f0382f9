"""The Python twin of the ffn plugin: the `mlp` and `gated_mlp` FFN blocks.

Mirrors plugins/ffn/{mlp,gated_mlp,activation}.cpp: the same parameter names and
shapes (HF convention, under `ffn.`), the same math.

    mlp:       down_proj(act(up_proj(x)))                  up_proj [f, d], down_proj [d, f]
    gated_mlp: down_proj(act(gate_proj(x)) * up_proj(x))   gate_proj [f, d] as well

per token (a padding token needs nothing: `padding_mask` is accepted and unused), with
f = model.mlp_ratio * model.d_model, a bias on every projection when
`bias: true`, and act one of gelu (exact, erf form), relu, swiglu (SiLU).

Init (`reset_parameters` of each projection, through torch.nn.init so that
transformers' loading guard skips weights read from the checkpoint):
gate_proj / up_proj normal(init_std), down_proj normal(init_std / sqrt(2 * n_layers)),
biases zero.

A twin imports only torch and the standard library (transformers' remote code).
"""

import math
from typing import Callable, Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

def _gelu(x: torch.Tensor) -> torch.Tensor:
    return F.gelu(x, approximate="none")  # exact (erf) GELU, as at::gelu(x, "none")


# Module-level functions, not lambdas, so that the blocks stay picklable.
_ACTIVATIONS: Dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "gelu": _gelu,
    "relu": F.relu,
    "swiglu": F.silu,  # swiglu names the SiLU; the gating is gated_mlp's
}


def _activation(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    if name not in _ACTIVATIONS:
        raise ValueError("ffn: unknown activation '%s'" % name)
    return _ACTIVATIONS[name]


class _Linear(nn.Linear):
    """y = x W^T + b with W [out, in]; its init rule is normal(std) for the weight, zeros for the bias."""

    def __init__(self, in_features: int, out_features: int, bias: bool, std: float) -> None:
        self.init_std = float(std)  # read by reset_parameters, which nn.Linear.__init__ calls
        super().__init__(in_features, out_features, bias=bias)

    def reset_parameters(self) -> None:
        # Looked up at call time: transformers patches torch.nn.init to skip loaded tensors.
        torch.nn.init.normal_(self.weight, mean=0.0, std=self.init_std)
        if self.bias is not None:
            torch.nn.init.zeros_(self.bias)


def _hidden_width(ctx) -> int:
    return int(ctx.model["mlp_ratio"]) * int(ctx.model["d_model"])


def _output_std(ctx) -> float:
    """down_proj writes into the residual stream: its std shrinks with depth."""
    layers = float(ctx.n_layers if ctx.n_layers > 0 else 1)
    return float(ctx.init_std) / math.sqrt(2.0 * layers)


class Mlp(nn.Module):
    """mlp: down_proj(act(up_proj(x)))."""


    def __init__(self, ctx) -> None:
        super().__init__()
        d = int(ctx.model["d_model"])
        f = _hidden_width(ctx)
        bias = bool(ctx.params["bias"])
        self.activation = str(ctx.params["activation"])
        self._act = _activation(self.activation)
        self.up_proj = _Linear(d, f, bias, ctx.init_std)
        self.down_proj = _Linear(f, d, bias, _output_std(ctx))
        # transformers' tensor parallelism (tp_plan="auto"), without biases (a split down_proj would add its bias
        # once per rank).
        self.tensor_parallel_plan = {} if bias else {"up_proj": "colwise", "down_proj": "rowwise"}

    def forward(self, x: torch.Tensor, token_ids: Optional[torch.Tensor] = None,
                padding_mask: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, None]:
        return self.down_proj(self._act(self.up_proj(x))), None


class GatedMlp(Mlp):
    """gated_mlp: down_proj(act(gate_proj(x)) * up_proj(x)) — SwiGLU, GeGLU, ReGLU."""

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.gate_proj = _Linear(int(ctx.model["d_model"]), _hidden_width(ctx), bool(ctx.params["bias"]), ctx.init_std)
        if self.tensor_parallel_plan:
            self.tensor_parallel_plan["gate_proj"] = "colwise"

    def forward(self, x: torch.Tensor, token_ids: Optional[torch.Tensor] = None,
                padding_mask: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, None]:
        return self.down_proj(self._act(self.gate_proj(x)) * self.up_proj(x)), None


def register(registrar) -> None:
    registrar.ffn("mlp", Mlp)
    registrar.ffn("gated_mlp", GatedMlp)
