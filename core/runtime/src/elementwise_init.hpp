#pragma once
// Whether an init rule draws each element independently of its position (the
// core rules in eulerstack::init do; a plugin's own rule may not), so that a
// large parameter can be generated piece by piece (initialize.cpp).

#include "eulerstack/runtime/block_module.hpp"

namespace eulerstack {

bool is_elementwise(const InitRule& rule);

}  // namespace eulerstack
