#include "atomic_file.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "eulerstack/diagnostics.hpp"
#include "eulerstack/stop_signals.hpp"
#include "hidden_sibling.hpp"
#include "publish.hpp"

namespace fs = std::filesystem;

namespace eulerstack::cli {
namespace {

[[noreturn]] void cannot_write(const fs::path& path, const std::string& reason) {
  throw Error(make_error("IOError", "io.cannot_write", {{"path", path.string()}, {"reason", reason}}));
}

void write_all(int fd, const char* data, std::size_t size, const fs::path& path) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) cannot_write(path, std::strerror(errno));
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

}  // namespace

mode_t current_umask() {
  const mode_t mask = ::umask(0);
  ::umask(mask);
  return mask;
}

OutputFile::OutputFile(fs::path path) : path_(std::move(path)) {
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
  if (fd_ < 0) fail(errno);
}

OutputFile::~OutputFile() {
  if (fd_ >= 0) ::close(fd_);
}

void OutputFile::fail(int error) const { cannot_write(path_, std::strerror(error)); }

void OutputFile::write(const void* data, std::size_t size) {
  write_all(fd_, static_cast<const char*>(data), size, path_);
}

void OutputFile::close() {
  const bool synced = ::fsync(fd_) == 0;
  const int saved = errno;
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail(errno);
  if (!synced) fail(saved);
}

void write_new_file(const fs::path& path, std::string_view content) {
  OutputFile file(path);
  file.write(content.data(), content.size());
  file.close();
}

void write_file_atomically(const fs::path& target, std::string_view content) {
  StopDeferred deferred;  // a stop signal takes effect once the temporary file is renamed or removed
  std::error_code ec;
  const auto status = fs::symlink_status(target, ec);
  if (fs::is_symlink(status)) cannot_write(target, "it is a symbolic link; name the file itself");
  if (fs::is_directory(status)) cannot_write(target, "it is a directory");
  if (fs::exists(status) && !fs::is_regular_file(status))
    cannot_write(target, "it is not a regular file (a FIFO, a device or a socket); name a new file or a regular one");
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  if (!fs::is_directory(dir, ec)) cannot_write(target, "the directory " + dir.string() + " does not exist");
  // mkstemp creates the file exclusively with a fresh name: nothing planted beside the target is written through.
  std::string temp = hidden_sibling_template(target, "tmp");
  const int fd = ::mkstemp(temp.data());
  if (fd < 0) cannot_write(target, std::strerror(errno));
  struct stat existing {};
  const bool replacing = fs::is_regular_file(status) && ::stat(target.c_str(), &existing) == 0;
  const mode_t mode = replacing ? existing.st_mode & 07777 : 0666 & ~current_umask();
  try {
    if (::fchmod(fd, mode) != 0) cannot_write(target, std::strerror(errno));
    write_all(fd, content.data(), content.size(), target);
    if (::fsync(fd) != 0) cannot_write(target, std::strerror(errno));
  } catch (...) {
    ::close(fd);
    ::unlink(temp.c_str());
    throw;
  }
  if (::close(fd) != 0) {
    const int error = errno;
    ::unlink(temp.c_str());
    cannot_write(target, std::strerror(error));
  }
  try {
    publish_file(temp, target, replacing);
  } catch (...) {
    ::unlink(temp.c_str());
    throw;
  }
}

}  // namespace eulerstack::cli
