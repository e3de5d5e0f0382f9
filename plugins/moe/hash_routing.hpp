#pragma once
// Fixed routing by token id (Roller et al., "Hash Layers").

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace eulerstack::moe {

// The hash of a token id t with salt s, in [0, P) with P = 2^31 - 1 and A = 48271:
//   h0 = ((t mod P) * A + (s mod P)) mod P,   h = (h0 * A) mod P
// (mod is the non-negative remainder). Expert j of the token is (h + j) mod E,
// so a token's k experts are distinct whenever k <= E.
// token_ids [N] int64 -> experts [N, k] int64.
at::Tensor hash_experts(const at::Tensor& token_ids, std::int64_t salt, std::int64_t experts, std::int64_t top_k);

}  // namespace eulerstack::moe
