#include "dispatch.hpp"

#include <algorithm>

#include <ATen/ATen.h>

namespace eulerstack::moe {

at::Tensor dispatch(const at::Tensor& x, const at::Tensor& experts, const at::Tensor& weights,
                    const std::vector<std::shared_ptr<Expert>>& modules, std::optional<std::int64_t> capacity) {
  const std::int64_t k = experts.size(1);
  const auto n_experts = static_cast<std::int64_t>(modules.size());
  const at::Tensor assigned = experts.reshape({-1});  // [N*k], token-major
  const at::Tensor flat_weights = weights.reshape({-1});
  // A stable sort keeps each expert's assignments in token order, which is the
  // order capacity keeps them in.
  const at::Tensor order = std::get<1>(at::sort(assigned, /*stable=*/true, /*dim=*/0, /*descending=*/false));
  const at::Tensor counts = at::bincount(assigned, {}, n_experts).cpu();
  const auto* count = counts.data_ptr<std::int64_t>();

  at::Tensor out = at::zeros_like(x);
  std::int64_t start = 0;
  for (std::int64_t e = 0; e < n_experts; ++e) {
    const std::int64_t kept = capacity ? std::min(count[e], *capacity) : count[e];
    if (kept > 0) {
      const at::Tensor slots = order.slice(0, start, start + kept);
      const at::Tensor tokens = at::div(slots, k, "floor");
      const at::Tensor y = modules[e]->forward(x.index_select(0, tokens)) * flat_weights.index_select(0, slots).unsqueeze(1);
      out.index_add_(0, tokens, y);
    }
    start += count[e];
  }
  return out;
}

}  // namespace eulerstack::moe
