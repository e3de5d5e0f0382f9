#pragma once
// JSON from files eulerstack did not necessarily write (an exported model's
// config.json, a safetensors header): parsed with a nesting limit, so a
// hostile file cannot make later recursive walks (copies, dumps, comparisons)
// overflow the stack. Torch-free.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "eulerstack/param_schema.hpp"

namespace eulerstack {

// The parsed value, or nullopt with `why` set: not JSON, or nested deeper than max_depth.
std::optional<Json> parse_bounded_json(std::string_view text, std::size_t max_depth, std::string& why);

}  // namespace eulerstack
