// The LibTorch half of the ffn plugin (libeulerstack_ffn.modules.so).

#include "eulerstack/runtime/module_catalog.hpp"
#include "modules.hpp"

namespace {

void register_modules(eulerstack::ModuleRegistrar& registrar) {
  registrar.ffn("mlp", eulerstack::ffn::make_mlp);
  registrar.ffn("gated_mlp", eulerstack::ffn::make_gated_mlp);
}

}  // namespace

EULERSTACK_PLUGIN_MODULES("ffn", register_modules)
