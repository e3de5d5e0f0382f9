#pragma once
// The hidden sibling a file or directory is written into before it is renamed
// into place: .<name>.<tag>-XXXXXX, the name cut short where the whole would
// pass NAME_MAX, so that every legal target name has a legal sibling.

#include <filesystem>
#include <string>

namespace eulerstack::cli {

// A mkstemp/mkdtemp template beside `target`.
std::string hidden_sibling_template(const std::filesystem::path& target, const char* tag);

}  // namespace eulerstack::cli
