#pragma once
// Padding checks shared by the block tests (docs/PADDING.md): a batch with
// padding on the left, on the right and in the middle against each of its
// rows run alone.

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "eulerstack/runtime/interfaces.hpp"

namespace rt {

// Three rows of `length` slots: 3 padding slots on the left, 2 on the right,
// one in the middle (slot 4).
struct PaddedRows {
  at::Tensor real;                 // [3, length] bool
  at::Tensor positions;            // [3, length]: real tokens counted, padding at 1
  std::vector<at::Tensor> slots;   // per row: the slots of its real tokens

  static PaddedRows make(std::int64_t length = 10);
  std::int64_t rows() const { return static_cast<std::int64_t>(slots.size()); }
  std::int64_t length(std::int64_t row) const { return slots[static_cast<std::size_t>(row)].size(0); }
  // t[row] at the row's real slots: [1, n, ...].
  at::Tensor alone(const at::Tensor& t, std::int64_t row) const;
  eulerstack::MixerInput input(eulerstack::PositionalModule& positional, eulerstack::LayerCache* cache = nullptr) const;
};

struct PaddingDiffs {
  double forward = 0.0;  // max |padded - alone| at the real tokens of one forward
  double decode = 0.0;   // the same for `steps` cached tokens after a padded prefill
};

// x [3, length, d] (padding slots hold inputs too) through `mixer` padded and
// row by row; then `steps` single tokens per row continuing each cache.
PaddingDiffs mixer_padding_diffs(eulerstack::MixerModule& mixer, eulerstack::PositionalModule& positional,
                                 const at::Tensor& x, std::int64_t steps = 3);

}  // namespace rt
