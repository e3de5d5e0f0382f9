#pragma once
// Which keys a query may attend to, from absolute positions.

#include <cstdint>
#include <optional>
#include <string>

#include <ATen/core/Tensor.h>

#include "eulerstack/block.hpp"

namespace eulerstack::attention {

struct KeyPattern {
  std::optional<std::int64_t> window;  // null: global
  std::string mode = "standard";       // standard | sliding | dilated | nsa
  std::int64_t stride = 1;             // dilated: every stride-th key; nsa: distant keys every stride

  static KeyPattern from(const BlockContext& block);

  // Causal with no window: every earlier key is visible.
  bool global() const { return !window.has_value(); }
  // [Tq, Tk] bool ([B, Tq, Tk] when either side is per row, [B, Tq] or
  // [B, Tk]), true where query q may see key k: k_pos <= q_pos and the
  // distance q_pos - k_pos fits the pattern.
  at::Tensor visible(const at::Tensor& q_positions, const at::Tensor& k_positions) const;
  // Whether `span` consecutive tokens attending to one another see exactly what
  // a plain causal mask shows them (so SDPA can skip the masked blocks).
  bool causal_is_exact(std::int64_t span) const;
  // How many of the newest keys a later query can still see (positions only
  // grow), or null when any key may be seen again (global, nsa).
  std::optional<std::int64_t> cache_keep() const;
};

}  // namespace eulerstack::attention
