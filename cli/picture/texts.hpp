#pragma once
// The catalog lookup the pictures write their words with (Session::text).

#include <functional>
#include <string>

#include "eulerstack/diagnostics.hpp"

namespace eulerstack::cli::picture {

using Texts = std::function<std::string(const std::string& id, const MessageArgs& args)>;

}  // namespace eulerstack::cli::picture
