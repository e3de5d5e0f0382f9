#pragma once

#include <memory>

#include "eulerstack/runtime/interfaces.hpp"

namespace eulerstack::mamba {

// The Mamba2 mixer (variant mamba2), parameters as listed in mamba_plugin.cpp.
std::shared_ptr<MixerModule> make_mamba2(const ModuleContext& context);

}  // namespace eulerstack::mamba
