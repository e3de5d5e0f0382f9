#pragma once
// The decoding state of one attention layer: rotated keys and values
// [B, KV, T, hd] and their absolute positions [T], oldest first. MLA caches its
// up-projected keys and values (RoPE rotates the keys after the up-projection).
//
// The entries live in buffers with room to spare, so that a decode step writes
// only its own token instead of copying the whole cache (as at::cat would):
// appending is amortised O(1) in the cache's length, and so is dropping the
// oldest entries of a sliding window.

#include <cstdint>

#include <ATen/core/Tensor.h>

#include "eulerstack/runtime/interfaces.hpp"

namespace eulerstack::attention {

class AttentionCache : public LayerCache {
 public:
  // Appends this call's keys, values and positions.
  void append(const at::Tensor& keys, const at::Tensor& values, const at::Tensor& positions);
  // Drops all but the newest `count` keys.
  void keep_last(std::int64_t count);

  std::int64_t length() const { return length_; }
  // Views of the live entries, valid until the next append.
  at::Tensor keys() const;
  at::Tensor values() const;
  at::Tensor positions() const;

 private:
  std::int64_t capacity() const { return positions_.size(0); }
  // Moves the live entries to the front of new buffers of `capacity` entries.
  void rebuild(std::int64_t capacity);

  at::Tensor keys_, values_, positions_;  // buffers: [B, KV, capacity, hd], [capacity]
  std::int64_t start_ = 0, length_ = 0;   // the live entries are [start_, start_ + length_)
};

}  // namespace eulerstack::attention
