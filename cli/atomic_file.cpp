#include "atomic_file.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "eulerstack/diagnostics.hpp"

namespace fs = std::filesystem;

namespace eulerstack::cli {

void write_file_atomically(const fs::path& target, std::string_view content) {
  auto fail = [&](const std::string& reason) {
    throw Error(make_error("IOError", "io.cannot_write", {{"path", target.string()}, {"reason", reason}}));
  };
  std::error_code ec;
  if (fs::is_directory(target, ec)) fail("it is a directory");
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  if (!fs::is_directory(dir, ec)) fail("the directory " + dir.string() + " does not exist");
  const fs::path temp = dir / ("." + target.filename().string() + ".tmp." + std::to_string(getpid()));
  std::FILE* f = std::fopen(temp.c_str(), "wb");
  if (!f) fail(std::strerror(errno));
  const bool written = std::fwrite(content.data(), 1, content.size(), f) == content.size() && std::fflush(f) == 0 &&
                       fsync(fileno(f)) == 0;
  const int saved = errno;
  const bool closed = std::fclose(f) == 0;
  if (!written || !closed) {
    fs::remove(temp, ec);
    fail(std::strerror(written ? errno : saved));
  }
  fs::rename(temp, target, ec);
  if (ec) {
    fs::remove(temp, ec);
    fail(ec.message());
  }
}

}  // namespace eulerstack::cli
