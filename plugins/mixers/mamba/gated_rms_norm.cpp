#include "gated_rms_norm.hpp"

#include <vector>

#include <ATen/ATen.h>

namespace eulerstack::mamba {

GatedRMSNorm::GatedRMSNorm(std::int64_t width, std::int64_t group_size, double eps, const at::TensorOptions& options)
    : group_size_(group_size), eps_(eps) {
  weight_ = add_parameter("weight", {width}, options, init::ones());
}

at::Tensor GatedRMSNorm::forward(const at::Tensor& y, const at::Tensor& z) const {
  const at::Tensor gated = y.to(at::kFloat) * at::silu(z.to(at::kFloat));
  std::vector<std::int64_t> grouped(gated.sizes().begin(), gated.sizes().end() - 1);
  grouped.push_back(gated.size(-1) / group_size_);
  grouped.push_back(group_size_);
  const at::Tensor g = gated.reshape(grouped);
  const at::Tensor normed = (g * at::rsqrt(g.pow(2).mean(-1, /*keepdim=*/true) + eps_)).reshape(gated.sizes());
  return (normed * weight_.to(at::kFloat)).to(z.scalar_type());
}

}  // namespace eulerstack::mamba
