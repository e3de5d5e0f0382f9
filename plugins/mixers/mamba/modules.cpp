// The LibTorch half of the mamba plugin: one mixer factory, "mamba", building
// Mamba2 or Mamba1 by the block's `variant`.

#include <string>

#include "eulerstack/runtime/module_catalog.hpp"
#include "mamba1.hpp"
#include "mamba2.hpp"

namespace {

void register_modules(eulerstack::ModuleRegistrar& registrar) {
  registrar.mixer("mamba", [](const eulerstack::ModuleContext& context) {
    return context.block.param<std::string>("variant") == "mamba1" ? eulerstack::mamba::make_mamba1(context)
                                                                    : eulerstack::mamba::make_mamba2(context);
  });
}

}  // namespace

EULERSTACK_PLUGIN_MODULES(register_modules)
