#pragma once
// Files from places eulerstack does not control (a model directory, a bundle,
// a tokens file, a spec): the path is checked before it is opened, so that a
// FIFO never blocks and a device never feeds forever, and every read stays
// within a size bound. Regular files only, unless the caller named the file
// itself and accepts a stream (a pipe, /dev/stdin), which is read bounded too.
// Torch-free.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

namespace eulerstack {

enum class FileKind {
  RegularOnly,    // anything else is io.not_regular_file, refused before it is opened
  StreamAllowed,  // a FIFO or a character device is read, at most max_bytes
};

class CheckedFile {
 public:
  // Throws Error(IOError): io.cannot_read (missing, unreadable, changed while
  // opened), io.not_regular_file, io.file_too_large (a regular file over max_bytes).
  CheckedFile(std::filesystem::path path, std::uint64_t max_bytes, FileKind kind = FileKind::RegularOnly);
  ~CheckedFile();
  CheckedFile(const CheckedFile&) = delete;
  CheckedFile& operator=(const CheckedFile&) = delete;

  int fd() const { return fd_; }
  const std::filesystem::path& path() const { return path_; }
  bool is_regular() const { return regular_; }
  std::uint64_t size() const { return size_; }  // regular files: the size when opened; streams: 0

  // Up to `limit` bytes from the current position; one byte more is read to
  // tell whether there is more (`more` is set then, the byte is dropped).
  std::string read_up_to(std::uint64_t limit, bool& more);
  // The whole file; more than max_bytes is io.file_too_large.
  std::string read_all();
  // Exactly `bytes` bytes at `offset` (regular files), or io.cannot_read.
  void read_at(std::uint64_t offset, void* out, std::size_t bytes) const;

  [[noreturn]] void fail_read(const std::string& reason) const;

  // Leaves the descriptor open for good (a library loaded through /proc/self/fd/N keeps that name).
  void release() { fd_ = -1; }

 private:
  std::filesystem::path path_;
  std::uint64_t max_bytes_;
  int fd_ = -1;
  bool regular_ = false;
  std::uint64_t size_ = 0;
};

// CheckedFile(path, max_bytes, kind).read_all().
std::string read_checked_file(const std::filesystem::path& path, std::uint64_t max_bytes,
                              FileKind kind = FileKind::RegularOnly);

}  // namespace eulerstack
