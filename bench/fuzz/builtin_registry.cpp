#include "builtin_registry.hpp"

#include "eulerstack/plugin.hpp"

extern "C" const void* eulerstack_plugin_attention;
extern "C" const void* eulerstack_plugin_mamba;
extern "C" const void* eulerstack_plugin_retnet;
extern "C" const void* eulerstack_plugin_ffn;
extern "C" const void* eulerstack_plugin_moe;
extern "C" const void* eulerstack_plugin_positional;

namespace eulerstack::fuzz {

const Registry& builtin_registry() {
  static Registry* registry = [] {
    auto* r = new Registry();
    for (const void* alias : {eulerstack_plugin_attention, eulerstack_plugin_mamba, eulerstack_plugin_retnet,
                              eulerstack_plugin_ffn, eulerstack_plugin_moe, eulerstack_plugin_positional}) {
      const PluginDescriptor* d = reinterpret_cast<PluginEntry*>(const_cast<void*>(alias))();
      Registrar staged;
      d->register_blocks(staged);
      r->commit({d->name, d->version, d->bundle, d->description, {}, {}, {}, "in-process"}, std::move(staged));
    }
    return r;
  }();
  return *registry;
}

}  // namespace eulerstack::fuzz
