#pragma once
// The MoE auxiliary losses.

#include <cstdint>

#include "eulerstack/runtime/interfaces.hpp"

namespace eulerstack::moe {

struct LossWeights {
  double load_balance = 0.0;  // load_balance_coef
  double z_loss = 0.0;        // z_loss
  double sequence = 0.0;      // balance.sequence_aux_coef
};

// A float32 scalar over `routing` of N = batch * T tokens:
//   load_balance * E * sum_e f_e P_e       f_e: share of the N*k assignments to e, P_e: mean probs
// + z_loss * mean_t logsumexp(logits_t)^2
// + sequence * (the balance term computed within each of the `batch` sequences, averaged).
at::Tensor aux_loss(const Routing& routing, std::int64_t batch, const LossWeights& weights);

}  // namespace eulerstack::moe
