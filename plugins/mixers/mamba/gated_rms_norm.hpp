#pragma once
// Mamba2's gated RMSNorm (mamba_ssm RMSNormGated, norm_before_gate=False):
// rmsnorm(y * silu(z)) * weight, normalised over groups of `group_size` channels.

#include <cstdint>

#include "eulerstack/runtime/block_module.hpp"

namespace eulerstack::mamba {

class GatedRMSNorm : public BlockModule {
 public:
  GatedRMSNorm(std::int64_t width, std::int64_t group_size, double eps, const at::TensorOptions& options);

  // y, z [..., width]; computed in float32, returned in z's dtype.
  at::Tensor forward(const at::Tensor& y, const at::Tensor& z) const;

 private:
  std::int64_t group_size_;
  double eps_;
  at::Tensor weight_;
};

}  // namespace eulerstack::mamba
