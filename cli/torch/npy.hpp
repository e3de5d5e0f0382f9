#pragma once
// A tensor as the bytes of a NumPy .npy file (format 1.0, little-endian float32).

#include <string>

#include <ATen/core/Tensor.h>

namespace eulerstack::cli {

std::string npy_float32(const at::Tensor& tensor);
// "2, 5, 512"
std::string npy_shape(const at::Tensor& tensor);

}  // namespace eulerstack::cli
