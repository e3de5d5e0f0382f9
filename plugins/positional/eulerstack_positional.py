"""The Python twin of the positional plugin: `rope`, `alibi`, `learned` and `none`.

Mirrors plugins/positional/{rope,alibi,learned,positional_modules}.cpp (semantics in
the header of positional_plugin.cpp). The model calls, with positions int64 [T]
(shared by the batch) or [B, T] (per row, docs/PADDING.md), absolute:

    embed(positions)                       -> [T, d] / [B, T, d] added to the token embeddings, or None
    rotate(q, k, positions)                -> (q, k) for q [B, H, T, hd], k [B, KV, T, hd]
    attention_bias(heads, q_pos, k_pos)    -> [H, Tq, Tk] / [B, H, Tq, Tk] float32 added to the scores, or None

`none` is the interface's defaults (nothing, identity, nothing); each scheme overrides
what it provides. Only `learned` has a parameter, `weight` [max_seq_len, d_model]
(published by the model as `model.embed_positions.weight`), init normal(init_std) in
`reset_parameters` through torch.nn.init (so transformers' loading guard skips a
weight read from the checkpoint). No scheme keeps buffers: RoPE's frequencies and
ALiBi's slopes are computed at each call, as in C++, so the state dict holds exactly
the C++ parameters.

rope: rotate_half layout (GPT-NeoX / Llama / HF) on the first rot = int(head_dim *
partial_rotary_factor) dims of each head, inv_freq_i = 1 / base^(2i / rot),
cos/sin and the rotation in float32, returned in the input's dtype. rope_scaling
(HF semantics; model.max_seq_len is the extended context, orig = max_seq_len / factor
the trained one): linear (positions / factor), ntk (base theta * factor^(rot/(rot-2))),
dynamic (that stretch from seq_len = max(positions) + 1 > orig), yarn (a per-frequency
ramp between interpolated and extrapolated inv_freq, cos and sin scaled by
0.1 ln(factor) + 1).

alibi: -slope_h * (q_pos - k_pos), slopes 2^(-8i/n) for a power of two n, else those
of the largest power of two p < n followed by the odd ones of 2p.

learned: the table's rows; a position >= max_seq_len raises ValueError with the C++
sentence, a negative one ValueError("positions must not be negative").

A twin imports only torch and the standard library (transformers' remote code).
"""

import math
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

_PI = 3.14159265358979323846


def _exp2(x: float) -> float:
    # math.exp2 (Python >= 3.11) is C's exp2, as alibi.cpp uses.
    exp2 = getattr(math, "exp2", None)
    return exp2(x) if exp2 is not None else 2.0 ** x


# --- positional_plugin.cpp: the interface's defaults (`none`) ----------------------------


class Positional(nn.Module):
    """`none`: no embedding, no rotation, no bias. The other schemes override what they add."""

    def __init__(self, ctx=None) -> None:
        super().__init__()

    def embed(self, positions: torch.Tensor) -> Optional[torch.Tensor]:
        return None

    def rotate(self, q: torch.Tensor, k: torch.Tensor, positions: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return q, k

    def attention_bias(self, heads: int, q_positions: torch.Tensor,
                       k_positions: torch.Tensor) -> Optional[torch.Tensor]:
        return None


# --- rope.cpp -----------------------------------------------------------------------------


def inverse_frequencies(base: float, rot: int, device=None) -> torch.Tensor:
    """inv_freq [rot/2] float32 for `base`, as HF computes it: 1 / base^(arange(0, rot, 2) / rot)."""
    powers = torch.pow(float(base), torch.arange(0, rot, 2, dtype=torch.float32, device=device) / float(rot))
    return torch.ones_like(powers) / powers  # as C++'s 1.0 / tensor: fill(1).div_(tensor)


class Rope(Positional):
    """Rotary position embedding on queries and keys."""

    def __init__(self, ctx) -> None:
        super().__init__()
        params = ctx.params
        head_dim = int(ctx.model["d_model"]) // int(ctx.model["n_heads"])
        self.rot = int(float(head_dim) * float(params["partial_rotary_factor"]))  # truncates, as static_cast
        if not (self.rot >= 2 and self.rot % 2 == 0 and self.rot <= head_dim):
            raise ValueError("rope: the rotated part of each head (%d of %d dims) must be even and at least 2"
                             % (self.rot, head_dim))
        self.theta = float(params["rope_theta"])
        self.scaling = "none"
        self.factor = 1.0
        scaling = params.get("rope_scaling")
        if scaling is not None:
            self.scaling = str(scaling.get("type", "linear"))
            self.factor = float(scaling.get("factor", 1.0))
        self.original = float(int(ctx.model["max_seq_len"])) / self.factor
        if not (self.rot > 2 or (self.scaling != "ntk" and self.scaling != "dynamic")):
            raise ValueError("rope_scaling %s needs a rotated part of more than 2 dims per head "
                             "(its base exponent is rot / (rot - 2))" % self.scaling)

    def rotate(self, q: torch.Tensor, k: torch.Tensor, positions: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        if q.size(-1) < self.rot or k.size(-1) < self.rot:
            raise ValueError("rope: head_dim %d is smaller than the %d rotated dims" % (q.size(-1), self.rot))
        cos, sin = self.cos_sin(positions.to(q.device))
        if cos.dim() == 3:  # per-row positions [B, T, rot]: the same for every head
            cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
        return self._rotate(q, cos, sin), self._rotate(k, cos, sin)

    def cos_sin(self, positions: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """cos and sin [..., T, rot] (positions [..., T]), float32."""
        device = positions.device
        position = positions.to(torch.float32)
        scale = 1.0
        if self.scaling == "linear":
            inv_freq = inverse_frequencies(self.theta, self.rot, device)
            position = position / self.factor
        elif self.scaling == "ntk":
            inv_freq = inverse_frequencies(self.theta * math.pow(self.factor, self._exponent()), self.rot, device)
        elif self.scaling == "dynamic":
            base = self.theta
            if positions.numel() > 0:
                seq_len = float(int(positions.max().item()) + 1)
                if seq_len > self.original:
                    base = self.theta * math.pow(self.factor * seq_len / self.original - (self.factor - 1.0),
                                                 self._exponent())
            inv_freq = inverse_frequencies(base, self.rot, device)
        elif self.scaling == "yarn":
            inv_freq = self.yarn_frequencies(device)
            scale = 1.0 if self.factor <= 1.0 else 0.1 * math.log(self.factor) + 1.0
        else:
            inv_freq = inverse_frequencies(self.theta, self.rot, device)
        freqs = position.unsqueeze(-1) * inv_freq
        angles = torch.cat((freqs, freqs), -1)
        return angles.cos() * scale, angles.sin() * scale

    def _exponent(self) -> float:
        return float(self.rot) / float(self.rot - 2)

    def yarn_frequencies(self, device=None) -> torch.Tensor:
        """HF _compute_yarn_parameters with truncate = true (beta_fast 32, beta_slow 1)."""
        dim = float(self.rot)

        def correction_dim(rotations: float) -> float:
            return dim * math.log(self.original / (rotations * 2.0 * _PI)) / (2.0 * math.log(self.theta))

        low = max(math.floor(correction_dim(32.0)), 0.0)
        high = min(math.ceil(correction_dim(1.0)), dim - 1.0)
        if low == high:
            high += 0.001
        ramp = ((torch.arange(self.rot // 2, dtype=torch.float32, device=device) - low) / (high - low)).clamp(0.0, 1.0)
        extrapolation_weight = 1.0 - ramp
        extrapolated = inverse_frequencies(self.theta, self.rot, device)
        interpolated = extrapolated / self.factor
        return interpolated * (1.0 - extrapolation_weight) + extrapolated * extrapolation_weight

    def _rotate(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        rot, half = self.rot, self.rot // 2
        head = x.narrow(-1, 0, rot).to(torch.float32)
        rotated_half = torch.cat((-head.narrow(-1, half, half), head.narrow(-1, 0, half)), -1)
        rotated = (head * cos + rotated_half * sin).to(x.dtype)
        if rot == x.size(-1):
            return rotated
        return torch.cat((rotated, x.narrow(-1, rot, x.size(-1) - rot)), -1)

    def extra_repr(self) -> str:
        return "rot=%d, theta=%g, scaling=%s, factor=%g" % (self.rot, self.theta, self.scaling, self.factor)


# --- alibi.cpp ----------------------------------------------------------------------------


def _power_of_two_slopes(n: int, first: int, step: int, count: int) -> List[float]:
    exponent = -8.0 / float(n)
    return [_exp2(exponent * float(first + i * step)) for i in range(count)]


def alibi_slopes(heads: int) -> List[float]:
    """The slopes of `heads` heads (double precision), as the paper's code and HF's build_alibi_tensor."""
    p = 1
    while p * 2 <= heads:
        p *= 2
    slopes = _power_of_two_slopes(p, 1, 1, p)
    if p != heads:
        slopes += _power_of_two_slopes(2 * p, 1, 2, min(p, heads - p))
    return slopes


class Alibi(Positional):
    """Linear attention biases: -slope_h * (q_pos - k_pos), [H, Tq, Tk] (or [B, H, Tq, Tk]) float32."""

    def attention_bias(self, heads: int, q_positions: torch.Tensor, k_positions: torch.Tensor) -> torch.Tensor:
        device = q_positions.device
        slopes = (torch.tensor(alibi_slopes(int(heads)), dtype=torch.float64)
                  .to(device=device, dtype=torch.float32)
                  .view(int(heads), 1, 1))
        distance = (q_positions.unsqueeze(-1) - k_positions.to(device).unsqueeze(-2)).to(torch.float32)
        return -slopes * distance.unsqueeze(-3)


# --- learned.cpp --------------------------------------------------------------------------


class LearnedPositions(Positional):
    """A learned table `weight` [max_seq_len, d_model] (GPT-2)."""

    def __init__(self, ctx) -> None:
        super().__init__()
        self.max_seq_len = int(ctx.model["max_seq_len"])
        self.init_std = float(ctx.init_std)
        self.weight = nn.Parameter(torch.empty(self.max_seq_len, int(ctx.model["d_model"])))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Looked up at call time: transformers patches torch.nn.init to skip loaded tensors.
        torch.nn.init.normal_(self.weight, mean=0.0, std=self.init_std)

    def embed(self, positions: torch.Tensor) -> torch.Tensor:
        if positions.numel() > 0 and not torch.compiler.is_compiling():
            last = int(positions.max().item())
            if last >= self.max_seq_len:
                raise ValueError(
                    "learned positional embeddings cover positions 0..%d (model.max_seq_len %d), but position %d "
                    "was requested; shorten the input or raise model.max_seq_len (the table has no rows beyond it)"
                    % (self.max_seq_len - 1, self.max_seq_len, last))
            if int(positions.min().item()) < 0:
                raise ValueError("positions must not be negative")
        return F.embedding(positions.to(device=self.weight.device, dtype=torch.long), self.weight)

    def extra_repr(self) -> str:
        return "max_seq_len=%d, d_model=%d" % tuple(self.weight.shape)


def register(registrar) -> None:
    registrar.positional("rope", Rope)
    registrar.positional("alibi", Alibi)
    registrar.positional("learned", LearnedPositions)
    registrar.positional("none", Positional)
