#include "hash_routing.hpp"

#include <ATen/ATen.h>

namespace eulerstack::moe {

at::Tensor hash_experts(const at::Tensor& token_ids, std::int64_t salt, std::int64_t experts, std::int64_t top_k) {
  // Every operand stays below 2^31 before a multiplication, so nothing overflows int64.
  constexpr std::int64_t P = 2147483647;
  constexpr std::int64_t A = 48271;
  const std::int64_t salt_mod = ((salt % P) + P) % P;
  auto ids = token_ids.to(at::kLong).reshape({-1});
  auto h = at::remainder(at::remainder(ids, P) * A + salt_mod, P);
  h = at::remainder(h * A, P);
  auto offsets = at::arange(top_k, ids.options());
  return at::remainder(h.unsqueeze(1) + offsets.unsqueeze(0), experts);
}

}  // namespace eulerstack::moe
