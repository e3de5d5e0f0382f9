// The retnet plugin's LibTorch modules.

#include "eulerstack/runtime/module_catalog.hpp"
#include "retnet_module.hpp"

namespace {

void register_modules(eulerstack::ModuleRegistrar& registrar) {
  registrar.mixer("retnet", eulerstack::retnet::make_retnet);
}

}  // namespace

EULERSTACK_PLUGIN_MODULES(register_modules)
