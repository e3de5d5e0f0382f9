#pragma once
// What differs between two compiled IRs, leaf by leaf (the content of a diff
// of two `compile --print-config` outputs), and which layers differ.

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "eulerstack/param_schema.hpp"

namespace eulerstack::cli::picture {

struct Difference {
  std::string path;                   // "model.d_model", "layer_templates.attn.mixer.params.window"
  std::optional<std::string> before;  // nullopt: only in the second IR
  std::optional<std::string> after;   // nullopt: only in the first IR
};

// Every leaf that differs, in the first IR's order, then the second's own
// leaves. Paths under `layers` and `params.layers` are left out: the layers
// are compared whole by differing_layers.
std::vector<Difference> ir_differences(const Json& a, const Json& b);

// Indices of the layers that differ in anything, or exist in one IR only.
std::set<int> differing_layers(const Json& a, const Json& b);

}  // namespace eulerstack::cli::picture
