#pragma once
// The bundled plugins' descriptors linked into a fuzz target: each plugin's
// descriptor source is compiled with its `eulerstack_plugin` alias renamed
// (see build.sh), so all six live in one binary and register in-process.

#include "eulerstack/registry.hpp"

namespace eulerstack::fuzz {

const Registry& builtin_registry();

}  // namespace eulerstack::fuzz
