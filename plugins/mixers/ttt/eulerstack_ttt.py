"""The Python twin of the ttt plugin: the `ttt_layer` mixer (semantics in ttt_plugin.cpp).

Mirrors plugins/mixers/ttt/ttt_modules.cpp: h = layer_norm(x), q = in_proj(h),
target = target_proj(h); for each token in order, inner_steps_per_token steps of the
inner optimizer on mean((f_W(q_t) - target_t)^2), with the gradients written out (no
autograd inside: the layer learns under no_grad and inference mode, and training
backpropagates through the updates); then y_t = out_proj(f_W(q_t)). Every row starts
from the learned initial weights `inner.*`; its fast weights (with adamw their
moments and step count) are the cache's. A padding token neither updates them nor
counts as a step. Inner computations in float32.

Parameters under `mixer.`: norm.weight, norm.bias [d]; in_proj, target_proj, out_proj
[d, d]; linear: inner.weight [d, d], inner.bias [d]; mlp: inner.fc1 [H, d] + bias,
inner.fc2 [d, H] + bias. Init: projections and inner weights normal(init_std),
out_proj normal(output_std), norm weight 1, biases 0.

A twin imports only torch, the standard library and the SDK module beside it
(transformers' remote code).
"""

import math
from typing import List, Optional

import torch
import torch.nn.functional as F
from torch import nn

from .eulerstack_sdk import Linear, output_std

_BETA1, _BETA2, _EPS, _DECAY, _NORM_EPS = 0.9, 0.999, 1e-8, 0.01, 1e-5


def _gelu_derivative(z: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1.0 + torch.erf(z / math.sqrt(2.0))) + z * torch.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def _per_row(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return values.view((like.size(0),) + (1,) * (like.dim() - 1))


class TttCache:
    """One layer's decoding state: each row's fast weights [B, ...] float32 (and adamw's moments, step count)."""

    def __init__(self) -> None:
        self.weights: List[torch.Tensor] = []
        self.first_moment: List[torch.Tensor] = []
        self.second_moment: List[torch.Tensor] = []
        self.steps: Optional[torch.Tensor] = None

    def _each(self, fn) -> None:
        self.weights = [fn(t) for t in self.weights]
        self.first_moment = [fn(t) for t in self.first_moment]
        self.second_moment = [fn(t) for t in self.second_moment]
        if self.steps is not None:
            self.steps = fn(self.steps)

    def reorder_cache(self, beam_idx: torch.Tensor) -> None:
        self._each(lambda t: t.index_select(0, beam_idx.to(t.device)))

    def batch_repeat_interleave(self, repeats: int) -> None:
        self._each(lambda t: t.repeat_interleave(repeats, dim=0))

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        self._each(lambda t: t[indices])


class LayerNormWeights(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(d))
        self.bias = nn.Parameter(torch.empty(d))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        torch.nn.init.ones_(self.weight)
        torch.nn.init.zeros_(self.bias)


class InnerLinear(nn.Module):
    """The linear inner model's initial weights: weight [d, d], bias [d]."""

    def __init__(self, d: int, std: float) -> None:
        super().__init__()
        self.init_std = float(std)
        self.weight = nn.Parameter(torch.empty(d, d))
        self.bias = nn.Parameter(torch.empty(d))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        torch.nn.init.normal_(self.weight, mean=0.0, std=self.init_std)
        torch.nn.init.zeros_(self.bias)

    def initial(self) -> List[torch.Tensor]:
        return [self.weight, self.bias]


class InnerMlp(nn.Module):
    """The MLP inner model's initial weights: fc1 [H, d] + bias, fc2 [d, H] + bias."""

    def __init__(self, d: int, hidden: int, std: float) -> None:
        super().__init__()
        self.fc1 = Linear(d, hidden, True, std)
        self.fc2 = Linear(hidden, d, True, std)

    def initial(self) -> List[torch.Tensor]:
        return [self.fc1.weight, self.fc1.bias, self.fc2.weight, self.fc2.bias]


def _predict(mlp: bool, w: List[torch.Tensor], u: torch.Tensor):
    """f_W(u) for every row, and the MLP's pre-activation (None for linear)."""
    if not mlp:
        return torch.einsum("bij,bj->bi", w[0], u) + w[1], None
    z = torch.einsum("bhj,bj->bh", w[0], u) + w[1]
    return torch.einsum("bdh,bh->bd", w[2], F.gelu(z)) + w[3], z


def _gradients(mlp: bool, w: List[torch.Tensor], u: torch.Tensor, target: torch.Tensor) -> List[torch.Tensor]:
    """d mean((f_W(u) - target)^2) / dW, written out."""
    prediction, z = _predict(mlp, w, u)
    dy = (prediction - target) * (2.0 / target.size(1))
    if not mlp:
        return [dy.unsqueeze(2) * u.unsqueeze(1), dy]
    dz = torch.einsum("bdh,bd->bh", w[2], dy) * _gelu_derivative(z)
    return [dz.unsqueeze(2) * u.unsqueeze(1), dz, dy.unsqueeze(2) * F.gelu(z).unsqueeze(1), dy]


class Ttt(nn.Module):
    """ttt_layer: out_proj of the inner model, trained on the sequence while it is read."""

    def __init__(self, ctx) -> None:
        super().__init__()
        d = int(ctx.model["d_model"])
        params = ctx.params
        self.d_model = d
        self.mlp = params["inner_model"]["type"] == "mlp"
        self.adamw = params["inner_optimizer"] == "adamw"
        self.inner_lr = float(params["inner_lr"])
        self.inner_steps = int(params["inner_steps_per_token"])
        std = float(ctx.init_std)
        self.norm = LayerNormWeights(d)
        self.in_proj = Linear(d, d, False, std)
        self.target_proj = Linear(d, d, False, std)
        self.out_proj = Linear(d, d, False, output_std(ctx))
        self.inner = InnerMlp(d, int(params["inner_model"]["hidden"]), std) if self.mlp else InnerLinear(d, std)
        self.tensor_parallel_plan = {}  # the inner model's weights are per row, whole

    def new_cache(self) -> TttCache:
        return TttCache()

    def _start(self, state: TttCache, rows: int, device) -> None:
        for w in self.inner.initial():
            w = w.to(torch.float32)
            state.weights.append(w.unsqueeze(0).expand((rows,) + tuple(w.shape)))
            if self.adamw:
                state.first_moment.append(torch.zeros((rows,) + tuple(w.shape), device=w.device))
                state.second_moment.append(torch.zeros((rows,) + tuple(w.shape), device=w.device))
        if self.adamw:
            state.steps = torch.zeros(rows, device=device)

    def _step(self, state: TttCache, u: torch.Tensor, goal: torch.Tensor, keep: torch.Tensor) -> None:
        grads = _gradients(self.mlp, state.weights, u, goal)
        n = torch.where(keep, state.steps + 1.0, state.steps) if self.adamw else None
        lr = self.inner_lr
        for i, g in enumerate(grads):
            w = state.weights[i]
            on = _per_row(keep, w)
            if self.adamw:
                m = _BETA1 * state.first_moment[i] + (1.0 - _BETA1) * g
                v = _BETA2 * state.second_moment[i] + (1.0 - _BETA2) * g * g
                count = _per_row(n, w)
                m_hat = m / (1.0 - torch.pow(_BETA1, count))
                v_hat = v / (1.0 - torch.pow(_BETA2, count))
                updated = w - lr * m_hat / (torch.sqrt(v_hat) + _EPS) - lr * _DECAY * w
                state.first_moment[i] = torch.where(on, m, state.first_moment[i])
                state.second_moment[i] = torch.where(on, v, state.second_moment[i])
            else:
                updated = w - lr * g
            state.weights[i] = torch.where(on, updated, w)
        if self.adamw:
            state.steps = n

    def forward(self, x: torch.Tensor, positions: torch.Tensor, positional=None, cache: Optional[TttCache] = None,
                padding_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        B, T = x.size(0), x.size(1)
        h = F.layer_norm(x.to(torch.float32), (self.d_model,), self.norm.weight.to(torch.float32),
                         self.norm.bias.to(torch.float32), _NORM_EPS)
        q = F.linear(h, self.in_proj.weight.to(torch.float32))
        target = F.linear(h, self.target_proj.weight.to(torch.float32))
        real = (padding_mask.to(device=x.device, dtype=torch.bool) if padding_mask is not None
                else torch.ones((B, T), dtype=torch.bool, device=x.device))
        state = cache if cache is not None else TttCache()
        if not state.weights:
            self._start(state, B, x.device)
        if state.weights[0].size(0) != B:
            raise ValueError("ttt_layer: the cache holds %d rows, this call %d" % (state.weights[0].size(0), B))
        outputs = []
        for t in range(T):
            u, goal, keep = q[:, t], target[:, t], real[:, t]
            for _ in range(self.inner_steps):
                self._step(state, u, goal, keep)
            outputs.append(_predict(self.mlp, state.weights, u)[0])
        return self.out_proj(torch.stack(outputs, 1).to(x.dtype))

    def extra_repr(self) -> str:
        return "inner=%s, optimizer=%s, inner_lr=%g, steps_per_token=%d" % (
            "mlp" if self.mlp else "linear", "adamw" if self.adamw else "sgd", self.inner_lr, self.inner_steps)


def register(registrar) -> None:
    registrar.mixer("ttt_layer", Ttt)
