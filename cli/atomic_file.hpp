#pragma once
// Writing files so that a failure (disk full, a file-size limit, a signal)
// is an error, never a half-written file in the user's place:
// write_file_atomically writes a temporary sibling and renames it over the
// target; OutputFile writes one new file inside a directory the caller owns
// (a StagedDirectory). Every step is checked; symbolic links are never followed.

#include <sys/types.h>

#include <filesystem>
#include <string_view>

namespace eulerstack::cli {

// Throws Error(IOError, io.cannot_write) and leaves no temporary file behind.
// The target may not be a directory or a symbolic link; a new file gets the
// mode a plain create would give it (0666 less the umask), a replaced one keeps its mode.
void write_file_atomically(const std::filesystem::path& target, std::string_view content);

// A new file, created exclusively (an existing file or link at `path` is an error).
class OutputFile {
 public:
  explicit OutputFile(std::filesystem::path path);
  ~OutputFile();  // closes without syncing: for the error path; call close() to finish
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  void write(const void* data, std::size_t size);
  void close();  // fsync and close, checked

 private:
  [[noreturn]] void fail(int error) const;
  std::filesystem::path path_;
  int fd_ = -1;
};

void write_new_file(const std::filesystem::path& path, std::string_view content);

// The process's umask (read without changing it for longer than the call).
mode_t current_umask();

}  // namespace eulerstack::cli
