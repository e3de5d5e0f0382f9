#pragma once

#include <memory>

#include "eulerstack/runtime/interfaces.hpp"

namespace eulerstack::retnet {

// The "retnet" mixer: multi-scale retention with a swish gate.
std::shared_ptr<MixerModule> make_retnet(const ModuleContext& context);

}  // namespace eulerstack::retnet
