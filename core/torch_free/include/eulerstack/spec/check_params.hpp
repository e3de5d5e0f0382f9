#pragma once
// Stage 1 for any mapping described by a ParamSpec table (a core section or a
// plugin block): unknown keys with "did you mean", required keys, types,
// integer-ness, ranges, choices and nested objects. Every problem is reported,
// with its file:line:column; the result has every default filled in.

#include <set>
#include <string>
#include <vector>

#include "eulerstack/diagnostics.hpp"
#include "eulerstack/param_schema.hpp"
#include "eulerstack/spec/document.hpp"

namespace eulerstack::spec {

struct Diagnostics {
  std::vector<Diagnostic> errors;
  std::vector<Diagnostic> warnings;
};

struct MappingRules {
  // Keys allowed in the mapping besides the params (e.g. `type`, a block's sub-mapping).
  std::set<std::string> extra_keys;
  // Keys that belong to another block than the one selected; reported as
  // "belongs to <owner>" instead of unknown: key -> owner description.
  std::map<std::string, std::string> foreign_keys;
};

// The kind of a YAML value as messages name it: null, bool, int, float, string, list, mapping.
std::string value_type_name(const Json& value);

// Reserved namespaces (experimental., future., vendor.) produce a warning and are dropped.
bool is_reserved_key(const std::string& key);

// Validates `value` (the mapping at `path`) against `params`. Returns the
// normalized mapping (params only, defaults filled); problems go to `out`.
Json check_params(const Json& value, const std::vector<ParamSpec>& params, const std::string& path,
                  const SpecDocument& doc, Diagnostics& out, const MappingRules& rules = {});

// Validates one value against one spec (for callers that walk mappings themselves).
Json check_value(const Json& value, const ParamSpec& spec, const std::string& path, const SpecDocument& doc,
                 Diagnostics& out);

// A ValidationError diagnostic located at `path` in `doc`.
Diagnostic error_at(const SpecDocument& doc, const std::string& path, std::string id, MessageArgs args,
                    bool at_key = false);

}  // namespace eulerstack::spec
