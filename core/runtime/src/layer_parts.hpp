#pragma once
// The model's own small modules: token embedding and the two norms.

#include <cstdint>
#include <string>

#include "eulerstack/runtime/block_module.hpp"

namespace eulerstack {

// Token embedding `weight` [vocab, d].
class TokenEmbedding : public BlockModule {
 public:
  TokenEmbedding(std::int64_t vocab, std::int64_t d, const at::TensorOptions& options, double init_std);
  at::Tensor forward(const at::Tensor& tokens) const;
  const at::Tensor& weight() const { return weight_; }

 private:
  at::Tensor weight_;
};

// rmsnorm (`weight`) or layernorm (`weight`, `bias`), eps 1e-5, computed in float32.
class Norm : public BlockModule {
 public:
  Norm(const std::string& type, std::int64_t d, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x) const;

 private:
  bool rms_;
  at::Tensor weight_;
  at::Tensor bias_;
};

}  // namespace eulerstack
