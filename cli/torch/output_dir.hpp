#pragma once
// A directory that appears whole or not at all: files are written into a
// hidden temporary sibling, which `publish` renames into place. Destroying an
// unpublished staging directory removes it, so an error or Ctrl-C (SIGINT and
// SIGTERM are turned into an exception at the next `check_interrupted`) leaves
// no partial directory behind and the user's existing directory untouched.
// SIGHUP is treated like SIGINT and SIGTERM; SIGKILL cannot be, and leaves the
// hidden .<name>.partial-XXXXXX sibling behind.

#include <filesystem>

namespace eulerstack::cli {

class StagedDirectory {
 public:
  // Throws Error(IOError): the target is a file or a symbolic link, or a
  // non-empty directory and `replace` is false, or the parent is missing or not writable.
  StagedDirectory(std::filesystem::path target, bool replace);
  ~StagedDirectory();
  StagedDirectory(const StagedDirectory&) = delete;
  StagedDirectory& operator=(const StagedDirectory&) = delete;

  const std::filesystem::path& path() const { return staging_; }  // write here
  const std::filesystem::path& target() const { return target_; }

  // Moves the staged directory to the target (replacing an existing one).
  void publish();

 private:
  std::filesystem::path target_;
  std::filesystem::path staging_;
  bool published_ = false;
};

// Throws Error(IOError, io.interrupted) once SIGINT, SIGTERM or SIGHUP arrived
// while a StagedDirectory existed.
void check_interrupted();

}  // namespace eulerstack::cli
