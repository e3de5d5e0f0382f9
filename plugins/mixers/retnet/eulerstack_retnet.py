"""The Python twin of the retnet plugin: the `retnet` mixer (multi-scale retention).

Mirrors plugins/mixers/retnet/{retnet_module,retention,xpos}.cpp (semantics in the
header of retnet_plugin.cpp). Parameters under `mixer.`, no biases:

    q_proj, k_proj [d, d]; v_proj, g_proj [v*d, d]; o_proj [d, v*d]     (v = value_factor)

The group norm has no affine weights and the decays are fixed: neither adds
parameters (no buffers either, so nothing beyond the C++ names is in the state dict).

H = model.n_heads, dk = d/H, dv = v*d/H. q = q_proj(x), k = k_proj(x) * dk^-0.5,
v = v_proj(x), split per head and cast to float32. With `rope`, q and k are rotated
by absolute position with the block's own rotation (theta_i = 10000^(-2i/dk),
pairs (x[2i], x[2i+1]), "rotate every two"), never the model's positional module.
Decay gamma_h = 1 - 2^(-5-h), kept as log gamma (float32, computed at each call so
that no dtype cast of the model can touch it). Retention runs in float32:

    parallel   whole call at once, ((q k^T) * D) v, D[n, m] = gamma^(n-m) for n >= m
    chunkwise  the parallel form in chunks of chunk_size, the state carried between
    recurrent  token by token, S_t = gamma S_{t-1} + k_t^T v_t, o_t = q_t S_t

with a prior state S0 adding gamma^(i+1) q_i S0. Which form runs: a call with a
cache and one token -> recurrent; else chunkwise when `chunkwise` and
T > chunk_size; else parallel. Then a per-head layer norm over dv without affine
weights (eps 1e-5), cast back to x's dtype, the swish gate silu(g_proj(x)) * normed,
and o_proj.

The cache (`new_cache()`) holds `state` [B, H, dk, dv] float32, None before the
first token; `forward` replaces it with the state after its last token.

Init (`reset_parameters`, through torch.nn.init so that transformers' loading guard
skips weights read from the checkpoint): q/k/v/g_proj normal(init_std),
o_proj normal(init_std / sqrt(2 * n_layers)).

A twin imports only torch, the standard library and the SDK module beside it
(transformers' remote code).
"""

import math
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .eulerstack_sdk import Linear

_GROUP_NORM_EPS = 1e-5


# --- xpos.cpp -----------------------------------------------------------------------


def rotate(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Rotates x [B, H, T, dk] (dk even) by the absolute `positions` [T]; returns float32.

    Pair i = (x[2i], x[2i+1]) turns by angle p * theta_i, theta_i = 10000^(-2i/dk).
    """
    dk = x.size(-1)
    theta = torch.pow(10000.0, torch.arange(0, dk, 2, dtype=torch.float32, device=x.device) / float(-dk))
    # [T, dk] (or [B, 1, T, dk] for per-row positions), each angle twice: (theta_0, theta_0, theta_1, ...).
    phase = (positions.to(torch.float32).unsqueeze(-1) * theta).repeat_interleave(2, -1)
    if phase.dim() == 3:
        phase = phase.unsqueeze(1)
    xf = x.to(torch.float32)
    # (x0, x1, x2, x3, ...) -> (-x1, x0, -x3, x2, ...)
    pairs = xf.unflatten(-1, (dk // 2, 2))
    turned = torch.stack((-pairs.select(-1, 1), pairs.select(-1, 0)), -1).flatten(-2)
    return xf * phase.cos() + turned * phase.sin()


# --- retention.cpp ------------------------------------------------------------------
# All float32: q, k [B, H, T, dk], v [B, H, T, dv], log_decay [H],
# state [B, H, dk, dv] or None (zero), mask [B, T] bool (True: real) or None.
# Each returns (output [B, H, T, dv], state). With a mask the decay counts real
# tokens only and a padding token adds nothing to the state (docs/PADDING.md).


def log_decays(heads: int, device: torch.device) -> torch.Tensor:
    """log gamma_h = log(1 - 2^(-5-h)) for h in [0, heads), float32."""
    h = torch.arange(heads, dtype=torch.float32, device=device)
    return torch.log1p(-torch.exp2(-5.0 - h))


def parallel(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, log_decay: torch.Tensor, state: Optional[torch.Tensor],
    mask: Optional[torch.Tensor] = None,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Whole call at once: ((q k^T) * D) v with D[n, m] = gamma^(n-m), n >= m."""
    if mask is not None:
        return _parallel_padded(q, k, v, log_decay, state, mask)
    T = q.size(2)
    index = torch.arange(T, dtype=q.dtype, device=q.device)
    gap = index.unsqueeze(1) - index.unsqueeze(0)  # n - m
    rate = log_decay.view(-1, 1, 1)  # [H, 1, 1]
    # Clamped before exp so the masked upper triangle cannot overflow.
    decay = torch.where(gap >= 0, torch.exp(gap.clamp_min(0) * rate), torch.zeros((), dtype=q.dtype, device=q.device))
    output = torch.matmul(torch.matmul(q, k.transpose(-1, -2)) * decay, v)
    # Weight of token m in the state after the last token: gamma^(T-1-m).
    keep = torch.exp(((T - 1) - index) * log_decay.view(-1, 1)).unsqueeze(-1)  # [H, T, 1]
    new_state = torch.matmul((k * keep).transpose(-1, -2), v)
    if state is not None:
        carried = torch.exp((index + 1) * log_decay.view(-1, 1)).unsqueeze(-1)  # gamma^(i+1)
        output = output + torch.matmul(q, state) * carried
        new_state = new_state + state * torch.exp(T * log_decay).view(-1, 1, 1)
    return output, new_state


def _parallel_padded(q, k, v, log_decay, state, mask):
    """parallel() with the decay exponents counted in real tokens r (per row) instead of slots."""
    T = q.size(2)
    real = mask.to(device=q.device, dtype=q.dtype)  # [B, T]
    r = real.cumsum(1) - 1.0  # real tokens before each slot, [B, T]
    count = real.sum(1)  # [B]
    k = k * real.view(real.size(0), 1, T, 1)
    rate = log_decay.view(1, -1, 1, 1)  # [1, H, 1, 1]
    gap = (r.unsqueeze(2) - r.unsqueeze(1)).unsqueeze(1)  # [B, 1, T, T], r_n - r_m
    causal = torch.ones((T, T), dtype=torch.bool, device=q.device).tril()
    decay = torch.where(causal, torch.exp(gap.clamp_min(0) * rate), torch.zeros((), dtype=q.dtype, device=q.device))
    output = torch.matmul(torch.matmul(q, k.transpose(-1, -2)) * decay, v)
    rate = log_decay.view(1, -1, 1)  # [1, H, 1]
    keep = torch.exp((count.view(-1, 1, 1) - 1.0 - r.unsqueeze(1)) * rate).unsqueeze(-1)  # [B, H, T, 1]
    new_state = torch.matmul((k * keep).transpose(-1, -2), v)
    if state is not None:
        carried = torch.exp((r.unsqueeze(1) + 1.0) * rate).unsqueeze(-1)  # gamma^(r+1)
        output = output + torch.matmul(q, state) * carried
        new_state = new_state + state * torch.exp(count.view(-1, 1) * log_decay.view(1, -1)).view(-1, q.size(1), 1, 1)
    return output, new_state


def chunkwise(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    log_decay: torch.Tensor,
    state: Optional[torch.Tensor],
    chunk: int,
    mask: Optional[torch.Tensor] = None,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """The parallel form inside chunks of `chunk` tokens (the last may be shorter)."""
    T = q.size(2)
    outputs: List[torch.Tensor] = []
    carried = state
    for start in range(0, T, chunk):
        length = min(chunk, T - start)
        output, carried = parallel(
            q.narrow(2, start, length), k.narrow(2, start, length), v.narrow(2, start, length), log_decay, carried,
            mask.narrow(1, start, length) if mask is not None else None,
        )
        outputs.append(output)
    return torch.cat(outputs, 2), carried


def recurrent(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, log_decay: torch.Tensor, state: Optional[torch.Tensor],
    mask: Optional[torch.Tensor] = None,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Token by token: S_t = gamma S_{t-1} + k_t^T v_t, o_t = q_t S_t (a padding token keeps S)."""
    gamma = torch.exp(log_decay).view(-1, 1, 1)
    s = state if state is not None else q.new_zeros((q.size(0), q.size(1), q.size(3), v.size(3)))
    outputs: List[torch.Tensor] = []
    for t in range(q.size(2)):
        kt = k.select(2, t).unsqueeze(-1)  # [B, H, dk, 1]
        vt = v.select(2, t).unsqueeze(-2)  # [B, H, 1, dv]
        if mask is not None:
            s = torch.where(mask[:, t].to(s.device).view(-1, 1, 1, 1), gamma * s + torch.matmul(kt, vt), s)
        else:
            s = gamma * s + torch.matmul(kt, vt)
        outputs.append(torch.matmul(q.select(2, t).unsqueeze(-2), s))  # [B, H, 1, dv]
    return torch.cat(outputs, 2), s


# --- retnet_module.cpp --------------------------------------------------------------


class RetentionCache:
    """One layer's decoding state: `state` [B, H, dk, dv] float32, None before the first token."""

    def __init__(self) -> None:
        self.state: Optional[torch.Tensor] = None

    # Batch edits for generate()'s beam search and batch expansion; no C++ counterpart.
    def reorder_cache(self, beam_idx: torch.Tensor) -> None:
        if self.state is not None:
            self.state = self.state.index_select(0, beam_idx.to(self.state.device))

    def batch_repeat_interleave(self, repeats: int) -> None:
        if self.state is not None:
            self.state = self.state.repeat_interleave(repeats, 0)

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        if self.state is not None:
            self.state = self.state[indices]

    def reset(self) -> None:
        self.state = None


class RetNet(nn.Module):
    """retnet: o_proj(silu(g_proj(x)) * group_norm(retention(q, k, v)))."""

    def __init__(self, ctx) -> None:
        super().__init__()
        d = int(ctx.model["d_model"])
        heads = int(ctx.model["n_heads"])
        params = ctx.params
        if d % heads != 0:
            raise ValueError("retnet: d_model %d is not divisible by n_heads %d" % (d, heads))
        self.d_model = d
        self.n_heads = heads
        self.value_dim = int(params["value_factor"]) * d
        self.chunkwise = bool(params["chunkwise"])
        self.chunk_size = int(params["chunk_size"])
        self.rope = bool(params["rope"])
        layers = float(ctx.n_layers if ctx.n_layers > 0 else 1)
        std = float(ctx.init_std)
        self.q_proj = Linear(d, d, False, std)
        self.k_proj = Linear(d, d, False, std)
        self.v_proj = Linear(d, self.value_dim, False, std)
        self.g_proj = Linear(d, self.value_dim, False, std)
        self.o_proj = Linear(self.value_dim, d, False, std / math.sqrt(2.0 * layers))

    def new_cache(self) -> RetentionCache:
        return RetentionCache()

    def forward(
        self,
        x: torch.Tensor,
        positions: torch.Tensor,
        positional=None,  # the model's scheme: unused, the block rotates by itself
        cache: Optional[RetentionCache] = None,
        padding_mask: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        B, T = x.size(0), x.size(1)
        heads = self.n_heads
        dk, dv = self.d_model // heads, self.value_dim // heads

        def split(t: torch.Tensor, width: int) -> torch.Tensor:  # [B, T, H*w] -> [B, H, T, w] float32
            return t.view(B, T, heads, width).transpose(1, 2).to(torch.float32)

        q = split(self.q_proj(x), dk)
        k = split(self.k_proj(x), dk) * (1.0 / math.sqrt(float(dk)))
        v = split(self.v_proj(x), dv)
        if self.rope:
            at = positions.to(x.device)
            q = rotate(q, at)
            k = rotate(k, at)
        log_decay = log_decays(heads, x.device)

        state = cache.state if cache is not None else None
        mask = padding_mask
        if cache is not None and T == 1:
            output, new_state = recurrent(q, k, v, log_decay, state, mask)
        elif self.chunkwise and T > self.chunk_size:
            output, new_state = chunkwise(q, k, v, log_decay, state, self.chunk_size, mask)
        else:
            output, new_state = parallel(q, k, v, log_decay, state, mask)
        if cache is not None:
            cache.state = new_state

        # Group norm: a layer norm without affine weights over each head's dv channels.
        normed = (
            F.layer_norm(output, (dv,), None, None, _GROUP_NORM_EPS)
            .transpose(1, 2)
            .reshape(B, T, self.value_dim)
            .to(x.dtype)
        )
        return self.o_proj(F.silu(self.g_proj(x)) * normed)

    def extra_repr(self) -> str:
        return "heads=%d, value_dim=%d, chunkwise=%s, chunk_size=%d, rope=%s" % (
            self.n_heads,
            self.value_dim,
            self.chunkwise,
            self.chunk_size,
            self.rope,
        )


def register(registrar) -> None:
    registrar.mixer("retnet", RetNet)
