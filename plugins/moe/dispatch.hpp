#pragma once
// Sends each token to its experts and sums the weighted results.

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "expert.hpp"

namespace eulerstack::moe {

// x [N, d], experts and weights [N, k] -> [N, d]: for every token,
// sum_j weights[t, j] * expert_{experts[t, j]}(x[t]). With a capacity, each
// expert takes only its first `capacity` assignments in token order; the rest
// contribute nothing.
at::Tensor dispatch(const at::Tensor& x, const at::Tensor& experts, const at::Tensor& weights,
                    const std::vector<std::shared_ptr<Expert>>& modules, std::optional<std::int64_t> capacity);

}  // namespace eulerstack::moe
