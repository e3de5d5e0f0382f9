#pragma once
// Decoding state of one mamba layer (either variant).

#include <ATen/core/Tensor.h>

#include "eulerstack/runtime/interfaces.hpp"

namespace eulerstack::mamba {

struct MambaCache : LayerCache {
  at::Tensor conv_state;  // [B, K-1, conv channels]: the last K-1 conv inputs (pre-activation), model dtype
  at::Tensor ssm_state;   // float32; mamba2 [B, h, head_dim, N], mamba1 [B, di, N]
};

// The cache a forward was handed, or nullptr; a foreign cache type is a programming error.
inline MambaCache* mamba_cache(LayerCache* cache) {
  return cache ? &dynamic_cast<MambaCache&>(*cache) : nullptr;
}

}  // namespace eulerstack::mamba
