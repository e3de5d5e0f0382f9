#include "attention_mask.hpp"

#include <ATen/ATen.h>

namespace eulerstack::attention {

KeyPattern KeyPattern::from(const BlockContext& block) {
  KeyPattern pattern;
  if (block.is_set("window")) pattern.window = block.param<std::int64_t>("window");
  pattern.mode = block.param<std::string>("window_mode");
  if (block.is_set("window_dilation")) pattern.stride = block.param<std::int64_t>("window_dilation");
  else if (pattern.mode == "nsa") pattern.stride = 4;
  return pattern;
}

at::Tensor KeyPattern::visible(const at::Tensor& q_positions, const at::Tensor& k_positions) const {
  const auto distance = q_positions.unsqueeze(-1) - k_positions.unsqueeze(-2);
  auto visible = distance.ge(0);
  if (!window) return visible;
  const auto inside = distance.lt(*window);
  if (mode == "nsa") return visible.logical_and(inside.logical_or(distance.remainder(stride).eq(0)));
  visible = visible.logical_and(inside);
  if (mode == "dilated") visible = visible.logical_and(distance.remainder(stride).eq(0));
  return visible;
}

bool KeyPattern::causal_is_exact(std::int64_t span) const {
  if (!window) return true;
  if (mode == "dilated" && stride > 1) return span <= 1;
  return span <= *window;  // every distance is below the window
}

std::optional<std::int64_t> KeyPattern::cache_keep() const {
  // A query after the newest position p sees only keys with position > p + 1 - w:
  // at most w - 1 of them.
  if (!window || mode == "nsa") return std::nullopt;
  return *window - 1;
}

}  // namespace eulerstack::attention
