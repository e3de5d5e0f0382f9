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

std::pair<at::Tensor, at::Tensor> CausalConv1d::forward(const at::Tensor& x, const at::Tensor& history,
                                                        const at::Tensor& real) const {
  const std::int64_t batch = x.size(0), tokens = x.size(1), channels = x.size(2);
  const at::Tensor past =
      history.defined() ? history.to(x.scalar_type()) : at::zeros({batch, width_ - 1, channels}, x.options());
  if (real.defined()) return over_real_tokens(x, past, real);
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

// Each row's real tokens moved to its front (a stable partition, in order),
// convolved after the history as one unpadded row, and moved back.
std::pair<at::Tensor, at::Tensor> CausalConv1d::over_real_tokens(const at::Tensor& x, const at::Tensor& past,
                                                                 const at::Tensor& real) const {
  const std::int64_t channels = x.size(2);
  const at::Tensor padding = real.logical_not().to(at::kByte);
  const at::Tensor order = std::get<1>(at::sort(padding, /*stable=*/true, /*dim=*/1, /*descending=*/false));
  const at::Tensor gather = order.unsqueeze(-1).expand({-1, -1, channels});
  const at::Tensor compact = x.gather(1, gather) * real.gather(1, order).unsqueeze(-1).to(x.scalar_type());
  const at::Tensor full = at::cat({past, compact}, 1);  // row b's inputs: [0, K-1 + n_b) real, then zeros
  const std::int64_t one = 1, zero = 0;
  const at::Tensor y = at::conv1d(full.transpose(1, 2), weight_, bias_, one, zero, one, channels).transpose(1, 2);
  const at::Tensor counts = real.to(at::kLong).sum(1, /*keepdim=*/true);                      // n_b
  const at::Tensor kept = counts + at::arange(width_ - 1, counts.options());                 // [B, K-1]
  const at::Tensor next_history = full.gather(1, kept.unsqueeze(-1).expand({-1, -1, channels}));
  const at::Tensor out = at::zeros_like(y).scatter_(1, gather, y) * real.unsqueeze(-1).to(y.scalar_type());
  return {out, next_history};
}

}  // namespace eulerstack::mamba
