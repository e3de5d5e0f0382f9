#include "eulerstack/runtime/module_catalog.hpp"

#include "eulerstack/plugin_host.hpp"

namespace eulerstack {
namespace {

Error plugin_error(std::string id, MessageArgs args) {
  return Error(make_error("PluginError", std::move(id), std::move(args)));
}

template <class Module>
std::shared_ptr<Module> build(const std::map<std::string, ModuleFactory<Module>>& factories, const Json& block,
                              const std::string& plugin, const ModuleContext& context) {
  const auto type = block.at("type").get<std::string>();
  auto it = factories.find(type);
  if (it == factories.end())
    throw plugin_error("plugin.modules_missing_block", {{"plugin", plugin}, {"block", type}});
  auto module = it->second(context);
  if (!module) throw plugin_error("plugin.modules_missing_block", {{"plugin", plugin}, {"block", type}});
  return module;
}

// The context of a block: the model section and the block's own parameters.
ModuleContext context_for(const Json& block, const ModuleContext& base) {
  ModuleContext context = base;
  context.block.params = block.at("params");
  context.refs = block.value("refs", Json::object());
  return context;
}

}  // namespace

void ModuleCatalog::add(const std::string& plugin, ModuleRegistrar registrar) {
  loaded_[plugin] = std::move(registrar);
}

const ModuleRegistrar& ModuleCatalog::modules_of(const std::string& plugin) const {
  if (auto it = loaded_.find(plugin); it != loaded_.end()) return it->second;
  const PluginRecord* record = nullptr;
  for (const auto& loaded : registry_.report().loaded)
    if (loaded.name == plugin) record = &loaded;
  if (!record) throw plugin_error("plugin.modules_unknown_plugin", {{"plugin", plugin}});
  if (record->modules_file.empty())
    throw plugin_error("plugin.no_modules", {{"plugin", plugin}, {"file", record->file.string()}});

  const auto& file = record->modules_file;
  try {
    // Checked against the bundle manifest as it is opened, not only at start-up.
    void* entry_address = open_alias(file, EULERSTACK_PLUGIN_MODULES_ENTRY_NAME, bundle_check_for(file));
    auto* entry = reinterpret_cast<ModulesEntry*>(entry_address);
    const ModulesDescriptor* descriptor = entry();
    if (!descriptor || !lies_in_library_of(descriptor, entry_address))
      throw plugin_error("plugin.no_descriptor", {{"symbol", EULERSTACK_PLUGIN_MODULES_ENTRY_NAME}});
    require_compatible(descriptor->abi_version, descriptor->stamp, plugin);  // before any other field is read
    if (!descriptor->register_modules)
      throw plugin_error("plugin.no_descriptor", {{"symbol", EULERSTACK_PLUGIN_MODULES_ENTRY_NAME}});
    const std::string completes = descriptor->plugin ? descriptor->plugin : "";
    if (completes != plugin)
      throw plugin_error("plugin.modules_wrong_plugin", {{"plugin", plugin}, {"other", completes}});
    ModuleRegistrar registrar;
    descriptor->register_modules(registrar);
    return loaded_[plugin] = std::move(registrar);
  } catch (const Error& e) {
    Diagnostic diagnostic = e.first();
    diagnostic.args["file"] = file.string();
    if (diagnostic.id == "plugin.not_loadable")  // say whose library it is and where it belongs
      diagnostic = make_error("PluginError", "plugin.modules_not_loadable",
                              {{"plugin", plugin}, {"file", file.string()}, {"reason", diagnostic.args["reason"]}});
    throw Error(std::move(diagnostic));
  }
}

std::shared_ptr<MixerModule> ModuleCatalog::make_mixer(const Json& block, const ModuleContext& context) const {
  const auto plugin = block.at("plugin").get<std::string>();
  return build(modules_of(plugin).mixers_, block, plugin, context_for(block, context));
}

std::shared_ptr<FfnModule> ModuleCatalog::make_ffn(const Json& block, const ModuleContext& context) const {
  const auto plugin = block.at("plugin").get<std::string>();
  return build(modules_of(plugin).ffns_, block, plugin, context_for(block, context));
}

std::shared_ptr<PositionalModule> ModuleCatalog::make_positional(const Json& block,
                                                                 const ModuleContext& context) const {
  const auto plugin = block.at("plugin").get<std::string>();
  return build(modules_of(plugin).positionals_, block, plugin, context_for(block, context));
}

std::shared_ptr<RouterModule> ModuleCatalog::make_router(const Json& ref, const ModuleContext& parent) const {
  const auto plugin = ref.at("plugin").get<std::string>();
  // A referenced block sees its own parameters plus the referring block's
  // (a router reads its expert count from the referring block), as in the parameter count.
  ModuleContext context = context_for(ref, parent);
  for (const auto& [key, value] : parent.block.params.items()) context.block.params[key] = value;
  return build(modules_of(plugin).routers_, ref, plugin, context);
}

}  // namespace eulerstack
