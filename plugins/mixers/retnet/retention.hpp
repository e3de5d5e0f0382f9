#pragma once
// The three forms of multi-scale retention, one computation:
//   o_n = sum_{m <= n} gamma^(n-m) (q_n . k_m) v_m  (+ gamma^(i+1) q_n S0 for a
//   prior state S0, i the token's index in this call)
//   S   = gamma^T S0 + sum_m gamma^(T-1-m) k_m^T v_m
// Without torchscale's extra scale normalisations, so the forms agree exactly
// (up to float rounding). All tensors float32; q, k [B, H, T, dk], v [B, H, T, dv],
// log_decay [H] (log gamma per head), state [B, H, dk, dv] or undefined (zero).
//
// `real` [B, T] bool (undefined: no padding) marks the real tokens: n and m
// then count real tokens of the row only, so a padding token adds nothing to
// the state and does not decay it (docs/PADDING.md).

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace eulerstack::retnet {

struct Retained {
  at::Tensor output;  // [B, H, T, dv]
  at::Tensor state;   // [B, H, dk, dv], after the last token
};

// log gamma_h = log(1 - 2^(-5-h)) for h in [0, heads), float32 with `options`' device.
at::Tensor log_decays(std::int64_t heads, const at::TensorOptions& options);

// Whole sequence at once: ((q k^T) ⊙ D) v with D[n,m] = gamma^(n-m), n >= m.
Retained parallel(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& log_decay,
                  const at::Tensor& state, const at::Tensor& real = {});

// The parallel form inside chunks of `chunk` tokens (the last may be shorter),
// the state carried from chunk to chunk.
Retained chunkwise(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& log_decay,
                   const at::Tensor& state, std::int64_t chunk, const at::Tensor& real = {});

// Token by token: S_t = gamma S_{t-1} + k_t^T v_t, o_t = q_t S_t (S_t = S_{t-1} at padding).
Retained recurrent(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& log_decay,
                   const at::Tensor& state, const at::Tensor& real = {});

}  // namespace eulerstack::retnet
