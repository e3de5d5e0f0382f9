#pragma once
// JSON from files eulerstack did not necessarily write (an exported model's
// config.json and index, a safetensors header, a bundle manifest): parsed in
// time and memory linear in its size, with the limits checked as it streams.
// A nesting limit keeps later recursive walks (copies, dumps, comparisons)
// off the stack's end; a key twice in one object is refused (which one would
// count is a guess). Torch-free.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "eulerstack/param_schema.hpp"

namespace eulerstack {

// The parsed value, or nullopt with `why` set: not JSON, nested deeper than
// max_depth, or a key repeated within one object.
std::optional<Json> parse_bounded_json(std::string_view text, std::size_t max_depth, std::string& why);

}  // namespace eulerstack
