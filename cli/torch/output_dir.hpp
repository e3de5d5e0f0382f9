#pragma once
// A directory that appears whole or not at all: files are written into a
// hidden temporary sibling, which `publish` renames into place (publish.hpp:
// without `replace` nothing is ever removed, and a directory that appeared
// meanwhile wins). Destroying an unpublished staging directory removes it, so
// an error or Ctrl-C (SIGINT, SIGTERM and SIGHUP are turned into an exception
// at the next `check_interrupted`) leaves no partial directory behind and the
// user's existing directory untouched. SIGKILL cannot be handled, and leaves
// the hidden .<name>.partial-XXXXXX sibling behind.

#include <filesystem>
#include <optional>

#include "eulerstack/diagnostics.hpp"
#include "eulerstack/stop_signals.hpp"

namespace eulerstack::cli {

class StagedDirectory {
 public:
  // Throws Error(IOError): the target is a file or a symbolic link, or a
  // non-empty directory and `replace` is false, or holds a mount point and
  // `replace` is true, or the parent is missing or not writable; an empty
  // name is a UsageError.
  StagedDirectory(std::filesystem::path target, bool replace);
  ~StagedDirectory();
  StagedDirectory(const StagedDirectory&) = delete;
  StagedDirectory& operator=(const StagedDirectory&) = delete;

  const std::filesystem::path& path() const { return staging_; }  // write here
  const std::filesystem::path& target() const { return target_; }

  // Moves the staged directory to the target (replacing an existing one only
  // with `replace`). Returns a warning when the replaced directory could not be
  // removed completely. Throws Error(IOError): io.target_appeared, io.cannot_write.
  std::optional<Diagnostic> publish();

 private:
  std::filesystem::path target_;
  std::filesystem::path staging_;
  bool replace_ = false;
  bool published_ = false;
  StopRequestedFlag stop_flag_;  // a stop signal stops the export at its next check
};

// Throws Error(IOError, io.interrupted) once SIGINT, SIGTERM or SIGHUP arrived
// while a StagedDirectory existed.
void check_interrupted();

}  // namespace eulerstack::cli
