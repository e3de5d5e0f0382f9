#include "causal_conv.hpp"

#include <cmath>

#include <ATen/ATen.h>

namespace eulerstack::mamba {

CausalConv1d::CausalConv1d(std::int64_t channels, std::int64_t width, const at::TensorOptions& options)
    : width_(width) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(width));  // PyTorch's Conv1d default, fan_in = K
  weight_ = add_parameter("weight", {channels, 1, width}, options, init::uniform(-bound, bound));
  bias_ = add_parameter("bias", {channels}, options, init::zeros());
}

std::pair<at::Tensor, at::Tensor> CausalConv1d::forward(const at::Tensor& x, const at::Tensor& history) const {
  const std::int64_t batch = x.size(0), tokens = x.size(1), channels = x.size(2);
  const at::Tensor past =
      history.defined() ? history.to(x.scalar_type()) : at::zeros({batch, width_ - 1, channels}, x.options());
  const at::Tensor full = at::cat({past, x}, 1);  // [B, K-1+T, C]: no padding needed, the past is the padding
  // A copy, so that the cache does not keep this call's whole input alive.
  at::Tensor next_history = full.narrow(1, tokens, width_ - 1).clone();
  if (tokens == 1) {
    // One decoding step is a weighted sum over the window; at::conv1d's depthwise path costs ~8x more.
    at::Tensor y = (full * weight_.squeeze(1).t()).sum(1, /*keepdim=*/true) + bias_;
    return {y, next_history};
  }
  const std::int64_t one = 1, zero = 0;
  at::Tensor y = at::conv1d(full.transpose(1, 2), weight_, bias_, /*stride=*/one, /*padding=*/zero,
                            /*dilation=*/one, /*groups=*/channels);
  return {y.transpose(1, 2), next_history};
}

}  // namespace eulerstack::mamba
