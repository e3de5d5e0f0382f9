#pragma once
// Factories of the positional modules, one file each.

#include <memory>

#include "eulerstack/runtime/interfaces.hpp"

namespace eulerstack::positional {

std::shared_ptr<PositionalModule> make_rope(const ModuleContext& context);
std::shared_ptr<PositionalModule> make_alibi(const ModuleContext& context);
std::shared_ptr<PositionalModule> make_learned(const ModuleContext& context);

}  // namespace eulerstack::positional
