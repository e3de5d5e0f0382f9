#include "token_positions.hpp"

#include <ATen/ATen.h>

namespace eulerstack {
namespace {

// This call's columns of the mask as bool [B, T].
at::Tensor current_columns(const at::Tensor& mask, std::int64_t batch, std::int64_t offset, std::int64_t length) {
  TORCH_CHECK(mask.dim() == 2 && mask.size(0) == batch && (mask.size(1) == length || mask.size(1) == offset + length),
              "attention_mask must be [batch, tokens] or [batch, past + tokens] = [", batch, ", ", length, "] or [",
              batch, ", ", offset + length, "], got ", mask.sizes());
  return mask.narrow(1, mask.size(1) - length, length).ne(0);
}

}  // namespace

TokenPositions token_positions(std::int64_t batch, std::int64_t offset, std::int64_t length, const at::Tensor& past_real,
                               const at::Tensor& attention_mask, const at::Device& device) {
  const auto long_options = at::TensorOptions().dtype(at::kLong).device(device);
  TokenPositions out;
  const at::Tensor real =
      attention_mask.defined() ? current_columns(attention_mask.to(device), batch, offset, length) : at::Tensor();
  const bool padded = real.defined() && length > 0 && !real.all().item<bool>();
  if (!padded) {
    if (!past_real.defined()) {
      out.positions = at::arange(offset, offset + length, long_options);
      return out;
    }
    out.real_tokens = past_real + length;
    out.positions = past_real.unsqueeze(1) + at::arange(length, long_options);
    return out;
  }
  const at::Tensor before = past_real.defined() ? past_real : at::full({batch}, offset, long_options);
  const at::Tensor counts = real.to(at::kLong).cumsum(1);
  out.positions = (before.unsqueeze(1) + counts - 1).masked_fill(real.logical_not(), 1);
  out.padding_mask = real;
  out.real_tokens = before + counts.select(1, length - 1);
  return out;
}

at::Tensor last_real_slots(const at::Tensor& padding_mask) {
  const std::int64_t length = padding_mask.size(1);
  const at::Tensor slots = at::arange(1, length + 1, padding_mask.options().dtype(at::kLong));
  return (padding_mask.to(at::kLong) * slots).amax(1).sub(1).clamp_min(0);
}

}  // namespace eulerstack
