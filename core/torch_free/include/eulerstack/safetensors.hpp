#pragma once
// The safetensors format (https://github.com/huggingface/safetensors): an
// 8-byte little-endian header length N, N bytes of JSON header
// {"__metadata__": {...}, "<name>": {"dtype", "shape", "data_offsets": [begin, end]}},
// then the tensor bytes, back to back, covering the buffer exactly. Torch-free:
// the writer lays out and frames, the caller streams the bytes.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "eulerstack/param_schema.hpp"

namespace eulerstack::safetensors {

struct TensorEntry {
  std::string name;
  std::string dtype;                // "F32", "BF16", "F16", ...
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0;          // offsets into the data buffer
  std::uint64_t end = 0;
};

// Bytes per element of a safetensors dtype; throws Error(IOError, safetensors.invalid) when unknown.
std::size_t dtype_size(const std::string& dtype);
std::uint64_t byte_size(const TensorEntry& entry);

// Sets the offsets of `entries`, laid out back to back in the given order, and
// returns the bytes before the data: the length and the JSON header, padded
// with spaces so that the data starts 8-byte aligned. `metadata` is a flat
// string-to-string object ({"format": "pt"}).
std::string frame(std::vector<TensorEntry>& entries, const Json& metadata);

struct Header {
  std::vector<TensorEntry> tensors;  // in data order
  Json metadata = Json::object();
  std::uint64_t data_start = 0;      // file offset of the data buffer
};

// Reads and checks a file's header: size limits, JSON shape, known dtypes,
// sizes equal to shape x dtype, offsets in range, no overlap, no gap, the
// buffer fully covered. Throws Error(IOError, safetensors.invalid) naming the
// file and the first problem.
Header read_header(const std::filesystem::path& file);

// Reads one tensor's bytes into `out` (byte_size(entry) bytes).
void read_tensor(const std::filesystem::path& file, const Header& header, const TensorEntry& entry, void* out);

}  // namespace eulerstack::safetensors
