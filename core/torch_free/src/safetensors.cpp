#include "eulerstack/safetensors.hpp"

#include <algorithm>
#include <limits>
#include <map>

#include "eulerstack/bounded_json.hpp"
#include "eulerstack/checked_count.hpp"
#include "eulerstack/checked_file.hpp"
#include "eulerstack/diagnostics.hpp"

namespace eulerstack::safetensors {
namespace {

// The reference implementation's limit: a larger header is refused unread.
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;

Error invalid(const std::filesystem::path& file, const std::string& reason) {
  return Error(make_error("IOError", "safetensors.invalid", {{"file", file.string()}, {"reason", reason}}));
}

const std::map<std::string, std::size_t>& dtype_sizes() {
  static const std::map<std::string, std::size_t> sizes{
      {"BOOL", 1}, {"U8", 1}, {"I8", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1}, {"I16", 2}, {"U16", 2}, {"F16", 2},
      {"BF16", 2}, {"I32", 4}, {"U32", 4}, {"F32", 4}, {"I64", 8}, {"U64", 8}, {"F64", 8}};
  return sizes;
}

// Throws CountOverflow when the shape's product or its byte size does not fit in 64 bits.
Count element_count(const std::vector<std::int64_t>& shape) {
  Count n = 1;
  for (auto d : shape) n *= d;
  return n;
}

}  // namespace

std::size_t dtype_size(const std::string& dtype) {
  auto it = dtype_sizes().find(dtype);
  if (it == dtype_sizes().end()) throw invalid("", "unknown dtype '" + dtype + "'");
  return it->second;
}

std::uint64_t byte_size(const TensorEntry& entry) {
  return static_cast<std::uint64_t>((element_count(entry.shape) * static_cast<std::int64_t>(dtype_size(entry.dtype))).value());
}

std::string frame(std::vector<TensorEntry>& entries, const Json& metadata) {
  nlohmann::json header = nlohmann::json::object();  // sorted keys: the same entries give the same bytes
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::uint64_t offset = 0;
  for (auto& entry : entries) {
    entry.begin = offset;
    entry.end = offset += byte_size(entry);
    header[entry.name] = {{"dtype", entry.dtype}, {"shape", entry.shape}, {"data_offsets", {entry.begin, entry.end}}};
  }
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((json.size() >> (8 * i)) & 0xff);
  return out + json;
}

// A weights file may be as large as the disk; what is read of it is bounded by the header limit.
constexpr std::uint64_t kAnySize = std::numeric_limits<std::uint64_t>::max();

Header read_header(const std::filesystem::path& file) {
  CheckedFile in(file, kAnySize);
  const std::uint64_t file_size = in.size();
  if (file_size < 8) throw invalid(file, "the file is shorter than the 8-byte header length");
  unsigned char length_bytes[8];
  in.read_at(0, length_bytes, 8);
  std::uint64_t length = 0;
  for (int i = 7; i >= 0; --i) length = (length << 8) | length_bytes[i];
  if (length > kMaxHeaderBytes)
    throw invalid(file, "the header claims " + std::to_string(length) + " bytes, more than the 100 MB limit");
  if (length > file_size - 8)
    throw invalid(file, "the header claims " + std::to_string(length) + " bytes but the file has " +
                            std::to_string(file_size - 8) + " after the length");
  std::string text(length, '\0');
  in.read_at(8, text.data(), text.size());

  Header header;
  header.data_start = 8 + length;
  const std::uint64_t buffer = file_size - header.data_start;
  std::string why;
  auto parsed = parse_bounded_json(text, 3, why);  // {name: {dtype, shape: [...], data_offsets: [...]}}
  if (!parsed) throw invalid(file, "the header is not JSON of the expected shape: " + why);
  Json& json = *parsed;
  if (!json.is_object()) throw invalid(file, "the header is not a JSON object");
  for (auto& [name, value] : json.items()) {
    if (name == "__metadata__") {
      if (!value.is_object()) throw invalid(file, "__metadata__ is not an object");
      for (auto& [key, v] : value.items())
        if (!v.is_string()) throw invalid(file, "__metadata__." + key + " is not a string");
      header.metadata = value;
      continue;
    }
    const std::string where = "tensor '" + name + "': ";
    if (!value.is_object() || !value.contains("dtype") || !value.contains("shape") || !value.contains("data_offsets"))
      throw invalid(file, where + "needs dtype, shape and data_offsets");
    TensorEntry entry;
    entry.name = name;
    if (!value["dtype"].is_string() || !dtype_sizes().count(value["dtype"].get<std::string>()))
      throw invalid(file, where + "unknown dtype " + value["dtype"].dump());
    entry.dtype = value["dtype"].get<std::string>();
    if (!value["shape"].is_array()) throw invalid(file, where + "shape is not a list");
    for (const auto& d : value["shape"]) {
      if (!d.is_number_unsigned() || d.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX))
        throw invalid(file, where + "shape " + value["shape"].dump() + " is not a list of sizes");
      entry.shape.push_back(d.get<std::int64_t>());
    }
    std::uint64_t size = 0;
    try {
      size = byte_size(entry);
    } catch (const CountOverflow&) {
      throw invalid(file, where + "shape " + value["shape"].dump() + " of " + entry.dtype + " does not fit in 64 bits");
    }
    const auto& offsets = value["data_offsets"];
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() || !offsets[1].is_number_unsigned())
      throw invalid(file, where + "data_offsets is not [begin, end]");
    entry.begin = offsets[0].get<std::uint64_t>();
    entry.end = offsets[1].get<std::uint64_t>();
    if (entry.begin > entry.end || entry.end > buffer)
      throw invalid(file, where + "data_offsets " + offsets.dump() + " lie outside the " + std::to_string(buffer) +
                              "-byte data buffer");
    if (entry.end - entry.begin != size)
      throw invalid(file, where + "holds " + std::to_string(entry.end - entry.begin) + " bytes but shape " +
                              value["shape"].dump() + " of " + entry.dtype + " needs " + std::to_string(size));
    header.tensors.push_back(std::move(entry));
  }
  std::sort(header.tensors.begin(), header.tensors.end(),
            [](const TensorEntry& a, const TensorEntry& b) { return a.begin < b.begin || (a.begin == b.begin && a.end < b.end); });
  std::uint64_t expected = 0;
  for (const auto& entry : header.tensors) {
    if (entry.begin < expected) throw invalid(file, "tensor '" + entry.name + "' overlaps the tensor before it");
    if (entry.begin > expected)
      throw invalid(file, "bytes " + std::to_string(expected) + ".." + std::to_string(entry.begin) + " belong to no tensor");
    expected = entry.end;
  }
  if (expected != buffer)
    throw invalid(file, "the data buffer has " + std::to_string(buffer) + " bytes but the tensors cover " +
                            std::to_string(expected));
  return header;
}

void read_tensor(const std::filesystem::path& file, const Header& header, const TensorEntry& entry, void* out) {
  CheckedFile in(file, kAnySize);
  if (in.size() < header.data_start + entry.end) throw invalid(file, "tensor '" + entry.name + "' could not be read");
  in.read_at(header.data_start + entry.begin, out, static_cast<std::size_t>(entry.end - entry.begin));
}

}  // namespace eulerstack::safetensors
