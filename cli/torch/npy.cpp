#include "npy.hpp"

#include <cstdint>

#include <ATen/ATen.h>

namespace eulerstack::cli {

std::string npy_shape(const at::Tensor& tensor) {
  std::string out;
  for (std::int64_t i = 0; i < tensor.dim(); ++i) out += (i ? ", " : "") + std::to_string(tensor.size(i));
  return out;
}

std::string npy_float32(const at::Tensor& tensor) {
  const at::Tensor data = tensor.to(at::kFloat).contiguous().cpu();
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + npy_shape(data) +
                       (data.dim() == 1 ? "," : "") + "), }";
  // magic (6) + version (2) + length (2) + header, padded with spaces and a
  // newline to a multiple of 64 bytes.
  const std::size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>((header.size() >> 8) & 0xff);
  out += header;
  out.append(static_cast<const char*>(data.const_data_ptr()), data.numel() * sizeof(float));
  return out;
}

}  // namespace eulerstack::cli
