#pragma once
// Writes a file so that readers see the old content or the new, never half:
// a temporary sibling is written, flushed and renamed over the target.

#include <filesystem>
#include <string_view>

namespace eulerstack::cli {

// Throws Error(IOError, io.cannot_write) and leaves no temporary file behind.
void write_file_atomically(const std::filesystem::path& target, std::string_view content);

}  // namespace eulerstack::cli
