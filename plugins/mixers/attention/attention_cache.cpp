#include "attention_cache.hpp"

#include <algorithm>

#include <ATen/ATen.h>

namespace eulerstack::attention {

void AttentionCache::append(const at::Tensor& keys, const at::Tensor& values, const at::Tensor& positions) {
  if (!positions_.defined()) {
    keys_ = keys, values_ = values, positions_ = positions;
    return;
  }
  TORCH_CHECK(keys.size(0) == keys_.size(0), "attention cache: batch size changed from ", keys_.size(0), " to ",
              keys.size(0), " while decoding");
  keys_ = at::cat({keys_, keys}, 2);
  values_ = at::cat({values_, values}, 2);
  positions_ = at::cat({positions_, positions}, 0);
}

void AttentionCache::keep_last(std::int64_t count) {
  const std::int64_t length = this->length();
  if (length <= count) return;
  const std::int64_t start = length - std::max<std::int64_t>(count, 0);
  // Copies, so the dropped keys' memory is released.
  keys_ = keys_.narrow(2, start, length - start).clone(at::MemoryFormat::Contiguous);
  values_ = values_.narrow(2, start, length - start).clone(at::MemoryFormat::Contiguous);
  positions_ = positions_.narrow(0, start, length - start).clone();
}

}  // namespace eulerstack::attention
