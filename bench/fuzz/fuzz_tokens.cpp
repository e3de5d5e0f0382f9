// libFuzzer target: a `run --tokens-file` file's bytes as run reads them: the
// checked, bounded read (from a memfd) and the token id parser, against a
// vocabulary size taken from the first byte. Links LibTorch (the ids become a tensor).

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "../../cli/torch/token_ids.hpp"
#include "eulerstack/checked_file.hpp"
#include "eulerstack/diagnostics.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static const int fd = memfd_create("tokens.txt", 0);
  if (ftruncate(fd, 0) != 0 || pwrite(fd, data + 1, size - 1, 0) != static_cast<ssize_t>(size - 1)) return 0;
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  const std::int64_t vocab = 1 + static_cast<std::int64_t>(data[0]) * 257;
  try {
    const std::string text = eulerstack::read_checked_file(path, 1u << 20, eulerstack::FileKind::StreamAllowed);
    eulerstack::cli::parse_token_ids(text, vocab);
  } catch (const eulerstack::Error&) {
  }
  return 0;
}
