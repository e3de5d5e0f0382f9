#pragma once
// Mamba1's selective scan, per channel c and state index n:
//   state_t = exp(dt_t A) state_{t-1} + dt_t x_t B_t,   y_t = state_t . C_t,
// in float32. Shapes: x and dt [b, T, di] (dt after softplus), A [di, N]
// (negative), B and C [b, T, N], state [b, di, N] (undefined: zeros).
//
// Sequential over time (one small step per token, vectorised over batch,
// channels and state): mamba1's decay differs per channel and state index, so
// the chunked SSD form does not apply without [T, T, di, N] intermediates.

#include "scan_result.hpp"

namespace eulerstack::mamba {

ScanResult selective_scan(const at::Tensor& x, const at::Tensor& dt, const at::Tensor& A, const at::Tensor& B,
                          const at::Tensor& C, const at::Tensor& initial_state);

}  // namespace eulerstack::mamba
