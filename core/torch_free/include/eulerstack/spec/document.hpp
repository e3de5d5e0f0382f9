#pragma once
// A spec file as data: the YAML tree as JSON plus where each value came from.
// Plain scalars are typed the way upstream's loader (PyYAML, YAML 1.1) types
// them: null/~/empty, yes/no/on/off/true/false, ints, floats; quoted scalars
// stay strings.

#include <filesystem>
#include <map>
#include <string>
#include <string_view>

#include "eulerstack/diagnostics.hpp"
#include "eulerstack/param_schema.hpp"

namespace eulerstack::spec {

// Bounds that keep hostile input (alias bombs, deep nesting) from eating the
// machine; checked while streaming the YAML, before the tree is built (docs/SPEC.md#limits).
struct LoadLimits {
  std::size_t max_bytes = 8u << 20;            // 8 MiB of YAML
  std::size_t max_nodes = 1u << 17;            // after alias expansion, keys included
  std::size_t max_depth = 64;
  std::size_t max_scalar_bytes = 4096;         // one key or value
  std::size_t max_expanded_bytes = 32u << 20;  // scalars and located paths after alias expansion
};

class SpecDocument {
 public:
  std::string file;  // as given by the user, for messages
  Json root;

  // Location of the value at `path` ("model.d_model", "layer_schedule[2].repeat");
  // falls back to the nearest enclosing value, then to the file alone.
  SourceLocation at(std::string_view path) const;
  // Location of the key itself (for unknown-key errors); falls back to at(path).
  SourceLocation key_at(std::string_view path) const;

  void record(std::string path, SourceLocation value, SourceLocation key);

 private:
  std::map<std::string, SourceLocation, std::less<>> values_;
  std::map<std::string, SourceLocation, std::less<>> keys_;
};

// Throws Error: IOError when unreadable, ValidationError (spec.yaml_syntax,
// spec.duplicate_key, spec.too_large, ...) with the location.
SpecDocument load_spec_file(const std::filesystem::path& path, const LoadLimits& limits = {});
SpecDocument parse_spec(std::string_view text, std::string file, const LoadLimits& limits = {});

// "a.b" + "c" -> "a.b.c"; "" + "c" -> "c"; index: "a[3]".
std::string child_path(std::string_view parent, std::string_view key);
std::string index_path(std::string_view parent, std::size_t index);

}  // namespace eulerstack::spec
