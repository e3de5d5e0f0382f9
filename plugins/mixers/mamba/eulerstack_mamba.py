"""The Python twin of the mamba plugin: the `mamba` mixer, Mamba2 (chunked SSD) or Mamba1.

Mirrors plugins/mixers/mamba/{mamba2,mamba1,ssd,selective_scan,causal_conv,gated_rms_norm,
mamba_init}.cpp (semantics in the header of mamba_plugin.cpp). One factory, `mamba`, builds
Mamba2 or Mamba1 by the block's `variant`. Parameters under `mixer.` (HF Mamba / Mamba2 layouts):

    mamba2: in_proj [2*di + 2*g*N + h, d]   conv1d.weight [di + 2*g*N, 1, K]   conv1d.bias
            dt_bias [h]   A_log [h]   D [h]   norm.weight [di]   out_proj [d, di]
    mamba1: in_proj [2*di, d]   conv1d.weight [di, 1, K]   conv1d.bias   x_proj [r + 2*N, di]
            dt_proj.weight [di, r]   dt_proj.bias [di]   A_log [di, N]   D [di]   out_proj [d, di]

di = expand*d, h = di/head_dim, p = head_dim, g = n_groups, N = d_state, K = d_conv,
r = ceil(d/16); no other biases, no buffers. in_proj splits as [z, xBC, dt] (mamba2,
xBC = [x, B, C]) and [x, z] (mamba1); x_proj as [dt, B, C].

mamba2: xBC = silu(causal_conv(xBC)); dt = softplus(dt + dt_bias), A = -exp(A_log), both
float32; y = SSD(x, dt, A, B, C) + D x (float32); then the gated RMSNorm
rmsnorm(y * silu(z)) * weight over groups of di/g channels, eps 1e-5, computed in float32
and returned in z's dtype; out_proj. A call of one token runs one step of the recurrence
(with or without a cache); longer calls the chunked SSD (chunk_size tokens per chunk, the
last chunk zero-padded with dt = 0, starting from the cache's state).

mamba1: xs = silu(causal_conv(x)); dt = softplus(dt_proj(x_proj's dt part)) in float32,
A = -exp(A_log); the selective scan (sequential over time, float32) + D xs, times
silu(z) (float32), cast to x's dtype; out_proj.

The causal convolution is depthwise over [K-1 earlier inputs, this call's inputs] (zeros
before the first token), with its bias and no activation.

Padding (docs/PADDING.md): the convolution skips padding tokens (each row's real tokens
follow its history; a padding token's conv output is 0) and dt is 0 at a padding token, so
the scan state passes through it unchanged and the cache holds the last real inputs.

The cache (`new_cache()`) holds `conv_state` [B, K-1, conv channels], the last K-1 conv inputs
(pre-activation, the model dtype), and `ssm_state`, float32, mamba2 [B, h, p, N] / mamba1
[B, di, N]; both None before the first token. `forward` replaces them with the state after its
last token. The positions and the model's positional module are not used.

Init (`reset_parameters`, through torch.nn.init so that transformers' loading guard skips
weights read from the checkpoint; the computed rules skip a tensor flagged as loaded):
in_proj, x_proj normal(init_std); out_proj normal(init_std / sqrt(2 * n_layers));
conv1d.weight uniform(+-1/sqrt(K)), conv1d.bias 0; D 1; norm.weight 1; dt_bias (mamba2) and
dt_proj.bias (mamba1) softplus^-1(dt), dt = exp(uniform(log 1e-3, log 1e-1)) clamped >= 1e-4;
mamba2 A_log = log(uniform[1, 16]); mamba1 A_log[c, n] = log(n + 1) and dt_proj.weight
uniform(+-r^-0.5). Values are drawn in float32 and converted to the parameter's dtype.

A twin imports only torch, the standard library and the SDK module beside it
(transformers' remote code).
"""

import math
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .eulerstack_sdk import Linear, loaded, padding_order, restore_tokens, take_tokens

_NORM_EPS = 1e-5
_DT_MIN, _DT_MAX, _DT_FLOOR = 1e-3, 1e-1, 1e-4
_A_LOW, _A_HIGH = 1.0, 16.0


def _assign(param: torch.Tensor, value: torch.Tensor) -> None:
    """param <- value (converted to its dtype), unless it was loaded from the checkpoint."""
    if loaded(param):
        return
    with torch.no_grad():
        param.copy_(value)


def _fresh(param: torch.Tensor) -> torch.Tensor:
    """An empty float32 tensor shaped and placed like `param`, to draw an init value into."""
    return torch.empty(param.shape, dtype=torch.float32, device=param.device)


def _inverse_softplus_dt(param: torch.Tensor) -> None:
    """mamba_init.cpp's inverse_softplus_dt: softplus^-1(dt), dt = exp(U(log 1e-3, log 1e-1)) clamped >= 1e-4."""
    if loaded(param):
        return
    dt = _fresh(param).uniform_(math.log(_DT_MIN), math.log(_DT_MAX)).exp_().clamp_min_(_DT_FLOOR)
    _assign(param, dt + torch.log(-torch.expm1(-dt)))  # dt + log(1 - exp(-dt))


class _DtProjection(nn.Linear):
    """mamba1's dt_proj: weight [di, r] uniform(+-r^-0.5), bias [di] softplus^-1 of a log-uniform step."""

    def __init__(self, rank: int, channels: int) -> None:
        super().__init__(rank, channels, bias=True)

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(float(self.in_features))
        torch.nn.init.uniform_(self.weight, -bound, bound)
        _inverse_softplus_dt(self.bias)


# --- causal_conv.cpp ----------------------------------------------------------------------


class CausalConv1d(nn.Module):
    """Depthwise causal convolution over time: `weight` [C, 1, K], `bias` [C]."""

    def __init__(self, channels: int, width: int) -> None:
        super().__init__()
        self.channels = int(channels)
        self.width = int(width)
        self.weight = nn.Parameter(torch.empty(self.channels, 1, self.width))
        self.bias = nn.Parameter(torch.empty(self.channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(float(self.width))  # PyTorch's Conv1d default, fan_in = K
        torch.nn.init.uniform_(self.weight, -bound, bound)
        torch.nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor, history: Optional[torch.Tensor],
                padding_mask: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """x [B, T, C] continuing `history` [B, K-1, C] (the inputs before x; None: zeros).

        Returns the convolution [B, T, C] (no activation) and the last K-1 inputs, the next history. With a
        `padding_mask` [B, T] (True: real) the convolution runs over each row's real tokens only: they are moved
        ahead of the padding (in order), convolved after the history, and put back; padding tokens get 0 and the
        history is the last K-1 real inputs."""
        if padding_mask is not None:
            return self._skipping_padding(x, history, padding_mask)
        batch, tokens = x.size(0), x.size(1)
        if history is not None:
            past = history.to(x.dtype)
        else:
            past = x.new_zeros((batch, self.width - 1, self.channels))
        full = torch.cat((past, x), 1)  # [B, K-1+T, C]: the past is the padding
        # A copy, so that the cache does not keep this call's whole input alive.
        next_history = full.narrow(1, tokens, self.width - 1).clone()
        if tokens == 1:
            # As causal_conv.cpp: one decoding step is a weighted sum over the window.
            return (full * self.weight.squeeze(1).t()).sum(1, keepdim=True) + self.bias, next_history
        y = F.conv1d(full.transpose(1, 2), self.weight, self.bias, stride=1, padding=0, dilation=1,
                     groups=self.channels)
        return y.transpose(1, 2), next_history

    def _skipping_padding(self, x: torch.Tensor, history: Optional[torch.Tensor],
                          padding_mask: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        batch = x.size(0)
        real = padding_mask.to(device=x.device, dtype=torch.bool)
        order, packed_real = padding_order(real, real_first=True)
        packed = take_tokens(x, order) * packed_real.unsqueeze(-1).to(x.dtype)
        past = history.to(x.dtype) if history is not None else x.new_zeros((batch, self.width - 1, self.channels))
        full = torch.cat((past, packed), 1)
        rows = real.sum(1, keepdim=True) + torch.arange(self.width - 1, device=x.device)  # [B, K-1]
        next_history = full.gather(1, rows.unsqueeze(-1).expand(batch, self.width - 1, self.channels))
        y = F.conv1d(full.transpose(1, 2), self.weight, self.bias, groups=self.channels).transpose(1, 2)
        return restore_tokens(y, order) * real.unsqueeze(-1).to(y.dtype), next_history

    def extra_repr(self) -> str:
        return "channels=%d, width=%d" % (self.channels, self.width)


# --- gated_rms_norm.cpp -------------------------------------------------------------------


class GatedRMSNorm(nn.Module):
    """rmsnorm(y * silu(z)) * weight over groups of `group_size` channels (mamba_ssm RMSNormGated,
    norm_before_gate=False); computed in float32, returned in z's dtype."""

    def __init__(self, width: int, group_size: int, eps: float = _NORM_EPS) -> None:
        super().__init__()
        self.group_size = int(group_size)
        self.eps = float(eps)
        self.weight = nn.Parameter(torch.empty(int(width)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        torch.nn.init.ones_(self.weight)

    def forward(self, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        gated = y.to(torch.float32) * F.silu(z.to(torch.float32))
        shape = gated.shape
        g = gated.reshape(tuple(shape[:-1]) + (shape[-1] // self.group_size, self.group_size))
        normed = (g * torch.rsqrt(g.pow(2).mean(-1, keepdim=True) + self.eps)).reshape(shape)
        return (normed * self.weight.to(torch.float32)).to(z.dtype)

    def extra_repr(self) -> str:
        return "width=%d, group_size=%d, eps=%g" % (self.weight.numel(), self.group_size, self.eps)


# --- ssd.cpp -------------------------------------------------------------------------------
# Mamba2's scan, per head a scalar decay:
#   state_t = exp(dt_t A) state_{t-1} + dt_t x_t (x) B_t,   y_t = state_t C_t,
# B and C shared by the h/g heads of a group; everything in float32. Shapes: x [b, T, h, p],
# dt [b, T, h] (after softplus), A [h] (negative), B and C [b, T, g, N], state [b, h, p, N]
# or None (zeros). Each returns (y [b, T, h, p] float32 without the D skip, final state).


def _pad_time(t: torch.Tensor, pad: int) -> torch.Tensor:
    """Zero-pads dim 1 (time) by `pad` at the end."""
    if pad == 0:
        return t
    spec = [0] * (2 * (t.dim() - 1))
    spec[-1] = pad
    return F.pad(t, spec, mode="constant", value=0.0)


def _per_head(t: torch.Tensor, heads: int) -> torch.Tensor:
    """[b, g, N] -> [b, h, N]: each group's row repeated for its h/g heads."""
    b, g, n = t.size(0), t.size(1), t.size(2)
    return t.unsqueeze(2).expand(b, g, heads // g, n).reshape(b, heads, n)


_BLOCK_BYTES = 16 << 20


def ssd_chunked(
    x: torch.Tensor,
    dt: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    chunk_size: int,
    initial_state: Optional[torch.Tensor],
    block_bytes: int = _BLOCK_BYTES,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """The chunked algorithm of the Mamba2 paper: within a chunk of `chunk_size` tokens the quadratic
    (attention-like) form, across chunks the recurrence over chunk states. Any T >= 1.

    Whole chunks go through _ssd_block a few at a time (`block_bytes` of [b, h, l, l] decay per block), the
    state carried from block to block, so that time per token and memory stay flat as prompts grow."""
    T = x.size(1)
    l = min(int(chunk_size), T)
    span = l * max(1, block_bytes // (x.size(0) * x.size(2) * l * l * 4))
    if T <= span:
        return _ssd_block(x, dt, A, B, C, chunk_size, initial_state)
    ys: List[torch.Tensor] = []
    state = initial_state
    for start in range(0, T, span):
        n = min(span, T - start)
        y, state = _ssd_block(x.narrow(1, start, n), dt.narrow(1, start, n), A, B.narrow(1, start, n),
                              C.narrow(1, start, n), chunk_size, state)
        ys.append(y)
    return torch.cat(ys, 1), state


def _ssd_block(x: torch.Tensor, dt: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor, chunk_size: int,
               initial_state: Optional[torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
    """ssd_chunked over all of x's chunks at once."""
    b, T, h, p = x.size(0), x.size(1), x.size(2), x.size(3)
    g, n = B.size(2), B.size(3)
    hg = h // g
    l = min(int(chunk_size), T)
    c = (T + l - 1) // l
    pad = c * l - T
    f32 = torch.float32
    # Padding tokens get dt = 0: they neither decay the state nor feed it.
    dt_p = _pad_time(dt.to(f32), pad)  # [b, cl, h]
    # Layouts with the group and its heads ahead of the chunk's time axis:
    # X [b, c, g, hg, l, p], a = A dt and its in-chunk cumsum [b, c, g, hg, l], B/C [b, c, g, l, N].
    X = (_pad_time(x.to(f32), pad) * dt_p.unsqueeze(-1)).reshape(b, c, l, g, hg, p).permute(0, 1, 3, 4, 2, 5)
    a_cum = (dt_p * A.to(f32)).reshape(b, c, l, g, hg).permute(0, 1, 3, 4, 2).cumsum(-1)
    Bc = _pad_time(B.to(f32), pad).reshape(b, c, l, g, n).permute(0, 1, 3, 2, 4)
    Cc = _pad_time(C.to(f32), pad).reshape(b, c, l, g, n).permute(0, 1, 3, 2, 4)
    # 1. Within chunks: y_t = sum_{s<=t} exp(a_cum_t - a_cum_s) (C_t . B_s) X_s.
    #    C B^T once per group [b, c, g, l, l], broadcast to the group's heads.
    CB = torch.matmul(Cc, Bc.transpose(-1, -2)).unsqueeze(3)
    future = torch.ones((l, l), dtype=torch.bool, device=x.device).triu(1)
    # Mask before exp: exp of the (positive) future entries could overflow.
    decay = (a_cum.unsqueeze(-1) - a_cum.unsqueeze(-2)).masked_fill_(future, -math.inf).exp_()  # [b,c,g,hg,l,l]
    y = torch.matmul(CB * decay, X)  # [b, c, g, hg, l, p]
    # 2. Each chunk's contribution to the state at its end: sum_s exp(a_cum_end - a_cum_s) X_s (x) B_s.
    to_end = (a_cum.narrow(-1, l - 1, 1) - a_cum).exp().unsqueeze(-1)
    chunk_states = torch.matmul((X * to_end).transpose(-1, -2), Bc.unsqueeze(3))  # [b, c, g, hg, p, N]
    # 3. Across chunks: the state entering each chunk.
    chunk_decay = a_cum.select(-1, l - 1).exp().unsqueeze(-1).unsqueeze(-1)  # [b, c, g, hg, 1, 1]
    if initial_state is not None:
        state = initial_state.to(f32).reshape(b, g, hg, p, n)
    else:
        state = torch.zeros((b, g, hg, p, n), dtype=f32, device=x.device)
    entering: List[torch.Tensor] = []
    for k in range(c):
        entering.append(state)
        state = chunk_decay.select(1, k) * state + chunk_states.select(1, k)
    # 4. The entering state read out at each position: exp(a_cum_t) C_t . state.
    S = torch.stack(entering, 1)  # [b, c, g, hg, p, N]
    y = y + torch.matmul(Cc.unsqueeze(3), S.transpose(-1, -2)) * a_cum.exp().unsqueeze(-1)
    y = y.permute(0, 1, 4, 2, 3, 5).reshape(b, c * l, h, p).narrow(1, 0, T)
    return y, state.reshape(b, h, p, n)


def ssd_step(
    x: torch.Tensor,
    dt: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    state: Optional[torch.Tensor],
) -> Tuple[torch.Tensor, torch.Tensor]:
    """One token of the recurrence, for decoding: x [b, h, p], dt [b, h], B and C [b, g, N].
    Without grad mode a float32 `state` is updated in place and returned as the new state."""
    h = x.size(1)
    f32 = torch.float32
    dtf = dt.to(f32)
    decay = (dtf * A.to(f32)).exp().unsqueeze(-1).unsqueeze(-1)  # [b, h, 1, 1]
    inp = (x.to(f32) * dtf.unsqueeze(-1)).unsqueeze(-1)  # [b, h, p, 1]
    B_row = _per_head(B.to(f32), h).unsqueeze(2)  # [b, h, 1, N]
    if state is None:
        nxt = inp * B_row  # [b, h, p, N]
    elif not torch.is_grad_enabled() and (torch.is_inference_mode_enabled() or not state.is_inference()):
        nxt = state.to(f32).mul_(decay).addcmul_(inp, B_row)  # as ssd.cpp: decoding updates the state in place
    else:
        nxt = torch.addcmul(decay * state.to(f32), inp, B_row)
    y = torch.einsum("bhpn,bhn->bhp", nxt, _per_head(C.to(f32), h))  # as ssd.cpp, not matmul by a column
    return y, nxt


# --- selective_scan.cpp ----------------------------------------------------------------------


def selective_scan(
    x: torch.Tensor,
    dt: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    initial_state: Optional[torch.Tensor],
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Mamba1's scan per channel c and state index n, in float32, sequential over time:
        state_t = exp(dt_t A) state_{t-1} + dt_t x_t B_t,   y_t = state_t . C_t.
    x and dt [b, T, di] (dt after softplus), A [di, N] (negative), B and C [b, T, N], state [b, di, N]
    or None (zeros). Returns (y [b, T, di] float32 without the D skip, final state)."""
    b, T, di, n = x.size(0), x.size(1), x.size(2), A.size(1)
    f32 = torch.float32
    Af = A.to(f32)
    dtf = dt.to(f32)
    dx = dtf * x.to(f32)  # [b, T, di]
    Bf = B.to(f32)
    Cf = C.to(f32).unsqueeze(-1)  # [b, T, N, 1]
    if initial_state is not None:
        state = initial_state.to(f32)
    else:
        state = torch.zeros((b, di, n), dtype=f32, device=x.device)
    ys: List[torch.Tensor] = []
    for t in range(T):
        decay = (dtf.select(1, t).unsqueeze(-1) * Af).exp()  # [b, di, N]
        state = decay * state + dx.select(1, t).unsqueeze(-1) * Bf.select(1, t).unsqueeze(1)
        ys.append(torch.matmul(state, Cf.select(1, t)).squeeze(-1))  # [b, di]
    return torch.stack(ys, 1), state


# --- mamba_cache.hpp -------------------------------------------------------------------------


class MambaCache:
    """One layer's decoding state (either variant): `conv_state` [B, K-1, conv channels], the last K-1 conv
    inputs (pre-activation, model dtype), and `ssm_state` (float32; mamba2 [B, h, p, N], mamba1 [B, di, N]);
    None before the first token."""

    def __init__(self) -> None:
        self.conv_state: Optional[torch.Tensor] = None
        self.ssm_state: Optional[torch.Tensor] = None

    def _map(self, fn) -> None:
        if self.conv_state is not None:
            self.conv_state = fn(self.conv_state)
        if self.ssm_state is not None:
            self.ssm_state = fn(self.ssm_state)

    # Batch edits for generate()'s beam search and batch expansion (EulerStackCache calls them per layer).
    def reorder_cache(self, beam_idx: torch.Tensor) -> None:
        self._map(lambda t: t.index_select(0, beam_idx.to(t.device)))

    def batch_repeat_interleave(self, repeats: int) -> None:
        self._map(lambda t: t.repeat_interleave(repeats, dim=0))

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        self._map(lambda t: t[indices])

    def reset(self) -> None:
        self.conv_state = None
        self.ssm_state = None


# --- mamba2.cpp ------------------------------------------------------------------------------


def _depth(ctx) -> float:
    return float(ctx.n_layers if ctx.n_layers > 0 else 1)


class _MambaMixer(nn.Module):
    """What both variants share: re-initialising by their rules, and an empty cache."""

    def _init_own(self) -> None:
        raise NotImplementedError

    def reset_parameters(self) -> None:
        # Every rule of the block (children too; loaded tensors are skipped), so the block's rules win.
        for module in self.children():
            module.reset_parameters()
        self._init_own()

    def new_cache(self) -> MambaCache:
        return MambaCache()


class Mamba2(_MambaMixer):
    """mamba2: multi-head SSD with a scalar decay per head and grouped B/C."""

    def __init__(self, ctx) -> None:
        super().__init__()
        d = int(ctx.model["d_model"])
        params = ctx.params
        self.d_model = d
        self.inner = int(params["expand"]) * d
        self.head_dim = int(params["head_dim"])
        if self.inner % self.head_dim != 0:
            raise ValueError("mamba2: expand*d_model = %d is not divisible by head_dim %d"
                             % (self.inner, self.head_dim))
        self.heads = self.inner // self.head_dim
        self.groups = int(params["n_groups"])
        if self.heads % self.groups != 0:
            raise ValueError("mamba2: the %d SSM heads cannot be split into %d groups" % (self.heads, self.groups))
        self.state_size = int(params["d_state"])
        self.chunk_size = int(params["chunk_size"])
        conv_dim = self.inner + 2 * self.groups * self.state_size
        std = float(ctx.init_std)
        self.in_proj = Linear(d, self.inner + conv_dim + self.heads, False, std)
        self.conv1d = CausalConv1d(conv_dim, int(params["d_conv"]))
        self.dt_bias = nn.Parameter(torch.empty(self.heads))
        self.A_log = nn.Parameter(torch.empty(self.heads))
        self.D = nn.Parameter(torch.empty(self.heads))
        self.norm = GatedRMSNorm(self.inner, self.inner // self.groups, _NORM_EPS)
        self.out_proj = Linear(self.inner, d, False, std / math.sqrt(2.0 * _depth(ctx)))
        self._init_own()

    def _init_own(self) -> None:
        _inverse_softplus_dt(self.dt_bias)
        if not loaded(self.A_log):
            _assign(self.A_log, _fresh(self.A_log).uniform_(_A_LOW, _A_HIGH).log_())
        torch.nn.init.ones_(self.D)

    def forward(
        self,
        x: torch.Tensor,
        positions: torch.Tensor = None,  # unused: mamba has no positions
        positional=None,  # unused
        cache: Optional[MambaCache] = None,
        padding_mask: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        b, T = x.size(0), x.size(1)
        gn = self.groups * self.state_size
        z, xBC, dt_raw = self.in_proj(x).split([self.inner, self.inner + 2 * gn, self.heads], -1)
        conv, conv_history = self.conv1d(xBC, cache.conv_state if cache is not None else None, padding_mask)
        xs, B, C = F.silu(conv).split([self.inner, gn, gn], -1)
        xs = xs.reshape(b, T, self.heads, self.head_dim)
        B = B.reshape(b, T, self.groups, self.state_size)
        C = C.reshape(b, T, self.groups, self.state_size)
        dt = F.softplus(dt_raw.to(torch.float32) + self.dt_bias.to(torch.float32))  # [b, T, h]
        if padding_mask is not None:  # dt = 0: the state neither decays nor takes input at a padding token
            dt = dt * padding_mask.to(device=dt.device, dtype=dt.dtype).unsqueeze(-1)
        A = -torch.exp(self.A_log.to(torch.float32))
        initial = cache.ssm_state if cache is not None else None
        if T == 1:
            y, state = ssd_step(xs.squeeze(1), dt.squeeze(1), A, B.squeeze(1), C.squeeze(1), initial)
            y = y.unsqueeze(1)
        else:
            y, state = ssd_chunked(xs, dt, A, B, C, self.chunk_size, initial)
        y = y + self.D.to(torch.float32).unsqueeze(-1) * xs.to(torch.float32)  # [b, T, h, p]
        if cache is not None:
            cache.conv_state = conv_history
            cache.ssm_state = state
        return self.out_proj(self.norm(y.reshape(b, T, self.inner), z))

    def extra_repr(self) -> str:
        return "variant=mamba2, inner=%d, heads=%d, head_dim=%d, groups=%d, d_state=%d, chunk_size=%d" % (
            self.inner, self.heads, self.head_dim, self.groups, self.state_size, self.chunk_size)


# --- mamba1.cpp ------------------------------------------------------------------------------


class Mamba1(_MambaMixer):
    """mamba1: per-channel selective scan."""

    def __init__(self, ctx) -> None:
        super().__init__()
        d = int(ctx.model["d_model"])
        params = ctx.params
        self.d_model = d
        self.inner = int(params["expand"]) * d
        self.state_size = int(params["d_state"])
        self.rank = (d + 15) // 16
        std = float(ctx.init_std)
        self.in_proj = Linear(d, 2 * self.inner, False, std)
        self.conv1d = CausalConv1d(self.inner, int(params["d_conv"]))
        self.x_proj = Linear(self.inner, self.rank + 2 * self.state_size, False, std)
        self.dt_proj = _DtProjection(self.rank, self.inner)
        self.A_log = nn.Parameter(torch.empty(self.inner, self.state_size))
        self.D = nn.Parameter(torch.empty(self.inner))
        self.out_proj = Linear(self.inner, d, False, std / math.sqrt(2.0 * _depth(ctx)))
        self._init_own()

    def _init_own(self) -> None:
        if not loaded(self.A_log):  # S4D-real: A_log[c, n] = log(n + 1)
            n = self.A_log.size(-1)
            _assign(self.A_log, torch.arange(1, n + 1, dtype=torch.float32, device=self.A_log.device).log()
                    .expand(self.A_log.shape))
        torch.nn.init.ones_(self.D)

    def forward(
        self,
        x: torch.Tensor,
        positions: torch.Tensor = None,  # unused: mamba has no positions
        positional=None,  # unused
        cache: Optional[MambaCache] = None,
        padding_mask: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        xin, z = self.in_proj(x).chunk(2, -1)
        conv, conv_history = self.conv1d(xin, cache.conv_state if cache is not None else None, padding_mask)
        xs = F.silu(conv)  # [b, T, di]
        dt_low, B, C = self.x_proj(xs).split([self.rank, self.state_size, self.state_size], -1)
        dt = F.softplus(self.dt_proj(dt_low).to(torch.float32))
        if padding_mask is not None:  # dt = 0: the state neither decays nor takes input at a padding token
            dt = dt * padding_mask.to(device=dt.device, dtype=dt.dtype).unsqueeze(-1)
        A = -torch.exp(self.A_log.to(torch.float32))
        y, state = selective_scan(xs, dt, A, B, C, cache.ssm_state if cache is not None else None)
        y = (y + self.D.to(torch.float32) * xs.to(torch.float32)) * F.silu(z.to(torch.float32))
        if cache is not None:
            cache.conv_state = conv_history
            cache.ssm_state = state
        return self.out_proj(y.to(x.dtype))

    def extra_repr(self) -> str:
        return "variant=mamba1, inner=%d, d_state=%d, dt_rank=%d" % (self.inner, self.state_size, self.rank)


# --- modules.cpp -----------------------------------------------------------------------------


def make_mamba(ctx) -> nn.Module:
    """The `mamba` mixer: Mamba1 when params.variant is "mamba1", else Mamba2."""
    return Mamba1(ctx) if str(ctx.params["variant"]) == "mamba1" else Mamba2(ctx)


def register(registrar) -> None:
    registrar.mixer("mamba", make_mamba)
