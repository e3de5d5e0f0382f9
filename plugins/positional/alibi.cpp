// ALiBi (Press et al. 2022): no weights, a per-head linear penalty on the
// query-key distance, -slope_h * (q_pos - k_pos). Slopes as in the paper's
// reference code and HF's build_alibi_tensor: for a power of two n,
// 2^(-8/n * i), i = 1..n; otherwise those of the largest power of two p < n,
// followed by every other slope of 2p (the odd ones) until there are n.

#include <cmath>
#include <vector>

#include <ATen/ATen.h>

#include "positional_modules.hpp"

namespace eulerstack::positional {
namespace {

std::vector<double> power_of_two_slopes(std::int64_t n, std::int64_t first, std::int64_t step, std::int64_t count) {
  std::vector<double> slopes;
  const double exponent = -8.0 / static_cast<double>(n);
  for (std::int64_t i = 0; i < count; ++i) slopes.push_back(std::exp2(exponent * static_cast<double>(first + i * step)));
  return slopes;
}

std::vector<double> alibi_slopes(std::int64_t heads) {
  std::int64_t p = 1;
  while (p * 2 <= heads) p *= 2;
  auto slopes = power_of_two_slopes(p, 1, 1, p);
  if (p != heads) {
    const auto extra = power_of_two_slopes(2 * p, 1, 2, std::min(p, heads - p));
    slopes.insert(slopes.end(), extra.begin(), extra.end());
  }
  return slopes;
}

class Alibi : public PositionalModule {
 public:
  at::Tensor attention_bias(std::int64_t heads, const at::Tensor& q_positions, const at::Tensor& k_positions) override {
    const auto options = q_positions.options().dtype(at::kFloat);
    const auto slopes = at::tensor(alibi_slopes(heads), at::TensorOptions().dtype(at::kDouble))
                            .to(options)
                            .view({heads, 1, 1});
    // [Tq, Tk], or [B, Tq, Tk] when either side is per row.
    const auto distance = (q_positions.unsqueeze(-1) - k_positions.to(q_positions.device()).unsqueeze(-2)).to(options);
    return -slopes * distance.unsqueeze(-3);
  }
};

}  // namespace

std::shared_ptr<PositionalModule> make_alibi(const ModuleContext&) { return std::make_shared<Alibi>(); }

}  // namespace eulerstack::positional
