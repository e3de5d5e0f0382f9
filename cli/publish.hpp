#pragma once
// Moving finished output (a temporary file, a staged directory) into the
// user's place, checked at that moment rather than when the work began.
// Without replacing, nothing is ever removed: the rename refuses an existing
// name (renameat2 RENAME_NOREPLACE), so of two writers racing for one new
// name exactly one wins, and the other fails with io.target_appeared. With
// replacing, the swap is atomic (RENAME_EXCHANGE): the name never disappears.

#include <filesystem>
#include <optional>

#include "eulerstack/diagnostics.hpp"

namespace eulerstack::cli {

// `replace_regular`: the target was a regular file the caller means to replace.
// Throws Error(IOError): io.target_appeared, io.cannot_write.
void publish_file(const std::filesystem::path& staged, const std::filesystem::path& target, bool replace_regular);

// Publishes the directory `staged` as `target`. Without `replace`, only a
// missing target or an empty directory (removed with rmdir, which never
// removes anything else) makes way. With `replace`, an existing directory is
// swapped out and then removed without leaving its file system; what could
// not be removed is returned as a warning naming where it is left.
std::optional<Diagnostic> publish_directory(const std::filesystem::path& staged, const std::filesystem::path& target,
                                            bool replace);

// The first mount point inside `dir` (not `dir` itself), if any.
std::optional<std::filesystem::path> mount_point_inside(const std::filesystem::path& dir);

}  // namespace eulerstack::cli
