"""The Python twin of the moe plugin: the `moe` FFN and the `softmax` / `sigmoid` routers.

Mirrors plugins/moe/{moe,router,hash_routing,expert,dispatch,balance_loss}.cpp
(semantics in the header of moe_plugin.cpp). Parameters under `ffn.`:

    router.weight [E, d]                                   (+ buffer router.expert_bias [E], float32)
    experts.<i>.{gate_proj, up_proj, down_proj}            ({up_proj, down_proj} with expert_type: mlp)
    shared_experts.<i>.{...}                               the same shapes

x is flattened to [N, d]. Router logits = x W^T in float32 (jitter on x while
training); scores by the router's scoring and the `affinity`; top_k of the scores
(plus expert_bias with bias_correction), weights from the unbiased scores,
renormalised with norm_topk_prob; hash routing by token id. Dispatch sorts the
assignments by expert (stably); in training with capacity_drop_policy drop/pad
each expert keeps its first ceil(capacity_factor * N * top_k / E) assignments.
Shared experts are added unweighted. The aux loss is a float32 scalar.

Padding (docs/PADDING.md): padding tokens are not routed (no expert, no capacity)
and are left out of every statistic: balance loss, z-loss, per-sequence loss, load.

`router.expert_bias` (float32, with bias_correction) is model state: a persistent
buffer, saved with the weights, zero at init. It changes only between optimizer steps,
never inside forward: a training forward (grad mode on, not the recompute of gradient
checkpointing) adds the experts' loads to a per-step count, and after each
`optimizer.step()` that steps the router's weight (a global torch.optim post-step hook,
so Trainer, TRL, accelerate and plain loops need nothing) the counts, summed over the
data-parallel ranks when torch.distributed is initialised, move the bias by DeepSeek-V3's
rule. A router whose weight is frozen (a LoRA base) never moves its bias.
`router.apply_load_update()` does the same by hand.

Every expert takes part in every backward pass (an expert without tokens runs on an
empty batch), so DDP needs no find_unused_parameters. Under torch.compile / torch.export
the dispatch runs every expert on every token with zero weights where not routed
(static shapes, the same result).

A twin imports only torch, the standard library and the SDK module beside it
(transformers' remote code).
"""

import itertools
import math
import weakref
from typing import Dict, List, Optional, Tuple

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.optim.optimizer import register_optimizer_step_post_hook

from .eulerstack_sdk import Linear, output_std


# --- experts ----------------------------------------------------------------------


def _gelu(x: torch.Tensor) -> torch.Tensor:
    return F.gelu(x, approximate="none")  # exact (erf) GELU, as at::gelu(x, "none")


_ACTIVATIONS = {"gelu": _gelu, "relu": F.relu, "swiglu": F.silu}


class Expert(nn.Module):
    """One expert: the ffn plugin's network (plugins/ffn/feed_forward.hpp, which the C++ experts include), as its
    mlp or gated_mlp (expert_type). A twin cannot import another plugin's twin (an export carries only the twins
    its model uses), so the few lines are restated here; test_twin_ffn_moe.py holds them equal."""

    def __init__(self, ctx) -> None:
        super().__init__()
        d = int(ctx.model["d_model"])
        f = int(ctx.model["mlp_ratio"]) * d
        bias = bool(ctx.params["bias"])
        self.activation = str(ctx.params["activation"])
        if self.activation not in _ACTIVATIONS:
            raise ValueError("unknown activation '%s'" % self.activation)
        self._act = _ACTIVATIONS[self.activation]
        self.gated = str(ctx.params["expert_type"]) == "gated_mlp"
        if self.gated:
            self.gate_proj = Linear(d, f, bias, ctx.init_std)
        self.up_proj = Linear(d, f, bias, ctx.init_std)
        self.down_proj = Linear(f, d, bias, output_std(ctx))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [n, d] -> [n, d]
        if self.gated:
            return self.down_proj(self._act(self.gate_proj(x)) * self.up_proj(x))
        return self.down_proj(self._act(self.up_proj(x)))


# --- routers ----------------------------------------------------------------------

_P = 2147483647  # 2^31 - 1
_A = 48271


def hash_experts(token_ids: torch.Tensor, salt: int, experts: int, top_k: int) -> torch.Tensor:
    """Hash routing (Roller et al., "Hash Layers"): token_ids [N] -> experts [N, k] int64.

    h0 = ((t mod P) * A + (s mod P)) mod P, h = (h0 * A) mod P, expert j = (h + j) mod E,
    mod the non-negative remainder. Every operand stays below 2^31 before a
    multiplication, so nothing overflows int64.
    """
    salt_mod = ((int(salt) % _P) + _P) % _P
    ids = token_ids.to(torch.long).reshape(-1)
    h = torch.remainder(torch.remainder(ids, _P) * _A + salt_mod, _P)
    h = torch.remainder(h * _A, _P)
    offsets = torch.arange(top_k, dtype=ids.dtype, device=ids.device)
    return torch.remainder(h.unsqueeze(1) + offsets.unsqueeze(0), experts)


_AFFINITIES = ("softmax", "sigmoid", "sqrt_softplus")


# --- bias correction between optimizer steps ---------------------------------------

_ROUTERS_WITH_BIAS: "weakref.WeakSet[TopKRouter]" = weakref.WeakSet()
_CREATION_ORDER = itertools.count()
_STEP_HOOK = None


def _recomputing() -> bool:
    """Whether this forward is gradient checkpointing's recompute: it runs inside the backward pass."""
    if torch.compiler.is_compiling():
        return False
    return torch._C._current_graph_task_id() != -1


def _summed_over_ranks(loads: List[torch.Tensor]) -> List[torch.Tensor]:
    """The loads summed over the data-parallel ranks (one collective), or as they are outside torch.distributed."""
    if not (dist.is_available() and dist.is_initialized()) or not loads:
        return loads
    flat = torch.cat([load.reshape(-1) for load in loads])
    dist.all_reduce(flat)
    return list(flat.split([load.numel() for load in loads]))


def _after_optimizer_step(optimizer, args, kwargs) -> None:
    stepped = {id(p) for group in optimizer.param_groups for p in group["params"]}
    # The same order on every rank (models are built alike), so that the collective matches.
    routers = sorted((r for r in list(_ROUTERS_WITH_BIAS) if id(r.weight) in stepped),
                     key=lambda r: r.creation_index)
    if not routers:
        return
    loads = _summed_over_ranks([router._pending_or_zeros() for router in routers])
    for router, load in zip(routers, loads):
        router.apply_load_update(load)


def _install_step_hook() -> None:
    global _STEP_HOOK
    if _STEP_HOOK is None:
        _STEP_HOOK = register_optimizer_step_post_hook(_after_optimizer_step)


class TopKRouter(nn.Module):
    """A linear scorer [E, d] plus a score function; `ctx.params` are the router's merged with its MoE's."""

    scoring = "softmax"

    def __init__(self, ctx) -> None:
        super().__init__()
        params = ctx.params
        self.affinity = str(params["affinity"])
        if self.affinity not in _AFFINITIES:
            raise ValueError("moe: unknown affinity '%s'" % self.affinity)
        self.num_experts = int(params["experts"])
        self.jitter = float(params["router_jitter"])
        self.normalize = bool(params["norm_topk_prob"])
        correction = params["bias_correction"]
        self.bias_correction = bool(correction["enabled"])
        self.update_rate = float(correction["update_rate"])
        self.target_imbalance = float(correction["target_imbalance"])
        routing = params["routing"]
        self.hashed = str(routing["type"]) == "hash"
        self.salt = int(routing["hash_salt"]) if self.hashed else 0
        router_std = params.get("router_init_std")
        self.init_std = float(router_std) if router_std is not None else float(ctx.init_std)

        d = int(ctx.model["d_model"])
        self.weight = nn.Parameter(torch.empty(self.num_experts, d))
        # Model state, saved with the weights. Float32 (a model cast casts it too, as any buffer).
        self.register_buffer("expert_bias", torch.zeros(self.num_experts, dtype=torch.float32))
        # Assignments per expert since the last update; a plain tensor, not a buffer, so that no engine
        # (DDP's buffer broadcast) overwrites a rank's own counts.
        self.pending_load: Optional[torch.Tensor] = None
        self.creation_index = next(_CREATION_ORDER)
        if self.bias_correction and not self.hashed:
            _ROUTERS_WITH_BIAS.add(self)
            _install_step_hook()
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Looked up at call time: transformers patches torch.nn.init to skip loaded tensors.
        torch.nn.init.normal_(self.weight, mean=0.0, std=self.init_std)
        torch.nn.init.zeros_(self.expert_bias)

    def _scores(self, logits: torch.Tensor) -> torch.Tensor:
        if self.scoring == "sigmoid":
            if self.affinity == "sqrt_softplus":
                return torch.sqrt(F.softplus(logits))
            return torch.sigmoid(logits)
        if self.affinity == "sigmoid":
            return torch.softmax(torch.sigmoid(logits), -1)
        if self.affinity == "sqrt_softplus":
            return torch.softmax(torch.sqrt(F.softplus(logits)), -1)
        return torch.softmax(logits, -1)

    def route(
        self, x: torch.Tensor, top_k: int, token_ids: Optional[torch.Tensor] = None,
        token_weight: Optional[torch.Tensor] = None,
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """x [N, d] -> (weights [N, k] x.dtype, experts [N, k] int64, probs [N, E] float32, logits [N, E] float32).
        `token_weight` [N] (0 at padding, static-shape callers only) leaves tokens out of the load counts."""
        inputs = x.to(torch.float32)
        if self.training and self.jitter > 0:
            inputs = inputs * torch.empty_like(inputs).uniform_(1.0 - self.jitter, 1.0 + self.jitter)
        logits = torch.matmul(inputs, self.weight.to(torch.float32).t())
        scores = self._scores(logits)
        probs = scores / scores.sum(-1, keepdim=True)

        if self.hashed:
            if token_ids is None:
                raise ValueError("moe: hash routing needs the token ids (FfnInput.token_ids)")
            experts = hash_experts(token_ids, self.salt, self.num_experts, top_k).to(logits.device)
            weights = torch.full(experts.shape, 1.0 / float(top_k), dtype=logits.dtype, device=logits.device)
        else:
            if self.bias_correction:
                selection = scores.detach() + self.expert_bias.to(torch.float32)
            else:
                selection = scores
            experts = selection.topk(top_k, -1)[1]
            weights = scores.gather(1, experts)
            if self.normalize:
                weights = weights / (weights.sum(-1, keepdim=True) + 1e-20)
            if self.bias_correction and self.training and torch.is_grad_enabled() and not _recomputing():
                self._count_load(experts, token_weight)
        return weights.to(x.dtype), experts, probs, logits

    @torch.no_grad()
    def _count_load(self, experts: torch.Tensor, token_weight: Optional[torch.Tensor] = None) -> None:
        ones = (torch.ones(experts.shape, dtype=torch.float32, device=experts.device) if token_weight is None else
                token_weight.to(torch.float32).unsqueeze(1).expand(experts.shape))
        load = torch.zeros(self.num_experts, dtype=torch.float32, device=experts.device).scatter_add_(
            0, experts.reshape(-1), ones.reshape(-1))
        if self.pending_load is None or self.pending_load.device != load.device:
            self.pending_load = load
        else:
            self.pending_load += load

    @torch.no_grad()
    def apply_load_update(self, load: Optional[torch.Tensor] = None) -> None:
        """DeepSeek-V3 aux-loss-free balancing from the counted loads (`load`: already summed over ranks):
        push over-loaded experts' bias down, under-loaded ones' up, by update_rate where the imbalance is above
        target_imbalance; then start counting afresh."""
        if load is None:
            load = _summed_over_ranks([self._pending_or_zeros()])[0]
        self.pending_load = None
        total = float(load.sum())
        if total <= 0.0:
            return
        share = 1.0 / float(self.num_experts)
        excess = load / total - share
        outside = (excess.abs() > self.target_imbalance * share).to(torch.float32)
        step = self.update_rate * torch.sign(excess) * outside
        self.expert_bias.sub_(step.to(device=self.expert_bias.device, dtype=self.expert_bias.dtype))

    def _pending_or_zeros(self) -> torch.Tensor:
        if self.pending_load is not None:
            return self.pending_load
        return torch.zeros(self.num_experts, dtype=torch.float32, device=self.expert_bias.device)


class SoftmaxRouter(TopKRouter):
    """top-k over softmax(a(logits)) (Switch, Mixtral); a = identity, sigmoid or sqrt(softplus)."""

    scoring = "softmax"


class SigmoidRouter(TopKRouter):
    """top-k over sigmoid(logits), or sqrt(softplus(logits)) with affinity sqrt_softplus (DeepSeek-V3)."""

    scoring = "sigmoid"


# --- the MoE FFN ------------------------------------------------------------------


def dispatch(
    x: torch.Tensor,
    experts: torch.Tensor,
    weights: torch.Tensor,
    modules: List[nn.Module],
    capacity: Optional[int],
) -> torch.Tensor:
    """x [N, d], experts and weights [N, k] -> [N, d]: sum_j weights[t, j] * expert_{experts[t, j]}(x[t]).

    With a capacity, each expert takes only its first `capacity` assignments in token order. Every expert runs,
    on an empty batch when it has no assignment, so that each joins the backward pass."""
    if torch.compiler.is_compiling():
        return dispatch_dense(x, experts, weights, modules, capacity)
    k = experts.size(1)
    n_experts = len(modules)
    assigned = experts.reshape(-1)  # [N*k], token-major
    flat_weights = weights.reshape(-1)
    # A stable sort keeps each expert's assignments in token order, the order capacity keeps them in.
    order = torch.sort(assigned, stable=True, dim=0, descending=False)[1]
    counts = torch.bincount(assigned, minlength=n_experts).cpu().tolist()

    out = torch.zeros_like(x)
    start = 0
    for e in range(n_experts):
        count = counts[e]
        kept = min(count, capacity) if capacity is not None else count
        slots = order[start : start + kept]
        tokens = torch.div(slots, k, rounding_mode="floor")
        y = modules[e](x.index_select(0, tokens)) * flat_weights.index_select(0, slots).unsqueeze(1)
        out.index_add_(0, tokens, y)
        start += count
    return out


def dispatch_dense(
    x: torch.Tensor,
    experts: torch.Tensor,
    weights: torch.Tensor,
    modules: List[nn.Module],
    capacity,
    real: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """dispatch() with static shapes, for torch.compile and torch.export: every expert on every token, weighted by
    its combine weight (0 where not routed). A capacity (an int or a scalar tensor) keeps the first assignments in
    token order, as dispatch; `real` [N] (0 at padding) keeps padding tokens out of the experts' queues."""
    n_experts = len(modules)
    chosen = F.one_hot(experts, n_experts).to(weights.dtype)  # [N, k, E]
    if real is not None:
        chosen = chosen * real.view(-1, 1, 1).to(chosen.dtype)
    if capacity is not None:
        flat = chosen.reshape(-1, n_experts)  # token-major assignments
        rank = flat.cumsum(0) * flat  # 1-based place of each assignment in its expert's queue
        chosen = (flat * (rank <= capacity).to(flat.dtype)).reshape(chosen.shape)
    combine = (chosen * weights.unsqueeze(-1)).sum(1)  # [N, E]
    out = torch.zeros_like(x)
    for e, module in enumerate(modules):
        out = out + module(x) * combine[:, e : e + 1]
    return out


def _balance(experts: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
    """E * mean_g sum_e f_ge P_ge over G groups: experts [G, M*k], probs [G, M, E]."""
    groups = probs.size(0)
    n_experts = probs.size(2)
    ones = torch.ones(experts.shape, dtype=probs.dtype, device=probs.device)
    load = torch.zeros(groups, n_experts, dtype=probs.dtype, device=probs.device).scatter_add_(1, experts, ones) / float(
        experts.size(1)
    )
    return (load * probs.mean(1)).sum(-1).mean() * float(n_experts)


def _balance_ragged(experts: torch.Tensor, probs: torch.Tensor, group: torch.Tensor, groups: int,
                    weight: Optional[torch.Tensor] = None) -> torch.Tensor:
    """_balance over groups of different sizes: experts [M, k], probs [M, E], group [M] the group of each token,
    weight [M] each token's weight (1 when None; 0 leaves a token out). Groups without tokens are left out of the
    mean. Static shapes (torch.compile)."""
    n_experts = probs.size(1)
    k = experts.size(1)
    w = weight.to(probs.dtype) if weight is not None else torch.ones(group.shape, dtype=probs.dtype,
                                                                     device=probs.device)
    tokens = torch.zeros(groups, dtype=probs.dtype, device=probs.device).index_add_(0, group, w)
    cells = (group.unsqueeze(1) * n_experts + experts).reshape(-1)
    load = torch.zeros(groups * n_experts, dtype=probs.dtype, device=probs.device).index_add_(
        0, cells, w.repeat_interleave(k)).view(groups, n_experts)
    mass = torch.zeros(groups, n_experts, dtype=probs.dtype, device=probs.device).index_add_(
        0, group, probs * w.unsqueeze(1))
    present = (tokens > 0).to(probs.dtype)
    per_group = (load * mass).sum(-1) / (tokens.clamp_min(1.0).square() * float(k))
    return (per_group * present).sum() / present.sum().clamp_min(1.0) * float(n_experts)


def aux_loss(
    experts: torch.Tensor,
    probs: torch.Tensor,
    logits: torch.Tensor,
    batch: int,
    load_balance: float,
    z_loss: float,
    sequence: float,
    sequence_of: Optional[torch.Tensor] = None,
    token_weight: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """A float32 scalar over the N routed tokens (N = batch * T without padding):
    load_balance * E * sum_e f_e P_e + z_loss * mean_t logsumexp(logits_t)^2
    + sequence * (the balance term within each of the `batch` sequences, averaged).
    With padding, `sequence_of` [N] gives each routed token's sequence, and `token_weight` [N] (0 at padding) leaves
    tokens out that were routed all the same (the static path of torch.compile)."""
    n_experts = probs.size(1)
    loss = torch.zeros((), dtype=probs.dtype, device=probs.device)
    if experts.size(0) == 0:
        return loss
    if sequence_of is None and token_weight is None:
        if load_balance > 0:
            loss = loss + load_balance * _balance(experts.reshape(1, -1), probs.reshape(1, -1, n_experts))
        if z_loss > 0:
            loss = loss + z_loss * torch.logsumexp(logits, -1).square().mean()
        if sequence > 0:
            loss = loss + sequence * _balance(experts.reshape(batch, -1), probs.reshape(batch, -1, n_experts))
        return loss
    if sequence_of is None:
        sequence_of = torch.div(torch.arange(experts.size(0), device=probs.device), experts.size(0) // batch,
                                rounding_mode="floor")
    one_group = torch.zeros_like(sequence_of)
    if load_balance > 0:
        loss = loss + load_balance * _balance_ragged(experts, probs, one_group, 1, token_weight)
    if z_loss > 0:
        squares = torch.logsumexp(logits, -1).square()
        if token_weight is None:
            loss = loss + z_loss * squares.mean()
        else:
            w = token_weight.to(squares.dtype)
            loss = loss + z_loss * (squares * w).sum() / w.sum().clamp_min(1.0)
    if sequence > 0:
        loss = loss + sequence * _balance_ragged(experts, probs, sequence_of, batch, token_weight)
    return loss


class Moe(nn.Module):
    """Route, dispatch to the experts, add the shared experts, and report the auxiliary losses."""

    def __init__(self, ctx) -> None:
        super().__init__()
        params = ctx.params
        group_limit = params["balance"].get("group_limit")
        if group_limit is not None:
            # Node-limited routing needs the number of expert groups, which the spec does not give.
            raise ValueError(
                "runtime.unsupported_param: moe does not support balance.group_limit = %r (supported: null)"
                % (group_limit,)
            )
        if getattr(ctx, "builder", None) is None:
            raise ValueError("moe: the block context has no builder for the router")
        self.top_k = int(params["top_k"])
        self.capacity_factor = float(params["capacity_factor"])
        self.limit_capacity = str(params["capacity_drop_policy"]) != "overflow"
        self.load_balance_coef = float(params["load_balance_coef"])
        self.z_loss = float(params["z_loss"])
        self.sequence_aux_coef = float(params["balance"]["sequence_aux_coef"])

        self.router = ctx.builder.make_router(ctx.refs["router"], ctx)
        self.experts = nn.ModuleList(Expert(ctx) for _ in range(int(params["experts"])))
        # Empty without shared experts: no parameters, as the C++ module registers none.
        self.shared_experts = nn.ModuleList(Expert(ctx) for _ in range(int(params["shared_experts"])))

    def capacity(self, tokens: int) -> Optional[int]:
        """Assignments each expert keeps: only training drops tokens, inference never does."""
        if not self.training or not self.limit_capacity:
            return None
        assignments = self.capacity_factor * float(tokens * self.top_k)
        return int(math.ceil(assignments / float(len(self.experts))))

    def forward(
        self, x: torch.Tensor, token_ids: Optional[torch.Tensor] = None, padding_mask: Optional[torch.Tensor] = None
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        flat = x.reshape(-1, x.size(-1))
        ids = token_ids.reshape(-1) if token_ids is not None else None
        if padding_mask is not None and torch.compiler.is_compiling():
            return self._forward_static(x, flat, ids, padding_mask)
        routed, routed_ids, real, sequence_of = flat, ids, None, None
        if padding_mask is not None:  # only real tokens are routed
            real = padding_mask.reshape(-1).to(flat.device).nonzero().squeeze(1)
            routed = flat.index_select(0, real)
            routed_ids = ids.index_select(0, real.to(ids.device)) if ids is not None else None
            sequence_of = torch.div(real, x.size(1), rounding_mode="floor")
        weights, experts, probs, logits = self.router.route(routed, self.top_k, routed_ids)

        out = dispatch(routed, experts, weights, list(self.experts), self.capacity(routed.size(0)))
        if real is not None:
            out = torch.zeros_like(flat).index_copy(0, real, out)
        for expert in self.shared_experts:
            out = out + expert(flat)
        loss = aux_loss(experts, probs, logits, x.size(0), self.load_balance_coef, self.z_loss,
                        self.sequence_aux_coef, sequence_of)
        return out.reshape(x.shape), loss


    def _forward_static(self, x, flat, ids, padding_mask):
        """forward() with padding in static shapes (torch.compile, torch.export): every token is routed, a padding
        token with weight 0, taking no capacity and left out of the losses and the load."""
        real = padding_mask.reshape(-1).to(device=flat.device, dtype=flat.dtype)
        weights, experts, probs, logits = self.router.route(flat, self.top_k, ids, token_weight=real)
        capacity = None
        if self.training and self.limit_capacity:
            capacity = torch.ceil(self.capacity_factor * real.sum() * float(self.top_k) / float(len(self.experts)))
        out = dispatch_dense(flat, experts, weights * real.unsqueeze(1).to(weights.dtype), list(self.experts),
                             capacity, real)
        for expert in self.shared_experts:
            out = out + expert(flat)
        loss = aux_loss(experts, probs, logits, x.size(0), self.load_balance_coef, self.z_loss,
                        self.sequence_aux_coef, token_weight=real)
        return out.reshape(x.shape), loss


def register(registrar) -> None:
    registrar.ffn("moe", Moe)
    registrar.router("softmax", SoftmaxRouter)
    registrar.router("sigmoid", SigmoidRouter)
