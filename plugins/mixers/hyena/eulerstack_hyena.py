"""The Python twin of the hyena plugin: the `hyena` mixer in PyTorch, for HuggingFace exports.

Mirrors hyena_modules.cpp (semantics in the header of hyena_plugin.cpp), with the same
parameter names under `mixer.`:

    in_proj [(N+1)d, d] + bias;  filter.fc1 [H, F] + bias;  filter.fc2 [N*d, H];  out_proj [d, d] + bias

(N = depth, H = filter_hidden, F = 1 + 2*filter_bands). z = in_proj(x) split into N+1 streams
(float32); v = z_0; for each i, v = z_{i+1} * (h_i (*) v), a causal convolution per channel by FFT;
y = out_proj(v) in x's dtype. Filter for lag t: fc2(sin(fc1([t/L, sin(2 pi k t/L), cos(2 pi k t/L)])))
for k = 1..filter_bands, L = model.max_seq_len, times exp(-filter_decay * t).

The cache (`new_cache()`) keeps each convolution's input stream so far; new tokens are convolved
against the whole history (one token: a weighted sum), which equals the full forward.

Padding (docs/PADDING.md of eulerstack): each row's padding tokens are moved ahead of its real
tokens (which keep their order) and every stream is 0 there, so the lags between real tokens are
those of the row alone; outputs go back to the original slots. A call with padding after tokens
already in the cache is refused (the history's lags would shift); generation pads only the prompt.

A twin imports only torch, the standard library and the SDK module beside it
(transformers' remote code).
"""

import math
from typing import List, Optional

import torch
from torch import nn

from .eulerstack_sdk import Linear, padding_order, restore_tokens, take_tokens


class HyenaFilter(nn.Module):
    """The implicit filters for lags 0..length-1: [length, depth, d] float32."""

    def __init__(self, params: dict, model: dict, d: int, depth: int, init_std: float) -> None:
        super().__init__()
        self.d_model, self.depth = d, depth
        self.bands = int(params["filter_bands"])
        self.decay = float(params["filter_decay"])
        self.period = float(model["max_seq_len"])
        hidden = int(params["filter_hidden"])
        self.fc1 = Linear(1 + 2 * self.bands, hidden, True, 1.0, math.pi)
        self.fc2 = Linear(hidden, depth * d, False, init_std)

    def forward(self, length: int, device: torch.device) -> torch.Tensor:
        t = torch.arange(length, dtype=torch.float32, device=device).unsqueeze(1)
        freq = torch.arange(1, self.bands + 1, dtype=torch.float32, device=device) * (2.0 * math.pi / self.period)
        features = torch.cat((t / self.period, torch.sin(t * freq), torch.cos(t * freq)), 1)
        h = self.fc2(torch.sin(self.fc1(features.to(self.fc1.weight.dtype))))
        h = h.to(torch.float32).view(length, self.depth, self.d_model)
        return h * torch.exp(t * -self.decay).unsqueeze(2) if self.decay > 0 else h


def causal_conv_tail(history: torch.Tensor, h: torch.Tensor, start: int) -> torch.Tensor:
    """Outputs at positions [start, total) of the causal convolution of history [B, total, d] with h [total, d]."""
    total = history.size(1)
    if total - start == 1:
        return (history * h.flip(0).unsqueeze(0)).sum(1, keepdim=True)
    n = 2 * total
    y = torch.fft.irfft(torch.fft.rfft(history, n=n, dim=1) * torch.fft.rfft(h, n=n, dim=0).unsqueeze(0), n=n, dim=1)
    return y.narrow(1, start, total - start)


class HyenaCache:
    """One layer's decoding state: each convolution's inputs so far, [B, t, d] float32."""

    def __init__(self) -> None:
        self.history: List[torch.Tensor] = []

    def _each(self, fn) -> None:
        self.history = [fn(h) for h in self.history]

    def reorder_cache(self, beam_idx: torch.Tensor) -> None:
        self._each(lambda h: h.index_select(0, beam_idx.to(h.device)))

    def batch_repeat_interleave(self, repeats: int) -> None:
        self._each(lambda h: h.repeat_interleave(repeats, dim=0))

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        self._each(lambda h: h[indices])


class Hyena(nn.Module):
    """hyena: out_proj(z_N * (h_{N-1} (*) ... (z_1 * (h_0 (*) z_0))))."""

    def __init__(self, ctx) -> None:
        super().__init__()
        d = int(ctx.model["d_model"])
        self.d_model, self.depth = d, int(ctx.params["depth"])
        std = float(ctx.init_std)
        layers = float(ctx.n_layers if ctx.n_layers > 0 else 1)
        self.in_proj = Linear(d, (self.depth + 1) * d, True, std)
        self.filter = HyenaFilter(ctx.params, ctx.model, d, self.depth, std)
        self.out_proj = Linear(d, d, True, std / math.sqrt(2.0 * layers))

    def new_cache(self) -> HyenaCache:
        return HyenaCache()

    def forward(self, x: torch.Tensor, positions: torch.Tensor, positional=None,
                cache: Optional[HyenaCache] = None, padding_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        B, T = x.size(0), x.size(1)
        start = cache.history[0].size(1) if cache is not None and cache.history else 0
        real = None
        if padding_mask is not None:
            if start > 0:
                raise NotImplementedError("hyena: padding after tokens already in the cache is not supported "
                                          "(pad the prompt only, on the left or the right)")
            order, real = padding_order(padding_mask.to(x.device), real_first=False)  # padding first
            x = take_tokens(x, order)
        z = self.in_proj(x).to(torch.float32).view(B, T, self.depth + 1, self.d_model)
        if real is not None:
            z = z * real.view(B, T, 1, 1).to(z.dtype)
        h = self.filter(start + T, x.device)
        v = z.select(2, 0)
        for i in range(self.depth):
            history = v
            if cache is not None:
                if start > 0:
                    history = torch.cat((cache.history[i], v), 1)
                if len(cache.history) < self.depth:
                    cache.history.append(history)
                else:
                    cache.history[i] = history
            v = z.select(2, i + 1) * causal_conv_tail(history, h.select(1, i), start)
        out = self.out_proj(v.to(x.dtype))
        if real is not None:
            out = restore_tokens(out, order)
        return out

    def extra_repr(self) -> str:
        return "depth=%d" % self.depth


def register(registrar) -> None:
    registrar.mixer("hyena", Hyena)
