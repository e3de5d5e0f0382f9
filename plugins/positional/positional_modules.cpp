// The LibTorch half of the positional plugin.

#include "positional_modules.hpp"

#include "eulerstack/runtime/module_catalog.hpp"

namespace {

void register_modules(eulerstack::ModuleRegistrar& registrar) {
  namespace pos = eulerstack::positional;
  registrar.positional("rope", pos::make_rope);
  registrar.positional("alibi", pos::make_alibi);
  registrar.positional("learned", pos::make_learned);
  // The interface's defaults: no embedding, no rotation, no bias.
  registrar.positional("none", [](const eulerstack::ModuleContext&) {
    return std::make_shared<eulerstack::PositionalModule>();
  });
}

}  // namespace

EULERSTACK_PLUGIN_MODULES(register_modules)
