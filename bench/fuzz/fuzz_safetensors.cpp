// libFuzzer target: a safetensors file's bytes through the header reader
// (from a memfd, since the reader takes a path).

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "eulerstack/diagnostics.hpp"
#include "eulerstack/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const int fd = memfd_create("fuzz.safetensors", 0);
  if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != static_cast<ssize_t>(size)) return 0;
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  try {
    auto header = eulerstack::safetensors::read_header(path);
    std::string buffer;
    for (const auto& entry : header.tensors) {
      if (entry.end - entry.begin > (1u << 20)) continue;
      buffer.resize(entry.end - entry.begin);
      eulerstack::safetensors::read_tensor(path, header, entry, buffer.data());
    }
  } catch (const eulerstack::Error&) {
  }
  return 0;
}
