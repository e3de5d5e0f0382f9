#include "builtin_registry.hpp"

#include "eulerstack/messages.hpp"
#include "eulerstack/plugin.hpp"

// EULERSTACK_FUZZ_PLUGINS is "X(attention) X(mamba) ...", from build/plugins/builtin_plugins.json (build.sh).
#define X(name) extern "C" const void* eulerstack_plugin_##name;
EULERSTACK_FUZZ_PLUGINS
#undef X

namespace eulerstack::fuzz {

const Registry& builtin_registry() {
  static Registry* registry = [] {
    auto* r = new Registry();
#define X(name) eulerstack_plugin_##name,
    for (const void* alias : {EULERSTACK_FUZZ_PLUGINS}) {
#undef X
      const PluginDescriptor* d = reinterpret_cast<PluginEntry*>(const_cast<void*>(alias))();
      Registrar staged;
      d->register_blocks(staged);
      std::string why;
      if (auto messages = parse_plugin_messages(d->name, d->catalogs, d->catalog_count, why)) add_plugin_messages(*messages);
      r->commit({d->name, d->version, d->bundle, d->description, {}, {}, {}, "in-process"}, std::move(staged));
    }
    return r;
  }();
  return *registry;
}

}  // namespace eulerstack::fuzz
