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

}  // namespace

at::Tensor aux_loss(const Routing& routing, std::int64_t batch, const LossWeights& weights) {
  const at::Tensor& probs = routing.probs;
  const std::int64_t n_experts = probs.size(1);
  at::Tensor loss = at::zeros({}, probs.options());
  if (weights.load_balance > 0)
    loss = loss + weights.load_balance * balance(routing.experts.reshape({1, -1}), probs.reshape({1, -1, n_experts}));
  if (weights.z_loss > 0) loss = loss + weights.z_loss * at::logsumexp(routing.logits, {-1}).square().mean();
  if (weights.sequence > 0)
    loss = loss + weights.sequence * balance(routing.experts.reshape({batch, -1}), probs.reshape({batch, -1, n_experts}));
  return loss;
}

}  // namespace eulerstack::moe
