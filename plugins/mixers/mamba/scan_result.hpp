#pragma once

#include <ATen/core/Tensor.h>

namespace eulerstack::mamba {

// What a state-space scan returns: the outputs (float32, without the D skip)
// and the state after the last token (float32).
struct ScanResult {
  at::Tensor y;
  at::Tensor state;
};

}  // namespace eulerstack::mamba
