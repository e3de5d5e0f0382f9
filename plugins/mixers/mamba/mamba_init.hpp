#pragma once
// The mamba-specific initialisations (documented in mamba_plugin.cpp).

#include <cstdint>

#include "eulerstack/runtime/block_module.hpp"

namespace eulerstack::mamba {

// dt_bias / dt_proj.bias: softplus^-1(dt), dt = exp(U(log dt_min, log dt_max)) clamped to >= dt_floor,
// so that softplus(bias) starts as a log-uniform step size.
InitRule inverse_softplus_dt(double dt_min = 1e-3, double dt_max = 1e-1, double dt_floor = 1e-4);
// Mamba2 A_log [h]: log(U(low, high)), one decay rate per head.
InitRule log_uniform(double low, double high);
// Mamba1 A_log [di, N]: log(n + 1) along the state axis (S4D-real).
InitRule s4d_real_log();

}  // namespace eulerstack::mamba
