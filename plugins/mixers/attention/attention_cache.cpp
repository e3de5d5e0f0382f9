#include "attention_cache.hpp"

#include <algorithm>

#include <ATen/ATen.h>

namespace eulerstack::attention {
namespace {

// The time dimension of each buffer is its last but one (keys, values) or its last (positions, real).
at::Tensor with_capacity(const at::Tensor& live, std::int64_t dim, std::int64_t capacity) {
  auto sizes = live.sizes().vec();
  sizes[dim] = capacity;
  at::Tensor buffer = at::empty(sizes, live.options());
  buffer.narrow(dim, 0, live.size(dim)).copy_(live);
  return buffer;
}

at::Tensor last_dim(const at::Tensor& t, std::int64_t start, std::int64_t length) {
  return t.narrow(t.dim() - 1, start, length);
}

}  // namespace

at::Tensor AttentionCache::keys() const { return keys_.narrow(2, start_, length_); }
at::Tensor AttentionCache::values() const { return values_.narrow(2, start_, length_); }
at::Tensor AttentionCache::positions() const { return last_dim(positions_, start_, length_); }
at::Tensor AttentionCache::real() const { return real_.defined() ? last_dim(real_, start_, length_) : at::Tensor(); }

void AttentionCache::rebuild(std::int64_t capacity) {
  keys_ = with_capacity(keys(), 2, capacity);
  values_ = with_capacity(values(), 2, capacity);
  positions_ = with_capacity(positions(), positions_.dim() - 1, capacity);
  if (real_.defined()) real_ = with_capacity(real(), 1, capacity);
  start_ = 0;
}

void AttentionCache::per_row_positions() {
  if (positions_.dim() == 2) return;
  positions_ = positions_.unsqueeze(0).expand({keys_.size(0), positions_.size(0)}).clone();
}

void AttentionCache::track_real() {
  if (real_.defined()) return;
  real_ = at::ones({keys_.size(0), capacity()}, positions_.options().dtype(at::kBool));
}

// Rebuilding at twice the live length keeps both appending and sliding
// amortised O(1): the next rebuild is at least that many entries away.
void AttentionCache::append(const at::Tensor& keys, const at::Tensor& values, const at::Tensor& positions,
                            const at::Tensor& real) {
  const std::int64_t added = keys.size(2);
  if (!keys_.defined()) {  // a prompt: kept as is, no room to spare until decoding starts
    keys_ = keys, values_ = values, positions_ = positions, real_ = real;
    length_ = added;
    return;
  }
  TORCH_CHECK(keys.size(0) == keys_.size(0), "attention cache: batch size changed from ", keys_.size(0), " to ",
              keys.size(0), " while decoding");
  if (positions.dim() == 2) per_row_positions();
  if (real.defined()) track_real();
  if (start_ + length_ + added > capacity()) rebuild(2 * (length_ + added));
  const std::int64_t end = start_ + length_;
  keys_.narrow(2, end, added).copy_(keys);
  values_.narrow(2, end, added).copy_(values);
  last_dim(positions_, end, added).copy_(positions);  // [T] into [B, T] broadcasts
  if (real_.defined()) {
    if (real.defined()) real_.narrow(1, end, added).copy_(real);
    else real_.narrow(1, end, added).fill_(true);
  }
  length_ += added;
}

void AttentionCache::keep_last(std::int64_t count) {
  const std::int64_t dropped = length_ - std::max<std::int64_t>(count, 0);
  if (dropped <= 0) return;
  start_ += dropped;
  length_ -= dropped;
  if (capacity() > 4 * length_) rebuild(2 * length_);  // releases a long prompt's memory
}

void AttentionCache::keep_within(std::int64_t keep) {
  if (positions_.dim() == 1 && !real_.defined()) return keep_last(keep);  // every row alike: the newest `keep`
  if (length_ == 0) return;
  const at::Tensor where = positions().expand({keys_.size(0), length_});
  const at::Tensor real = real_.defined() ? this->real() : at::ones_like(where, where.options().dtype(at::kBool));
  const at::Tensor newest = at::where(real, where, -1).amax(1, /*keepdim=*/true);
  const at::Tensor visible = real.logical_and(where.ge(newest + 1 - keep));
  // The first slot a row still sees; a row that sees none does not hold the others' back.
  const at::Tensor first = at::where(visible.any(1), visible.to(at::kLong).argmax(1), length_);
  keep_last(length_ - first.min().item<std::int64_t>());
}

}  // namespace eulerstack::attention
