// The safetensors framing and the checks the reader applies to every file.

#include <cstring>
#include <fstream>

#include "eulerstack/safetensors.hpp"
#include "support.hpp"

namespace st = eulerstack::safetensors;

namespace {

std::string read_all(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

std::filesystem::path write(const test::TempDir& dir, const std::string& bytes) {
  auto path = dir.path() / "model.safetensors";
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

// A raw file: the length, `header` as given, then `data_bytes` zero bytes.
std::string raw(const std::string& header, std::size_t data_bytes) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return out + header + std::string(data_bytes, '\0');
}

std::string reason_of(const std::filesystem::path& file) {
  try {
    st::read_header(file);
  } catch (const eulerstack::Error& e) {
    CHECK(e.first().id == "safetensors.invalid");
    return e.first().args.at("reason");
  }
  return "accepted";
}

}  // namespace

TEST_CASE("safetensors: framed entries round-trip through the reader") {
  std::vector<st::TensorEntry> entries{{"b.weight", "F32", {2, 3}}, {"a.bias", "BF16", {3}}, {"c", "I64", {}}};
  std::string bytes = st::frame(entries, {{"format", "pt"}});
  CHECK((bytes.size() % 8) == 0);
  CHECK(entries[0].begin == 0);
  CHECK(entries[0].end == 24);
  CHECK(entries[1].begin == 24);
  CHECK(entries[1].end == 30);
  CHECK(entries[2].end == 38);
  const float values[6] = {1, 2, 3, 4, 5, 6};
  bytes.append(reinterpret_cast<const char*>(values), sizeof(values));
  bytes.append(6 + 8, '\x01');

  test::TempDir dir;
  const auto file = write(dir, bytes);
  const auto header = st::read_header(file);
  REQUIRE(header.tensors.size() == 3);
  CHECK(header.tensors[0].name == "b.weight");
  CHECK(header.tensors[0].shape == std::vector<std::int64_t>{2, 3});
  CHECK(header.metadata["format"] == "pt");
  CHECK(header.data_start == bytes.size() - 38);
  float back[6];
  st::read_tensor(file, header, header.tensors[0], back);
  CHECK(std::memcmp(back, values, sizeof(values)) == 0);
}

TEST_CASE("safetensors: the same entries give the same bytes") {
  std::vector<st::TensorEntry> a{{"x", "F16", {4}}, {"y", "F32", {1}}};
  auto b = a;
  CHECK(st::frame(a, {{"format", "pt"}}) == st::frame(b, {{"format", "pt"}}));
}

TEST_CASE("safetensors: malformed files are refused with the reason") {
  test::TempDir dir;
  CHECK(reason_of(write(dir, "abc")) == "the file is shorter than the 8-byte header length");
  CHECK(reason_of(write(dir, std::string("\xff\xff\xff\xff\x00\x00\x00\x00", 8) + "{}")).find("100 MB limit") !=
        std::string::npos);
  CHECK(reason_of(write(dir, std::string("\x40\x00\x00\x00\x00\x00\x00\x00", 8) + "{}")).find("but the file has 2") !=
        std::string::npos);
  CHECK(reason_of(write(dir, raw("[1, 2]", 0))) == "the header is not a JSON object");
  CHECK(reason_of(write(dir, raw("{not json", 0))).rfind("the header is not JSON of the expected shape: ", 0) == 0);
  // A fuzz finding: a number beyond double's range is out_of_range, not parse_error; it ended the process.
  CHECK(reason_of(write(dir, raw(R"({"t": {"dtype": "F32", "shape": [1], "data_offsets": [0, 1e400]}})", 4)))
            .find("number overflow") != std::string::npos);
  CHECK(reason_of(write(dir, raw(R"({"t": {"dtype": "F32", "shape": [[1]], "data_offsets": [0, 4]}})", 4))) ==
        "the header is not JSON of the expected shape: it nests deeper than 3 levels");
  CHECK(reason_of(write(dir, raw(R"({"t": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 4]}})", 4))) ==
        "tensor 't': shape [4294967296,4294967296] of F32 does not fit in 64 bits");
  CHECK(reason_of(write(dir, raw(R"({"t": {"dtype": "F32", "shape": [9223372036854775808], "data_offsets": [0, 4]}})", 4)))
            .find("is not a list of sizes") != std::string::npos);
  CHECK(reason_of(write(dir, raw(R"({"t": {"dtype": "F33", "shape": [1], "data_offsets": [0, 4]}})", 4)))
            .find("unknown dtype \"F33\"") != std::string::npos);
  CHECK(reason_of(write(dir, raw(R"({"t": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}})", 4)))
            .find("holds 4 bytes but shape [2] of F32 needs 8") != std::string::npos);
  CHECK(reason_of(write(dir, raw(R"({"t": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})", 4)))
            .find("outside the 4-byte data buffer") != std::string::npos);
  CHECK(reason_of(write(dir, raw(R"({"t": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})", 4)))
            .find("is not a list of sizes") != std::string::npos);
  CHECK(reason_of(write(dir, raw(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                      "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})", 8)))
            .find("overlaps") != std::string::npos);
  CHECK(reason_of(write(dir, raw(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})", 8))) ==
        "bytes 0..4 belong to no tensor");
  CHECK(reason_of(write(dir, raw(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", 8))) ==
        "the data buffer has 8 bytes but the tensors cover 4");
  CHECK(reason_of(write(dir, raw(R"({"__metadata__": {"format": 1}})", 0))) == "__metadata__.format is not a string");
  CHECK(reason_of(write(dir, raw(R"({"a": {"dtype": "F32"}})", 0))) == "tensor 'a': needs dtype, shape and data_offsets");
}
