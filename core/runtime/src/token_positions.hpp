#pragma once
// What the model passes to its blocks about where each token sits
// (docs/PADDING.md): positions, the padding mask and the real-token counts
// the decoding state carries on.

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace eulerstack {

struct TokenPositions {
  at::Tensor positions;     // int64 [T] when every row has the same positions, else [B, T]
  at::Tensor padding_mask;  // [B, T] bool, or undefined when this call has no padding token
  at::Tensor real_tokens;   // [B] int64 after this call, or undefined when every row has offset + T
};

// The positions of `length` tokens of `batch` rows after `offset` tokens, of
// which `past_real` [B] were real (undefined: all of them). `attention_mask`:
// undefined, [B, length] or [B, offset + length] of 0/1 (its last `length`
// columns are read). A real token's position is the number of real tokens
// before it in its row; a padding token's is 1.
TokenPositions token_positions(std::int64_t batch, std::int64_t offset, std::int64_t length, const at::Tensor& past_real,
                               const at::Tensor& attention_mask, const at::Device& device);

// [B] int64: the slot of each row's last real token (0 for a row without one).
at::Tensor last_real_slots(const at::Tensor& padding_mask);

}  // namespace eulerstack
