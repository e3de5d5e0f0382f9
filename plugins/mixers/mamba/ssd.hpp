#pragma once
// Mamba2's scan, state-space duality (SSD): per head h a scalar decay,
//   state_t = exp(dt_t A) state_{t-1} + dt_t x_t ⊗ B_t,   y_t = state_t C_t,
// with B and C shared by the h/g heads of a group. Everything in float32.
//
// Shapes: x [b, T, h, p], dt [b, T, h] (after softplus), A [h] (negative),
// B and C [b, T, g, N], state [b, h, p, N] (undefined: zeros).

#include <cstdint>

#include "scan_result.hpp"

namespace eulerstack::mamba {

// The chunked algorithm of the Mamba2 paper, for prefill and training: within
// a chunk of `chunk_size` tokens the quadratic (attention-like) form, across
// chunks the recurrence over chunk states. Any T; the result does not depend
// on chunk_size beyond rounding.
ScanResult ssd_chunked(const at::Tensor& x, const at::Tensor& dt, const at::Tensor& A, const at::Tensor& B,
                       const at::Tensor& C, std::int64_t chunk_size, const at::Tensor& initial_state);

// One token of the recurrence, for decoding: x [b, h, p], dt [b, h], B and C [b, g, N].
// Without grad mode a float32 `state` is updated in place and returned as the new state.
ScanResult ssd_step(const at::Tensor& x, const at::Tensor& dt, const at::Tensor& A, const at::Tensor& B,
                    const at::Tensor& C, const at::Tensor& state);

}  // namespace eulerstack::mamba
