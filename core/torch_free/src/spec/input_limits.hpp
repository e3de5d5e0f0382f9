#pragma once
// What a spec's bytes must satisfy before a YAML tree is built from them, so a
// hostile file costs bounded time and memory and gets a located error:
// the size, strict UTF-8 of printable characters, and a streaming pass over
// the YAML events that bounds what building and converting the tree will cost
// (nodes and bytes after alias expansion, nesting, one value's length).
// Internal to the front end; the limits are LoadLimits (document.hpp).

#include <filesystem>
#include <string>
#include <string_view>

#include "eulerstack/spec/document.hpp"

namespace eulerstack::spec {

// Reads at most limits.max_bytes + 1 bytes, so a device or a pipe (/dev/zero)
// is refused as too large instead of read forever. Throws Error: IOError, spec.too_large.
std::string read_spec_bytes(const std::filesystem::path& path, const LoadLimits& limits);

// Throws Error (ValidationError) with the location: spec.too_large, spec.not_utf8,
// spec.control_character, spec.scalar_too_long, spec.too_many_nodes,
// spec.too_large_expanded, spec.too_deep, spec.multiple_documents (a spec is
// one YAML document, as PyYAML's safe_load requires). YAML syntax errors are left to the
// parser that builds the tree, which meets them within the same bounds.
void check_spec_input(std::string_view text, const std::string& file, const LoadLimits& limits);

// `text` with every CR LF and every lone CR as LF (lines counted alike).
std::string with_lf_line_breaks(std::string_view text);

}  // namespace eulerstack::spec
