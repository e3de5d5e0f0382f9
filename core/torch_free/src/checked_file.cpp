#include "eulerstack/checked_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "eulerstack/diagnostics.hpp"

namespace eulerstack {
namespace {

const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

bool streamable(mode_t mode) { return S_ISFIFO(mode) || S_ISCHR(mode); }

}  // namespace

void CheckedFile::fail_read(const std::string& reason) const {
  throw Error(make_error("IOError", "io.cannot_read_because", {{"path", path_.string()}, {"reason", reason}}));
}

CheckedFile::CheckedFile(std::filesystem::path path, std::uint64_t max_bytes, FileKind kind)
    : path_(std::move(path)), max_bytes_(max_bytes) {
  const auto refuse_kind = [&](mode_t mode) {
    throw Error(make_error("IOError", "io.not_regular_file", {{"path", path_.string()}, {"kind", kind_of(mode)}}));
  };
  const auto too_large = [&](std::uint64_t bytes) {
    throw Error(make_error("IOError", "io.file_too_large",
                           {{"path", path_.string()}, {"bytes", std::to_string(bytes)}, {"limit", std::to_string(max_bytes_)}}));
  };
  // Checked before it is opened: opening a FIFO blocks, opening a device may act on it.
  struct stat before {};
  if (::stat(path_.c_str(), &before) != 0) fail_read(std::strerror(errno));
  const bool accepted = S_ISREG(before.st_mode) || (kind == FileKind::StreamAllowed && streamable(before.st_mode));
  if (!accepted) refuse_kind(before.st_mode);
  if (S_ISREG(before.st_mode) && static_cast<std::uint64_t>(before.st_size) > max_bytes_) too_large(before.st_size);
  fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd_ < 0) fail_read(std::strerror(errno));
  struct stat after {};
  if (::fstat(fd_, &after) != 0) fail_read(std::strerror(errno));
  if (after.st_dev != before.st_dev || after.st_ino != before.st_ino ||
      (after.st_mode & S_IFMT) != (before.st_mode & S_IFMT))
    fail_read("it was replaced while it was opened");
  regular_ = S_ISREG(after.st_mode);
  if (regular_ && static_cast<std::uint64_t>(after.st_size) > max_bytes_) too_large(after.st_size);
  size_ = regular_ ? static_cast<std::uint64_t>(after.st_size) : 0;
  // Reads of an accepted stream may wait for its writer; only the open must not.
  const int flags = ::fcntl(fd_, F_GETFL);
  if (flags < 0 || ::fcntl(fd_, F_SETFL, flags & ~O_NONBLOCK) != 0) fail_read(std::strerror(errno));
}

CheckedFile::~CheckedFile() {
  if (fd_ >= 0) ::close(fd_);
}

std::string CheckedFile::read_up_to(std::uint64_t limit, bool& more) {
  std::string out;
  out.resize(static_cast<std::size_t>(std::min<std::uint64_t>(regular_ ? size_ : 1 << 16, limit) + 1));
  std::size_t have = 0;
  while (have <= limit) {
    if (have == out.size()) out.resize(static_cast<std::size_t>(std::min<std::uint64_t>(out.size() * 2, limit + 1)));
    const ssize_t n = ::read(fd_, out.data() + have, out.size() - have);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail_read(std::strerror(errno));
    if (n == 0) break;
    have += static_cast<std::size_t>(n);
  }
  more = have > limit;
  out.resize(std::min<std::size_t>(have, static_cast<std::size_t>(limit)));
  return out;
}

std::string CheckedFile::read_all() {
  bool more = false;
  std::string text = read_up_to(max_bytes_, more);
  if (more)
    throw Error(make_error("IOError", "io.file_too_large", {{"path", path_.string()},
                                                            {"bytes", "more than " + std::to_string(max_bytes_)},
                                                            {"limit", std::to_string(max_bytes_)}}));
  return text;
}

void CheckedFile::read_at(std::uint64_t offset, void* out, std::size_t bytes) const {
  auto* at = static_cast<char*>(out);
  while (bytes > 0) {
    const ssize_t n = ::pread(fd_, at, bytes, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail_read(std::strerror(errno));
    if (n == 0) fail_read("it ends early");
    at += n, offset += static_cast<std::uint64_t>(n), bytes -= static_cast<std::size_t>(n);
  }
}

std::string read_checked_file(const std::filesystem::path& path, std::uint64_t max_bytes, FileKind kind) {
  return CheckedFile(path, max_bytes, kind).read_all();
}

}  // namespace eulerstack
