#pragma once
// The decoding state of one attention layer: rotated keys and values
// [B, KV, T, hd], their absolute positions ([T], or [B, T] once the rows
// differ) and, once a padding token was seen, which of them are real tokens
// ([B, T] bool), oldest first. MLA caches its up-projected keys and values
// (RoPE rotates the keys after the up-projection).
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
  // Appends this call's keys, values, positions ([T] or [B, T]) and real-token
  // mask ([B, T] bool; undefined: every token is real).
  void append(const at::Tensor& keys, const at::Tensor& values, const at::Tensor& positions, const at::Tensor& real);
  // Drops all but the newest `count` keys.
  void keep_last(std::int64_t count);
  // Keeps, for all rows together, the keys from the oldest slot any row can
  // still see when a query sees the real keys at most `keep` positions behind
  // the row's next position: real keys with position >= newest real position + 1 - keep.
  void keep_within(std::int64_t keep);

  std::int64_t length() const { return length_; }
  // Views of the live entries, valid until the next append.
  at::Tensor keys() const;
  at::Tensor values() const;
  at::Tensor positions() const;  // [T] or [B, T]
  at::Tensor real() const;       // [B, T] bool, or undefined when every key is a real token

 private:
  std::int64_t capacity() const { return keys_.size(2); }
  // Moves the live entries to the front of new buffers of `capacity` entries.
  void rebuild(std::int64_t capacity);
  // Makes the buffers hold per-row positions and a real-token mask.
  void per_row_positions();
  void track_real();

  at::Tensor keys_, values_, positions_, real_;  // buffers: [B, KV, capacity, hd], [capacity] or [B, capacity], [B, capacity]
  std::int64_t start_ = 0, length_ = 0;          // the live entries are [start_, start_ + length_)
};

}  // namespace eulerstack::attention
