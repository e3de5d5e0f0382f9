#include "layer_parts.hpp"

#include <ATen/ATen.h>

namespace eulerstack {

namespace {
constexpr double kNormEps = 1e-5;
}

TokenEmbedding::TokenEmbedding(std::int64_t vocab, std::int64_t d, const at::TensorOptions& options,
                               double init_std) {
  weight_ = add_parameter("weight", {vocab, d}, options, init::normal(init_std));
}

at::Tensor TokenEmbedding::forward(const at::Tensor& tokens) const { return at::embedding(weight_, tokens); }

Norm::Norm(const std::string& type, std::int64_t d, const at::TensorOptions& options) : rms_(type == "rmsnorm") {
  weight_ = add_parameter("weight", {d}, options, init::ones());
  if (!rms_) bias_ = add_parameter("bias", {d}, options, init::zeros());
}

at::Tensor Norm::forward(const at::Tensor& x) const {
  const at::Tensor h = x.to(at::kFloat);
  if (!rms_)
    return at::layer_norm(h, {h.size(-1)}, weight_.to(at::kFloat), bias_.to(at::kFloat), kNormEps).to(x.scalar_type());
  const at::Tensor normed = h * at::rsqrt(h.pow(2).mean(-1, /*keepdim=*/true) + kNormEps);
  return (normed * weight_.to(at::kFloat)).to(x.scalar_type());
}

}  // namespace eulerstack
