#pragma once
// The decoding state of one attention layer: rotated keys and values
// [B, KV, T, hd] and their absolute positions [T], oldest first. MLA caches its
// up-projected keys and values (RoPE rotates the keys after the up-projection).

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

  std::int64_t length() const { return positions_.defined() ? positions_.size(0) : 0; }
  const at::Tensor& keys() const { return keys_; }
  const at::Tensor& values() const { return values_; }
  const at::Tensor& positions() const { return positions_; }

 private:
  at::Tensor keys_, values_, positions_;
};

}  // namespace eulerstack::attention
