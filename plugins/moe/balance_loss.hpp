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

// A float32 scalar over `routing` of N routed tokens:
//   load_balance * E * sum_e f_e P_e       f_e: share of the N*k assignments to e, P_e: mean probs
// + z_loss * mean_t logsumexp(logits_t)^2
// + sequence * (the balance term computed within each of the `batch` sequences, averaged).
// `rows` [N] int64: the sequence of each routed token when padding tokens were
// left out (the per-sequence term then averages over each row's own tokens,
// and over the rows that have any); undefined: N = batch * T in row order.
at::Tensor aux_loss(const Routing& routing, std::int64_t batch, const at::Tensor& rows, const LossWeights& weights);

}  // namespace eulerstack::moe
