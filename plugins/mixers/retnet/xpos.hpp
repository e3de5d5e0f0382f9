#pragma once
// The RetNet block's own position rotation (xPos without its length
// extrapolation scale), independent of the model's positional scheme.

#include <ATen/core/Tensor.h>

namespace eulerstack::retnet {

// Rotates x [B, H, T, dk] (dk even) by its tokens' absolute `positions` [T] or [B, T]:
// pair i = (x[2i], x[2i+1]) turns by angle p * theta_i, theta_i =
// 10000^(-2i/dk) ("rotate every two", as torchscale's theta_shift; torchscale
// spaces its angles with linspace(0, 1, dk/2) instead). Returns float32.
at::Tensor rotate(const at::Tensor& x, const at::Tensor& positions);

}  // namespace eulerstack::retnet
