#include "eulerstack/diagnostics.hpp"

#include <utility>

namespace eulerstack {

Diagnostic make_error(std::string category, std::string id, MessageArgs args, SourceLocation where) {
  Diagnostic d;
  d.category = std::move(category);
  d.id = std::move(id);
  d.args = std::move(args);
  d.where = std::move(where);
  return d;
}

Error::Error(Diagnostic diagnostic) : Error(std::vector<Diagnostic>{std::move(diagnostic)}) {}

Error::Error(std::vector<Diagnostic> diagnostics)
    : std::runtime_error(diagnostics.empty() ? "InternalError: internal.empty_error"
                                             : diagnostics.front().category + ": " + diagnostics.front().id),
      diagnostics_(std::move(diagnostics)) {
  if (diagnostics_.empty()) diagnostics_.push_back(make_error("InternalError", "internal.empty_error"));
}

}  // namespace eulerstack
