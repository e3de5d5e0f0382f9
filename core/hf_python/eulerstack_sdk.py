# The Python side of the plugin SDK: what the Python twins of blocks share, copied into every export beside
# modeling_eulerstack.py. A twin imports it relatively (`from .eulerstack_sdk import Linear`), as it is
# imported beside it in an export, in the installed package and in tests. Only torch and the standard
# library: transformers refuses other imports in remote code.
#
# The C++ counterpart: eulerstack/runtime/block_module.hpp (Linear and its init rules). Nothing here names a
# block type: what one block shares with another stays in its plugin.
import math
from typing import Optional, Tuple

import torch
from torch import nn


class Linear(nn.Linear):
    """y = x W^T + b with W [out, in]. Init rule: normal(std) for the weight; zeros for the bias, or
    uniform(-bias_range, bias_range) when bias_range > 0. reset_parameters goes through torch.nn.init, looked
    up at call time: transformers patches it to skip the tensors it read from the checkpoint."""

    def __init__(self, in_features: int, out_features: int, bias: bool = False, std: float = 0.02,
                 bias_range: float = 0.0) -> None:
        self.init_std, self.bias_range = float(std), float(bias_range)  # read by reset_parameters
        super().__init__(in_features, out_features, bias=bias)

    def reset_parameters(self) -> None:
        torch.nn.init.normal_(self.weight, mean=0.0, std=self.init_std)
        if self.bias is not None:
            if self.bias_range > 0:
                torch.nn.init.uniform_(self.bias, -self.bias_range, self.bias_range)
            else:
                torch.nn.init.zeros_(self.bias)


def output_std(ctx) -> float:
    """The std of a projection that writes into the residual stream: init_std / sqrt(2 * n_layers)."""
    layers = float(ctx.n_layers if ctx.n_layers > 0 else 1)
    return float(ctx.init_std) / math.sqrt(2.0 * layers)


def loaded(tensor: torch.Tensor) -> bool:
    """Whether transformers marked the tensor as read from the checkpoint (its init must leave it alone)."""
    return bool(getattr(tensor, "_is_hf_initialized", False))


# --- padding (docs/PADDING.md) -----------------------------------------------------------------


def padding_order(padding_mask: torch.Tensor, real_first: bool) -> Tuple[torch.Tensor, torch.Tensor]:
    """For a mask [B, T] (True: a real token), the order [B, T] that moves each row's real tokens to the front
    (`real_first`) or to the back, keeping the order among them, and the mask in that order."""
    real = padding_mask.to(dtype=torch.bool)
    key = real.logical_not() if real_first else real
    order = torch.argsort(key.to(torch.int8), dim=1, stable=True)
    return order, real.gather(1, order)


def take_tokens(x: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """x [B, T, ...] with its tokens in `order` [B, T]."""
    index = order.view(order.shape + (1,) * (x.dim() - 2)).expand_as(x)
    return x.gather(1, index)


def restore_tokens(y: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """The inverse of take_tokens(., order)."""
    return take_tokens(y, torch.argsort(order, dim=1))


def as_real(padding_mask: Optional[torch.Tensor], like: torch.Tensor) -> Optional[torch.Tensor]:
    """The mask [B, T] as 1.0 (real) and 0.0 (padding) in `like`'s dtype and device, None for None."""
    return None if padding_mask is None else padding_mask.to(device=like.device, dtype=like.dtype)
