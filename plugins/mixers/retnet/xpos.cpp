#include "xpos.hpp"

#include <ATen/ATen.h>

namespace eulerstack::retnet {

at::Tensor rotate(const at::Tensor& x, const at::Tensor& positions) {
  const auto f32 = x.options().dtype(at::kFloat);
  const std::int64_t dk = x.size(-1);
  const at::Tensor theta = at::pow(10000.0, at::arange(0, dk, 2, f32) / static_cast<double>(-dk));
  // [T, dk] (per row: [B, 1, T, dk]), each angle twice: (theta_0, theta_0, theta_1, theta_1, ...).
  at::Tensor phase = (positions.to(f32).unsqueeze(-1) * theta).repeat_interleave(2, -1);
  if (positions.dim() == 2) phase = phase.unsqueeze(1);
  const at::Tensor xf = x.to(at::kFloat);
  // (x0, x1, x2, x3, ...) -> (-x1, x0, -x3, x2, ...)
  const at::Tensor pairs = xf.unflatten(-1, {dk / 2, 2});
  const at::Tensor turned = at::stack({-pairs.select(-1, 1), pairs.select(-1, 0)}, -1).flatten(-2);
  return xf * phase.cos() + turned * phase.sin();
}

}  // namespace eulerstack::retnet
