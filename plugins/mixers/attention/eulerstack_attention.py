"""The Python twin of the attention plugin: the `attention` mixer.

Mirrors plugins/mixers/attention/{attention_module,attention_mask,attention_cache}.cpp
(semantics in the header of attention_plugin.cpp). Parameters under `mixer.`, with
H = model.n_heads, KV = model.n_kv_heads, hd = d_model // H:

    q_proj [H*hd, d]   k_proj, v_proj [KV*hd, d]   o_proj [d, H*hd]
    MLA (latent_dim L) instead of k_proj/v_proj: kv_down_proj [L, d], k_up_proj, v_up_proj [KV*hd, L]

q/k/v (or q/k_up/v_up) carry biases when qkv_bias; o_proj and kv_down_proj never do.
Projections are nn.Linear subclasses, so PEFT finds q_proj/k_proj/v_proj/o_proj.

Forward: q = q_proj(x), k/v from x (MLA: from kv_down_proj(x)), split into heads; the
model's positional module rotates q and k at the absolute positions; with a cache the
rotated keys, the values (KV heads, before any repetition) and their positions are
appended and attention runs over all of them. With padding (docs/PADDING.md) the cache also
keeps which keys are padding, positions are per row, a padding key is never visible and a
padding query sees every key. A key is visible iff k_pos <= q_pos and,
with a window w, q_pos - k_pos < w (dilated: and the distance is a multiple of the
stride; nsa: within the window, or beyond it a multiple of the stride; the stride is
window_dilation, default 1 for dilated and 4 for nsa). The positional module's
attention_bias (ALiBi) is added to the scores. GQA/MQA repeat each K/V head for
H / KV consecutive query heads (repeat_interleave). Attention is
torch.nn.functional.scaled_dot_product_attention with the same masking as C++:

    empty or no cache, no bias and  -> is_causal=True, no mask (SDPA's own causal mask,
    every distance inside the window    which skips the masked blocks)
    cache, one token, global, no bias -> no mask (it sees every cached key)
    otherwise                        -> the bool mask [Tq, Tk], or with a bias the float
                                        mask bias.float().masked_fill(~visible, -inf)
                                        cast to q's dtype, [1, H, Tq, Tk]

dropout attn_drop on the probabilities only while training. `attn_implementation`
"eager" computes the same in float32 by hand, "flex_attention" through flex_attention with
the mask as a score_mod. Then o_proj on the heads concatenated. After the call, a windowed
cache (not nsa) keeps only the slots a later query can still see: the newest w - 1 keys
without padding (copies).

Attention sinks (attention_sinks {n_per_head: n, learnable}): each head's n sink logits
(the parameter sinks [H, n], or zeros when not learnable) join every query's softmax and
their columns are dropped, computed as "eager" under every attn_implementation (no fused
kernel takes them); a layer with sinks declares no tensor-parallel split.

Init (each projection's `reset_parameters`, through torch.nn.init so that transformers'
loading guard skips weights read from the checkpoint): weights normal(init_std), o_proj
normal(init_std / sqrt(2 * max(n_layers, 1))), biases and sinks zero.

A twin imports only torch, the standard library and the SDK module beside it
(transformers' remote code).
"""

import math
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .eulerstack_sdk import Linear


def _is_set(params: dict, key: str) -> bool:
    """BlockContext::is_set: present and not null."""
    return params.get(key) is not None


# --- attention_mask.cpp ---------------------------------------------------------------------


class KeyPattern:
    """Which keys a query may attend to, from absolute positions."""

    def __init__(self, params: dict) -> None:
        self.window: Optional[int] = int(params["window"]) if _is_set(params, "window") else None
        self.mode = str(params["window_mode"])  # standard | sliding | dilated | nsa
        if _is_set(params, "window_dilation"):
            self.stride = int(params["window_dilation"])
        elif self.mode == "nsa":
            self.stride = 4
        else:
            self.stride = 1

    def is_global(self) -> bool:
        """Causal with no window: every earlier key is visible."""
        return self.window is None

    def visible(self, q_positions: torch.Tensor, k_positions: torch.Tensor) -> torch.Tensor:
        """[Tq, Tk] bool ([B, Tq, Tk] for per-row positions), True where query q may see key k."""
        distance = q_positions.unsqueeze(-1) - k_positions.unsqueeze(-2)
        visible = distance.ge(0)
        if self.window is None:
            return visible
        inside = distance.lt(self.window)
        if self.mode == "nsa":
            return visible.logical_and(inside.logical_or(distance.remainder(self.stride).eq(0)))
        visible = visible.logical_and(inside)
        if self.mode == "dilated":
            visible = visible.logical_and(distance.remainder(self.stride).eq(0))
        return visible

    def causal_is_exact(self, span: int) -> bool:
        """Whether `span` consecutive tokens attending to one another see exactly what a plain causal mask
        shows them (so SDPA can skip the masked blocks)."""
        if self.window is None:
            return True
        if self.mode == "dilated" and self.stride > 1:
            return span <= 1
        return span <= self.window  # every distance is below the window

    def cache_keep(self) -> Optional[int]:
        """How many of the newest keys a later query can still see, or None when any key may be seen again.

        A query after the newest position p sees only keys with position > p + 1 - w: at most w - 1 of them."""
        if self.window is None or self.mode == "nsa":
            return None
        return self.window - 1

    def __repr__(self) -> str:
        return "KeyPattern(window=%s, mode=%s, stride=%d)" % (self.window, self.mode, self.stride)


# --- attention_cache.cpp --------------------------------------------------------------------


class AttentionCache:
    """One layer's decoding state: rotated keys and values [B, KV, T, hd], their absolute positions ([T], or [B, T]
    once rows differ) and which of them are real tokens (`key_mask` [B, T] bool, None while none was padding),
    oldest first (None before the first token). MLA caches its up-projected keys and values."""

    def __init__(self) -> None:
        self.keys: Optional[torch.Tensor] = None
        self.values: Optional[torch.Tensor] = None
        self.positions: Optional[torch.Tensor] = None
        self.key_mask: Optional[torch.Tensor] = None

    def length(self) -> int:
        return 0 if self.positions is None else int(self.positions.size(-1))

    def append(self, keys: torch.Tensor, values: torch.Tensor, positions: torch.Tensor,
               padding_mask: Optional[torch.Tensor] = None) -> None:
        """Appends this call's keys, values, positions and padding mask (None: all real)."""
        if self.positions is None:
            self.keys, self.values, self.positions, self.key_mask = keys, values, positions, padding_mask
            return
        batch = self.keys.size(0)
        if keys.size(0) != batch:
            raise RuntimeError("attention cache: batch size changed from %d to %d while decoding"
                               % (batch, keys.size(0)))
        self.keys = torch.cat((self.keys, keys), 2)
        self.values = torch.cat((self.values, values), 2)
        if self.positions.dim() != positions.dim():
            self.positions = self.positions.expand(batch, -1) if self.positions.dim() == 1 else self.positions
            positions = positions.expand(batch, -1)
        self.positions = torch.cat((self.positions, positions), -1)
        if self.key_mask is not None or padding_mask is not None:
            old = self.key_mask if self.key_mask is not None else keys.new_ones(
                (batch, self.keys.size(2) - keys.size(2)), dtype=torch.bool)
            new = padding_mask if padding_mask is not None else keys.new_ones((batch, keys.size(2)), dtype=torch.bool)
            self.key_mask = torch.cat((old, new), 1)

    def first_needed(self, window: int) -> int:
        """The oldest slot a later query can still see with a window of `window`: in each row, a later query sits
        after its newest real position p, so it sees only real keys with position >= p + 2 - window."""
        length = self.length()
        if self.key_mask is None and self.positions.dim() == 1:
            return max(length - (window - 1), 0)
        positions = self.positions.expand(self.keys.size(0), -1)
        real = self.key_mask if self.key_mask is not None else torch.ones_like(positions, dtype=torch.bool)
        newest = positions.masked_fill(~real, -1).max(1, keepdim=True).values
        needed = real & (positions >= newest + 2 - window)
        slots = torch.arange(length, device=positions.device).expand_as(positions)
        return int(slots.masked_fill(~needed, length).min())

    def keep_from(self, start: int) -> None:
        """Drops the slots before `start` (copies, so the dropped keys' memory is released)."""
        length = self.length()
        if start <= 0:
            return
        count = length - start
        self.keys = self.keys.narrow(2, start, count).clone(memory_format=torch.contiguous_format)
        self.values = self.values.narrow(2, start, count).clone(memory_format=torch.contiguous_format)
        self.positions = self.positions.narrow(-1, start, count).clone()
        if self.key_mask is not None:
            self.key_mask = self.key_mask.narrow(1, start, count).clone()

    # Batch reordering for transformers' generation (beam search, batch expansion); no C++ counterpart.
    def _map_batch(self, fn) -> None:
        if self.positions is not None:
            self.keys, self.values = fn(self.keys), fn(self.values)
            if self.positions.dim() == 2:
                self.positions = fn(self.positions)
            if self.key_mask is not None:
                self.key_mask = fn(self.key_mask)

    def reorder_cache(self, beam_idx: torch.Tensor) -> None:
        self._map_batch(lambda t: t.index_select(0, beam_idx.to(t.device)))

    def batch_repeat_interleave(self, repeats: int) -> None:
        self._map_batch(lambda t: t.repeat_interleave(repeats, 0))

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        self._map_batch(lambda t: t[indices.to(t.device) if isinstance(indices, torch.Tensor) else indices])

    def reset(self) -> None:
        self.keys = self.values = self.positions = self.key_mask = None

    def __repr__(self) -> str:
        return "AttentionCache(length=%d)" % self.length()


# --- attention_module.cpp -------------------------------------------------------------------


def _eager_attention(q, k, v, mask, causal: bool, dropout: float, training: bool,
                     sinks: Optional[torch.Tensor] = None) -> torch.Tensor:
    """The textbook computation (attn_implementation="eager"): scores in float32, softmax, dropout, values.
    With `sinks` [H, n], the sink logits join each query's softmax and their columns are dropped."""
    scores = torch.matmul(q.to(torch.float32), k.to(torch.float32).transpose(-1, -2)) / math.sqrt(q.size(-1))
    if causal:
        Tq, Tk = q.size(2), k.size(2)
        mask = torch.ones((Tq, Tk), dtype=torch.bool, device=q.device).tril(Tk - Tq)
    if mask is not None:
        scores = (scores.masked_fill(mask.logical_not(), float("-inf")) if mask.dtype == torch.bool
                  else scores + mask.to(torch.float32))
    if sinks is None:
        probs = torch.softmax(scores, -1)
    else:
        keys = scores.size(-1)
        sink = sinks.to(torch.float32).view(1, sinks.size(0), 1, -1).expand(scores.size(0), -1, scores.size(2), -1)
        probs = torch.softmax(torch.cat((scores, sink), -1), -1)[..., :keys]
    probs = F.dropout(probs, dropout, training)
    return torch.matmul(probs.to(v.dtype), v)


class Attention(nn.Module):
    """attention: causal softmax attention, MHA/GQA/MQA, windowed masks, MLA."""

    # Set by the model from config._attn_implementation: "sdpa" (default), "eager" or "flex_attention".
    attention_implementation = "sdpa"

    def __init__(self, ctx) -> None:
        super().__init__()
        params = ctx.params
        d = int(ctx.model["d_model"])
        heads = int(ctx.model["n_heads"])
        kv_heads = int(ctx.model["n_kv_heads"])
        if not (heads > 0 and kv_heads > 0 and heads % kv_heads == 0):
            raise ValueError("attention: n_heads %d must be a multiple of n_kv_heads %d" % (heads, kv_heads))
        self.pattern = KeyPattern(params)
        self.n_heads = heads
        self.n_kv_heads = kv_heads
        self.head_dim = d // heads
        self.attn_drop = float(params["attn_drop"])
        bias = bool(params["qkv_bias"])
        std = float(ctx.init_std)
        q_width, kv_width = heads * self.head_dim, kv_heads * self.head_dim

        self.q_proj = Linear(d, q_width, bias, std)
        self.latent_dim: Optional[int] = None
        if _is_set(params, "latent_dim"):
            latent = int(params["latent_dim"])
            self.latent_dim = latent
            self.kv_down_proj = Linear(d, latent, False, std)
            self.k_up_proj = Linear(latent, kv_width, bias, std)
            self.v_up_proj = Linear(latent, kv_width, bias, std)
        else:
            self.k_proj = Linear(d, kv_width, bias, std)
            self.v_proj = Linear(d, kv_width, bias, std)
        depth = float(max(int(ctx.n_layers), 1))
        self.o_proj = Linear(q_width, d, False, std / math.sqrt(2.0 * depth))
        sinks = params.get("attention_sinks")
        self.sink_count = int(sinks["n_per_head"]) if isinstance(sinks, dict) else 0
        self.learnable_sinks = self.sink_count > 0 and bool(sinks["learnable"])
        if self.learnable_sinks:
            self.sinks = nn.Parameter(torch.empty(heads, self.sink_count))
            self.reset_parameters()
        # transformers' tensor parallelism (tp_plan="auto"): heads split over the ranks, o_proj summing them. A
        # single key/value head (MQA) cannot be split: every rank keeps it whole for its share of the queries.
        # Sinks belong to every head: a layer with sinks stays whole.
        split = ["q_proj"]
        if kv_heads > 1:
            split += ["k_up_proj", "v_up_proj"] if self.latent_dim is not None else ["k_proj", "v_proj"]
        self.tensor_parallel_plan = ({} if self.sink_count else
                                     dict({name: "colwise" for name in split}, o_proj="rowwise"))

    def reset_parameters(self) -> None:
        """The sinks' init rule: zeros (through torch.nn.init: transformers skips tensors it loaded)."""
        if self.learnable_sinks:
            torch.nn.init.zeros_(self.sinks)

    def _sink_logits(self, like: torch.Tensor) -> Optional[torch.Tensor]:
        if not self.sink_count:
            return None
        if self.learnable_sinks:
            return self.sinks
        return torch.zeros((self.n_heads, self.sink_count), dtype=torch.float32, device=like.device)

    def new_cache(self) -> AttentionCache:
        return AttentionCache()

    def forward(
        self,
        x: torch.Tensor,
        positions: torch.Tensor,
        positional,
        cache: Optional[AttentionCache] = None,
        padding_mask: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        if positional is None:
            raise ValueError("attention: the positional module must be given (the model's, never None)")
        B, T = x.size(0), x.size(1)
        hd = self.head_dim

        def split_heads(t: torch.Tensor) -> torch.Tensor:  # [B, T, h*hd] -> [B, h, T, hd]
            return t.view(B, T, -1, hd).transpose(1, 2)  # h from the width: a tensor-parallel rank has a share

        if self.latent_dim is not None:
            kv_source = self.kv_down_proj(x)
            k_proj, v_proj = self.k_up_proj, self.v_up_proj
        else:
            kv_source = x
            k_proj, v_proj = self.k_proj, self.v_proj
        q = split_heads(self.q_proj(x))
        k = split_heads(k_proj(kv_source))
        v = split_heads(v_proj(kv_source))

        q_positions = positions.to(device=x.device, dtype=torch.long)
        q, k = positional.rotate(q, k, q_positions)

        k_positions, key_mask = q_positions, padding_mask
        keys_are_queries = True
        if cache is not None:
            if not isinstance(cache, AttentionCache):
                raise TypeError("attention: the layer cache was not made by this attention layer's new_cache()")
            keys_are_queries = cache.length() == 0
            cache.append(k, v, q_positions, padding_mask)
            k, v, k_positions, key_mask = cache.keys, cache.values, cache.positions, cache.key_mask

        bias = positional.attention_bias(self.n_heads, q_positions, k_positions)
        # SDPA's own causal mask is exact only when queries and keys are the same tokens, none of them padding.
        plain_causal = keys_are_queries and key_mask is None and self.pattern.causal_is_exact(T) and bias is None
        # One new token of global attention sees every cached key (positions only grow), unless some are padding.
        sees_all = (cache is not None and T == 1 and self.pattern.is_global() and bias is None and key_mask is None)
        visible: Optional[torch.Tensor] = None
        if not plain_causal and not sees_all:
            visible = self.pattern.visible(q_positions, k_positions)  # [Tq, Tk] or [B, Tq, Tk]
            if key_mask is not None:
                visible = visible.logical_and(key_mask.unsqueeze(1))
            if padding_mask is not None:
                # A padding query sees every key: its output is discarded, and softmax stays finite.
                visible = visible.logical_or(padding_mask.logical_not().unsqueeze(-1))
        out = self._attend(q, k, v, visible, bias, plain_causal)

        if cache is not None and self.pattern.cache_keep() is not None:
            cache.keep_from(cache.first_needed(self.pattern.window))
        return self.o_proj(out.transpose(1, 2).reshape(B, T, -1))

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, visible: Optional[torch.Tensor],
                bias: Optional[torch.Tensor], causal: bool) -> torch.Tensor:
        """softmax(q k^T / sqrt(hd) + bias, over the visible keys) v, by the model's attention implementation.
        q [B, H, Tq, hd], k and v [B, KV, Tk, hd]; visible [Tq, Tk] / [B, Tq, Tk] or None (causal or all)."""
        dropout = self.attn_drop if self.training else 0.0
        implementation = self.attention_implementation
        sinks = self._sink_logits(q)
        if sinks is not None:
            implementation = "eager"  # no fused kernel takes sinks: every implementation computes them so
        if implementation == "flex_attention":
            return self._flex(q, k, v, visible, bias, causal, dropout)
        if k.size(1) != q.size(1):
            repeats = q.size(1) // k.size(1)
            k = k.repeat_interleave(repeats, 1)
            v = v.repeat_interleave(repeats, 1)
        mask: Optional[torch.Tensor] = None
        if visible is not None:
            if visible.dim() == 3:
                visible = visible.unsqueeze(1)  # per row [B, 1, Tq, Tk]: one mask for every head
            if bias is not None:
                mask = bias.to(torch.float32).masked_fill(visible.logical_not(), float("-inf")).to(q.dtype)
                if mask.dim() == 3:
                    mask = mask.unsqueeze(0)
            else:
                mask = visible
        if implementation == "eager":
            return _eager_attention(q, k, v, mask, causal, dropout, self.training, sinks)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout, is_causal=causal)

    def _flex(self, q, k, v, visible, bias, causal, dropout):
        if dropout > 0.0:
            raise ValueError("attention: flex_attention has no attention dropout; use attn_implementation='sdpa' "
                             "or 'eager' while attn_drop > 0 is training")
        from torch.nn.attention.flex_attention import flex_attention

        Tq, Tk = q.size(2), k.size(2)
        if visible is None:
            visible = (torch.ones((Tq, Tk), dtype=torch.bool, device=q.device).tril(Tk - Tq) if causal
                       else torch.ones((Tq, Tk), dtype=torch.bool, device=q.device))
        rows = visible if visible.dim() == 3 else visible.unsqueeze(0)
        extra = bias.to(torch.float32) if bias is not None else None
        if extra is not None and extra.dim() == 3:
            extra = extra.unsqueeze(0)

        def score_mod(score, b, h, q_index, k_index):
            row = rows[b if rows.size(0) > 1 else 0]
            if extra is not None:
                score = score + extra[b if extra.size(0) > 1 else 0, h, q_index, k_index].to(score.dtype)
            return torch.where(row[q_index, k_index], score, -float("inf"))

        return flex_attention(q, k, v, score_mod=score_mod, enable_gqa=k.size(1) != q.size(1))

    def extra_repr(self) -> str:
        return ("heads=%d, kv_heads=%d, head_dim=%d, latent_dim=%s, window=%s, mode=%s, stride=%d, attn_drop=%g, "
                "sinks=%d%s" % (self.n_heads, self.n_kv_heads, self.head_dim, self.latent_dim, self.pattern.window,
                                self.pattern.mode, self.pattern.stride, self.attn_drop, self.sink_count,
                                " learnable" if self.learnable_sinks else ""))


def register(registrar) -> None:
    registrar.mixer("attention", Attention)
