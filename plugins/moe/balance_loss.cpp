#include "balance_loss.hpp"

#include <ATen/ATen.h>

namespace eulerstack::moe {
namespace {

// E * mean_g sum_e f_ge P_ge over G groups: experts [G, M*k], probs [G, M, E].
at::Tensor balance(const at::Tensor& experts, const at::Tensor& probs) {
  const std::int64_t groups = probs.size(0);
  const std::int64_t n_experts = probs.size(2);
  const at::Tensor ones = at::ones(experts.sizes(), probs.options());
  const at::Tensor load = at::zeros({groups, n_experts}, probs.options()).scatter_add_(1, experts, ones) /
                          static_cast<double>(experts.size(1));
  return (load * probs.mean(1)).sum(-1).mean() * static_cast<double>(n_experts);
}

// The same over sequences of different lengths: experts [M, k], probs [M, E],
// rows [M] (the sequence of each token) in [0, groups); sequences without a
// token are left out of the mean.
at::Tensor ragged_balance(const at::Tensor& experts, const at::Tensor& probs, const at::Tensor& rows,
                          std::int64_t groups) {
  const std::int64_t k = experts.size(1);
  const std::int64_t n_experts = probs.size(1);
  const at::Tensor tokens = at::bincount(rows, {}, groups).to(probs.scalar_type());  // [G]
  const at::Tensor cells = (rows.unsqueeze(1) * n_experts + experts).reshape({-1});
  const at::Tensor assigned =
      at::zeros({groups * n_experts}, probs.options()).index_add_(0, cells, at::ones(cells.sizes(), probs.options()));
  const at::Tensor present = tokens.gt(0);
  const at::Tensor per_token = tokens.clamp_min(1).unsqueeze(1);
  const at::Tensor load = assigned.view({groups, n_experts}) / (per_token * static_cast<double>(k));
  const at::Tensor mean_probs = at::zeros({groups, n_experts}, probs.options()).index_add_(0, rows, probs) / per_token;
  const at::Tensor per_row = (load * mean_probs).sum(-1) * static_cast<double>(n_experts);
  return (per_row * present).sum() / present.sum().clamp_min(1);
}

}  // namespace

at::Tensor aux_loss(const Routing& routing, std::int64_t batch, const at::Tensor& rows, const LossWeights& weights) {
  const at::Tensor& probs = routing.probs;
  const std::int64_t n_experts = probs.size(1);
  at::Tensor loss = at::zeros({}, probs.options());
  if (probs.size(0) == 0) return loss;  // nothing was routed (every token is padding)
  if (weights.load_balance > 0)
    loss = loss + weights.load_balance * balance(routing.experts.reshape({1, -1}), probs.reshape({1, -1, n_experts}));
  if (weights.z_loss > 0) loss = loss + weights.z_loss * at::logsumexp(routing.logits, {-1}).square().mean();
  if (weights.sequence > 0)
    loss = loss + weights.sequence * (rows.defined() ? ragged_balance(routing.experts, probs, rows.to(probs.device()), batch)
                                                     : balance(routing.experts.reshape({batch, -1}),
                                                               probs.reshape({batch, -1, n_experts})));
  return loss;
}

}  // namespace eulerstack::moe
