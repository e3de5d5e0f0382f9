#pragma once

#include <memory>

#include "eulerstack/runtime/interfaces.hpp"

namespace eulerstack::moe {

// The "moe" FFN. Throws Error(runtime.unsupported_param) for balance.group_limit.
std::shared_ptr<FfnModule> make_moe(const ModuleContext& context);

}  // namespace eulerstack::moe
