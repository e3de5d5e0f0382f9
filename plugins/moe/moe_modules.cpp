// The LibTorch half of the moe plugin (libeulerstack_moe.modules.so).

#include "eulerstack/runtime/module_catalog.hpp"
#include "moe.hpp"
#include "router.hpp"

namespace {

using eulerstack::ModuleContext;
using eulerstack::moe::Scoring;

void register_modules(eulerstack::ModuleRegistrar& registrar) {
  registrar.ffn("moe", eulerstack::moe::make_moe);
  registrar.router("softmax", [](const ModuleContext& c) { return eulerstack::moe::make_router(c, Scoring::Softmax); });
  registrar.router("sigmoid", [](const ModuleContext& c) { return eulerstack::moe::make_router(c, Scoring::Sigmoid); });
}

}  // namespace

EULERSTACK_PLUGIN_MODULES(register_modules)
