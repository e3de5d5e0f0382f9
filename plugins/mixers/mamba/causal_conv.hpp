#pragma once
// Depthwise causal 1-D convolution over time, the `conv1d` child of both
// mamba variants: `weight` [C, 1, K], `bias` [C].

#include <cstdint>
#include <utility>

#include "eulerstack/runtime/block_module.hpp"

namespace eulerstack::mamba {

class CausalConv1d : public BlockModule {
 public:
  CausalConv1d(std::int64_t channels, std::int64_t width, const at::TensorOptions& options);

  // x [B, T, C] continuing `history` [B, K-1, C] (the inputs before x; undefined: zeros).
  // Returns the convolution [B, T, C] (no activation) and the last K-1 inputs, the next history.
  // With `real` [B, T] bool, each row is convolved over its real tokens only
  // (the history is its last K-1 real inputs) and the output is 0 at padding.
  std::pair<at::Tensor, at::Tensor> forward(const at::Tensor& x, const at::Tensor& history,
                                            const at::Tensor& real = {}) const;

 private:
  std::pair<at::Tensor, at::Tensor> over_real_tokens(const at::Tensor& x, const at::Tensor& past,
                                                     const at::Tensor& real) const;

  std::int64_t width_;
  at::Tensor weight_;
  at::Tensor bias_;
};

}  // namespace eulerstack::mamba
