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
appended and attention runs over all of them. A key is visible iff k_pos <= q_pos and,
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

dropout attn_drop on the probabilities only while training. Then o_proj on the heads
concatenated. After the call, a windowed cache (not nsa) keeps only the newest w - 1
keys (copies), all that a later query can see.

Init (each projection's `reset_parameters`, through torch.nn.init so that transformers'
loading guard skips weights read from the checkpoint): weights normal(init_std), o_proj
normal(init_std / sqrt(2 * max(n_layers, 1))), biases zero.

A twin imports only torch and the standard library (transformers' remote code).
"""

import math
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn


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
        """[Tq, Tk] bool, True where query q may see key k."""
        distance = q_positions.unsqueeze(1) - k_positions.unsqueeze(0)
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
    """One layer's decoding state: rotated keys and values [B, KV, T, hd] and their absolute positions [T],
    oldest first (None before the first token). MLA caches its up-projected keys and values."""

    def __init__(self) -> None:
        self.keys: Optional[torch.Tensor] = None
        self.values: Optional[torch.Tensor] = None
        self.positions: Optional[torch.Tensor] = None

    def length(self) -> int:
        return 0 if self.positions is None else int(self.positions.size(0))

    def append(self, keys: torch.Tensor, values: torch.Tensor, positions: torch.Tensor) -> None:
        """Appends this call's keys, values and positions."""
        if self.positions is None:
            self.keys, self.values, self.positions = keys, values, positions
            return
        if keys.size(0) != self.keys.size(0):
            raise RuntimeError("attention cache: batch size changed from %d to %d while decoding"
                               % (self.keys.size(0), keys.size(0)))
        self.keys = torch.cat((self.keys, keys), 2)
        self.values = torch.cat((self.values, values), 2)
        self.positions = torch.cat((self.positions, positions), 0)

    def keep_last(self, count: int) -> None:
        """Drops all but the newest `count` keys (copies, so the dropped keys' memory is released)."""
        length = self.length()
        if length <= count:
            return
        start = length - max(count, 0)
        self.keys = self.keys.narrow(2, start, length - start).clone(memory_format=torch.contiguous_format)
        self.values = self.values.narrow(2, start, length - start).clone(memory_format=torch.contiguous_format)
        self.positions = self.positions.narrow(0, start, length - start).clone()

    # Batch reordering for transformers' generation (beam search, batch expansion); no C++ counterpart.
    def _map_batch(self, fn) -> None:
        if self.positions is not None:
            self.keys, self.values = fn(self.keys), fn(self.values)

    def reorder_cache(self, beam_idx: torch.Tensor) -> None:
        self._map_batch(lambda t: t.index_select(0, beam_idx.to(t.device)))

    def batch_repeat_interleave(self, repeats: int) -> None:
        self._map_batch(lambda t: t.repeat_interleave(repeats, 0))

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        self._map_batch(lambda t: t[indices.to(t.device) if isinstance(indices, torch.Tensor) else indices])

    def reset(self) -> None:
        self.keys = self.values = self.positions = None

    def __repr__(self) -> str:
        return "AttentionCache(length=%d)" % self.length()


# --- attention_module.cpp -------------------------------------------------------------------


class Attention(nn.Module):
    """attention: causal softmax attention, MHA/GQA/MQA, windowed masks, MLA."""

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

        self.q_proj = _Linear(d, q_width, bias, std)
        self.latent_dim: Optional[int] = None
        if _is_set(params, "latent_dim"):
            latent = int(params["latent_dim"])
            self.latent_dim = latent
            self.kv_down_proj = _Linear(d, latent, False, std)
            self.k_up_proj = _Linear(latent, kv_width, bias, std)
            self.v_up_proj = _Linear(latent, kv_width, bias, std)
        else:
            self.k_proj = _Linear(d, kv_width, bias, std)
            self.v_proj = _Linear(d, kv_width, bias, std)
        depth = float(max(int(ctx.n_layers), 1))
        self.o_proj = _Linear(q_width, d, False, std / math.sqrt(2.0 * depth))

    def new_cache(self) -> AttentionCache:
        return AttentionCache()

    def forward(
        self,
        x: torch.Tensor,
        positions: torch.Tensor,
        positional,
        cache: Optional[AttentionCache] = None,
    ) -> torch.Tensor:
        if positional is None:
            raise ValueError("attention: the positional module must be given (the model's, never None)")
        B, T = x.size(0), x.size(1)
        hd = self.head_dim

        def split_heads(t: torch.Tensor, heads: int) -> torch.Tensor:  # [B, T, h*hd] -> [B, h, T, hd]
            return t.view(B, T, heads, hd).transpose(1, 2)

        if self.latent_dim is not None:
            kv_source = self.kv_down_proj(x)
            k_proj, v_proj = self.k_up_proj, self.v_up_proj
        else:
            kv_source = x
            k_proj, v_proj = self.k_proj, self.v_proj
        q = split_heads(self.q_proj(x), self.n_heads)
        k = split_heads(k_proj(kv_source), self.n_kv_heads)
        v = split_heads(v_proj(kv_source), self.n_kv_heads)

        q_positions = positions.to(device=x.device, dtype=torch.long)
        q, k = positional.rotate(q, k, q_positions)

        k_positions = q_positions
        keys_are_queries = True
        if cache is not None:
            if not isinstance(cache, AttentionCache):
                raise TypeError("attention: the layer cache was not made by this attention layer's new_cache()")
            keys_are_queries = cache.length() == 0
            cache.append(k, v, q_positions)
            k, v, k_positions = cache.keys, cache.values, cache.positions

        bias = positional.attention_bias(self.n_heads, q_positions, k_positions)
        # SDPA's own causal mask is exact only when queries and keys are the same tokens.
        plain_causal = keys_are_queries and self.pattern.causal_is_exact(T) and bias is None
        # One new token of global attention sees every cached key (positions only grow).
        sees_all = cache is not None and q_positions.size(0) == 1 and self.pattern.is_global() and bias is None
        mask: Optional[torch.Tensor] = None
        if not plain_causal and not sees_all:
            visible = self.pattern.visible(q_positions, k_positions)
            if bias is not None:
                mask = (bias.to(torch.float32)
                        .masked_fill(visible.logical_not(), float("-inf"))
                        .to(q.dtype)
                        .unsqueeze(0))
            else:
                mask = visible
        if self.n_kv_heads != self.n_heads:
            repeats = self.n_heads // self.n_kv_heads
            k = k.repeat_interleave(repeats, 1)
            v = v.repeat_interleave(repeats, 1)
        dropout = self.attn_drop if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout, is_causal=plain_causal)

        if cache is not None:
            keep = self.pattern.cache_keep()
            if keep is not None:
                cache.keep_last(keep)
        return self.o_proj(out.transpose(1, 2).reshape(B, T, self.n_heads * hd))

    def extra_repr(self) -> str:
        return "heads=%d, kv_heads=%d, head_dim=%d, latent_dim=%s, window=%s, mode=%s, stride=%d, attn_drop=%g" % (
            self.n_heads, self.n_kv_heads, self.head_dim, self.latent_dim, self.pattern.window, self.pattern.mode,
            self.pattern.stride, self.attn_drop)


def register(registry) -> None:
    registry.mixer("attention", Attention)
