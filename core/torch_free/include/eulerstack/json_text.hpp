#pragma once
// JSON as text for the user: a string that came from a spec or a model file
// may hold bytes that are not UTF-8, and writing them out must not throw
// halfway through a report; such bytes show as U+FFFD.

#include <string>

#include "eulerstack/param_schema.hpp"

namespace eulerstack {

inline std::string json_text(const Json& value, int indent = -1) {
  return value.dump(indent, ' ', false, Json::error_handler_t::replace);
}

}  // namespace eulerstack
