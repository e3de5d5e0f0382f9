#pragma once
// explain's text report (the default output) and its --json form.

#include <string>

#include "eulerstack/spec/frontend.hpp"
#include "session.hpp"

namespace eulerstack::cli {

std::string explain_text(const Session& session, const spec::CompileResult& result);
Json explain_json(const spec::CompileResult& result);

}  // namespace eulerstack::cli
