#include "attention_cache.hpp"

#include <algorithm>

#include <ATen/ATen.h>

namespace eulerstack::attention {
namespace {

at::Tensor with_capacity(const at::Tensor& live, std::int64_t dim, std::int64_t capacity) {
  auto sizes = live.sizes().vec();
  sizes[dim] = capacity;
  at::Tensor buffer = at::empty(sizes, live.options());
  buffer.narrow(dim, 0, live.size(dim)).copy_(live);
  return buffer;
}

}  // namespace

at::Tensor AttentionCache::keys() const { return keys_.narrow(2, start_, length_); }
at::Tensor AttentionCache::values() const { return values_.narrow(2, start_, length_); }
at::Tensor AttentionCache::positions() const { return positions_.narrow(0, start_, length_); }

void AttentionCache::rebuild(std::int64_t capacity) {
  keys_ = with_capacity(keys(), 2, capacity);
  values_ = with_capacity(values(), 2, capacity);
  positions_ = with_capacity(positions(), 0, capacity);
  start_ = 0;
}

// Rebuilding at twice the live length keeps both appending and sliding
// amortised O(1): the next rebuild is at least that many entries away.
void AttentionCache::append(const at::Tensor& keys, const at::Tensor& values, const at::Tensor& positions) {
  const std::int64_t added = positions.size(0);
  if (!positions_.defined()) {  // a prompt: kept as is, no room to spare until decoding starts
    keys_ = keys, values_ = values, positions_ = positions;
    length_ = added;
    return;
  }
  TORCH_CHECK(keys.size(0) == keys_.size(0), "attention cache: batch size changed from ", keys_.size(0), " to ",
              keys.size(0), " while decoding");
  if (start_ + length_ + added > capacity()) rebuild(2 * (length_ + added));
  const std::int64_t end = start_ + length_;
  keys_.narrow(2, end, added).copy_(keys);
  values_.narrow(2, end, added).copy_(values);
  positions_.narrow(0, end, added).copy_(positions);
  length_ += added;
}

void AttentionCache::keep_last(std::int64_t count) {
  const std::int64_t dropped = length_ - std::max<std::int64_t>(count, 0);
  if (dropped <= 0) return;
  start_ += dropped;
  length_ -= dropped;
  if (capacity() > 4 * length_) rebuild(2 * length_);  // releases a long prompt's memory
}

}  // namespace eulerstack::attention
