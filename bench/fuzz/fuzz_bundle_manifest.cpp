// libFuzzer target: a bundle.json's bytes through the manifest reader (from a
// memfd, since the reader takes a path): the checked open, the bounded linear
// JSON reader, the manifest's own checks; a manifest that reads is written
// back and must read back the same.

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "eulerstack/bundle.hpp"
#include "eulerstack/diagnostics.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const int fd = memfd_create("bundle.json", 0);
  if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != static_cast<ssize_t>(size)) return 0;
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  eulerstack::BundleManifest manifest;
  try {
    manifest = eulerstack::read_manifest(path);
  } catch (const eulerstack::Error&) {
    return 0;
  }
  const std::string written = eulerstack::manifest_json(manifest).dump();
  if (ftruncate(fd, 0) != 0 || pwrite(fd, written.data(), written.size(), 0) != static_cast<ssize_t>(written.size()))
    return 0;
  const auto again = eulerstack::read_manifest(path);  // throws (a finding) if the written form does not read
  if (eulerstack::manifest_json(again).dump() != written) std::abort();
  return 0;
}
