# A toy plugin twin for tests/python/test_hf_python.py, following the block
# contract of docs/EXPORT.md. It exercises every interface: positional blocks
# (one with a run-time buffer, one with a table), a KV-cache mixer, a recurrent
# mixer, an FFN, and a MoE with a referenced router and an auxiliary loss.
import math

import torch
import torch.nn.functional as F
from torch import nn


class NoPositions(nn.Module):
    def __init__(self, ctx):
        super().__init__()

    def embed(self, positions):
        return None

    def rotate(self, q, k, positions):
        return q, k

    def attention_bias(self, heads, q_positions, k_positions):
        return None


class ToyRope(NoPositions):
    """RoPE with its frequencies in a non-persistent buffer (lost on the meta device, recomputed by the core)."""

    def __init__(self, ctx):
        super().__init__(ctx)
        head_dim = ctx.model["d_model"] // ctx.model["n_heads"]
        theta = float(ctx.params.get("rope_theta", 10000.0))
        inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def rotate(self, q, k, positions):
        angles = positions.float()[..., None] * self.inv_freq  # [T, hd/2] or [B, T, hd/2]
        if angles.dim() == 3:
            angles = angles.unsqueeze(1)  # every head
        cos = torch.cat([angles.cos(), angles.cos()], -1)
        sin = torch.cat([angles.sin(), angles.sin()], -1)

        def rot(x):
            half = x.shape[-1] // 2
            turned = torch.cat([-x[..., half:], x[..., :half]], -1)
            return (x.float() * cos + turned.float() * sin).to(x.dtype)

        return rot(q), rot(k)


class LearnedPositions(NoPositions):
    def __init__(self, ctx):
        super().__init__(ctx)
        self.weight = nn.Parameter(torch.empty(ctx.model["max_seq_len"], ctx.model["d_model"]))
        nn.init.normal_(self.weight, std=ctx.init_std)

    def embed(self, positions):
        return self.weight[positions]


class KVCache:
    def __init__(self):
        self.keys = None
        self.values = None
        self.positions = None

    def reorder_cache(self, beam_idx):
        if self.keys is not None:
            self.keys = self.keys.index_select(0, beam_idx.to(self.keys.device))
            self.values = self.values.index_select(0, beam_idx.to(self.values.device))


class ToyAttention(nn.Module):
    def __init__(self, ctx):
        super().__init__()
        d = ctx.model["d_model"]
        self.heads = ctx.model["n_heads"]
        self.kv_heads = ctx.model["n_kv_heads"]
        self.head_dim = d // self.heads
        bias = bool(ctx.params.get("qkv_bias", False))
        self.q_proj = nn.Linear(d, d, bias=bias)
        self.k_proj = nn.Linear(d, self.kv_heads * self.head_dim, bias=bias)
        self.v_proj = nn.Linear(d, self.kv_heads * self.head_dim, bias=bias)
        self.o_proj = nn.Linear(d, d, bias=False)
        self.o_std = ctx.init_std / math.sqrt(2 * ctx.n_layers)

    def reset_parameters(self):
        for proj in (self.q_proj, self.k_proj, self.v_proj):
            nn.init.normal_(proj.weight, std=0.02)
            if proj.bias is not None:
                nn.init.zeros_(proj.bias)
        nn.init.normal_(self.o_proj.weight, std=self.o_std)

    def new_cache(self):
        return KVCache()

    def forward(self, x, positions, positional, cache=None, padding_mask=None):
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        q, k = positional.rotate(q, k, positions)
        k_positions = positions
        if cache is not None:
            if cache.keys is not None:
                k = torch.cat([cache.keys, k], 2)
                v = torch.cat([cache.values, v], 2)
                k_positions = torch.cat([cache.positions.expand(*positions.shape[:-1], -1), positions], -1)
            cache.keys, cache.values, cache.positions = k, v, k_positions
        repeat = self.heads // self.kv_heads
        k = k.repeat_interleave(repeat, 1)
        v = v.repeat_interleave(repeat, 1)
        scores = (q.float() @ k.float().transpose(-1, -2)) / math.sqrt(self.head_dim)
        bias = positional.attention_bias(self.heads, positions, k_positions)
        if bias is not None:
            scores = scores + bias
        hidden = k_positions[..., None, :] > positions[..., :, None]  # [Tq, Tk] or [B, Tq, Tk]
        scores = scores.masked_fill(hidden.unsqueeze(-3) if hidden.dim() == 3 else hidden, float("-inf"))
        out = (scores.softmax(-1) @ v.float()).to(x.dtype)
        return self.o_proj(out.transpose(1, 2).reshape(b, t, -1))


class EmaState:
    def __init__(self):
        self.h = None

    def reorder_cache(self, beam_idx):
        if self.h is not None:
            self.h = self.h.index_select(0, beam_idx.to(self.h.device))


class ToyEma(nn.Module):
    """A recurrent mixer: h_t = a * h_{t-1} + (1 - a) * W x_t, per channel; its state is h."""

    def __init__(self, ctx):
        super().__init__()
        d = ctx.model["d_model"]
        self.in_proj = nn.Linear(d, d, bias=False)
        self.out_proj = nn.Linear(d, d, bias=False)
        self.decay = nn.Parameter(torch.empty(d))
        self.reset_parameters()

    def reset_parameters(self):
        nn.init.normal_(self.in_proj.weight, std=0.02)
        nn.init.normal_(self.out_proj.weight, std=0.02)
        with torch.no_grad():
            self.decay.copy_(torch.linspace(-2.0, 2.0, self.decay.shape[0]))

    def new_cache(self):
        return EmaState()

    def forward(self, x, positions, positional, cache=None, padding_mask=None):
        u = self.in_proj(x).float()
        a = torch.sigmoid(self.decay.float())
        h = cache.h if cache is not None and cache.h is not None else torch.zeros_like(u[:, 0])
        outs = []
        for i in range(u.shape[1]):
            h = a * h + (1 - a) * u[:, i]
            outs.append(h)
        if cache is not None:
            cache.h = h
        return self.out_proj(torch.stack(outs, 1).to(x.dtype))


class ToyMlp(nn.Module):
    def __init__(self, ctx):
        super().__init__()
        d = ctx.model["d_model"]
        hidden = ctx.model["mlp_ratio"] * d
        bias = bool(ctx.params.get("bias", False))
        self.up_proj = nn.Linear(d, hidden, bias=bias)
        self.down_proj = nn.Linear(hidden, d, bias=bias)

    def forward(self, x, token_ids, padding_mask=None):
        return self.down_proj(F.gelu(self.up_proj(x))), None


class ToyRouter(nn.Module):
    def __init__(self, ctx):
        super().__init__()
        # `experts` is the MoE's parameter, merged into the router's own.
        self.weight = nn.Parameter(torch.empty(ctx.params["experts"], ctx.model["d_model"]))
        nn.init.normal_(self.weight, std=ctx.init_std)
        self.temperature = float(ctx.params["temperature"])

    def route(self, x, top_k, token_ids):
        logits = F.linear(x, self.weight).float() / self.temperature
        probs = logits.softmax(-1)
        weights, experts = probs.topk(top_k, -1)
        return (weights / weights.sum(-1, keepdim=True)).to(x.dtype), experts, probs, logits


class ToyMoe(nn.Module):
    def __init__(self, ctx):
        super().__init__()
        self.top_k = ctx.params["top_k"]
        self.router = ctx.builder.make_router(ctx.refs["router"], ctx)
        self.experts = nn.ModuleList(ToyMlp(ctx) for _ in range(ctx.params["experts"]))

    def forward(self, x, token_ids, padding_mask=None):
        b, t, d = x.shape
        flat = x.reshape(-1, d)
        ids = token_ids.reshape(-1) if token_ids is not None else None
        weights, experts, probs, logits = self.router.route(flat, self.top_k, ids)
        out = torch.zeros_like(flat)
        for e, expert in enumerate(self.experts):
            hit = experts == e
            rows = hit.any(-1)
            if rows.any():
                w = (weights * hit).sum(-1, keepdim=True)[rows]
                out[rows] += w * expert(flat[rows], None)[0]
        aux = probs.mean(0).pow(2).sum() * probs.shape[-1]
        return out.view(b, t, d), aux


def register(registrar):
    registrar.positional("none", NoPositions)
    registrar.positional("toy_rope", ToyRope)
    registrar.positional("toy_learned", LearnedPositions)
    registrar.mixer("toy_attention", ToyAttention)
    registrar.mixer("toy_ema", ToyEma)
    registrar.ffn("toy_mlp", ToyMlp)
    registrar.ffn("toy_moe", ToyMoe)
    registrar.router("toy_softmax", ToyRouter)
