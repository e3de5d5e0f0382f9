#pragma once

#include <memory>

#include "eulerstack/runtime/interfaces.hpp"

namespace eulerstack::mamba {

// The Mamba1 mixer (variant mamba1), parameters as listed in mamba_plugin.cpp.
std::shared_ptr<MixerModule> make_mamba1(const ModuleContext& context);

}  // namespace eulerstack::mamba
