#pragma once
// The LibTorch half of a plugin. A plugin ships two libraries: the torch-free
// descriptor (schemas, checks, counts; what validate and explain load) and,
// named by the descriptor's `modules_library`, a module library that links
// LibTorch and registers one factory per block. The catalog opens a module
// library the first time a model needs one of its blocks, checks its ABI and
// build stamp like the descriptor's, and never unloads it.
//
//   static void register_modules(eulerstack::ModuleRegistrar& r) {
//     r.mixer("attention", [](const eulerstack::ModuleContext& c) { return std::make_shared<Attention>(c); });
//   }
//   EULERSTACK_PLUGIN_MODULES(register_modules)

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <boost/dll/alias.hpp>

#include "eulerstack/build_stamp.hpp"
#include "eulerstack/plugin.hpp"
#include "eulerstack/registry.hpp"
#include "eulerstack/runtime/interfaces.hpp"

namespace eulerstack {

template <class Module>
using ModuleFactory = std::function<std::shared_ptr<Module>(const ModuleContext&)>;

class ModuleRegistrar {
 public:
  void mixer(const std::string& name, ModuleFactory<MixerModule> factory) { mixers_[name] = std::move(factory); }
  void ffn(const std::string& name, ModuleFactory<FfnModule> factory) { ffns_[name] = std::move(factory); }
  void router(const std::string& name, ModuleFactory<RouterModule> factory) { routers_[name] = std::move(factory); }
  void positional(const std::string& name, ModuleFactory<PositionalModule> factory) {
    positionals_[name] = std::move(factory);
  }

 private:
  friend class ModuleCatalog;
  std::map<std::string, ModuleFactory<MixerModule>> mixers_;
  std::map<std::string, ModuleFactory<FfnModule>> ffns_;
  std::map<std::string, ModuleFactory<RouterModule>> routers_;
  std::map<std::string, ModuleFactory<PositionalModule>> positionals_;
};

struct ModulesDescriptor {
  std::uint32_t abi_version;  // first, always (kPluginAbiVersion)
  BuildStamp stamp;           // second, always
  const char* plugin;         // the descriptor's name this library completes
  void (*register_modules)(ModuleRegistrar& registrar);
};

using ModulesEntry = const ModulesDescriptor*();

// Builds block modules from IR block entries ({"type", "plugin", "params", "refs"}).
class ModuleCatalog : public ModuleBuilder {
 public:
  explicit ModuleCatalog(const Registry& registry) : registry_(registry) {}

  // Registers factories in-process for `plugin` (tests, embedders), instead of
  // loading its module library.
  void add(const std::string& plugin, ModuleRegistrar registrar);

  // Each throws Error("PluginError", ...) when the block's plugin has no module
  // library, the library does not load or does not provide the block.
  std::shared_ptr<MixerModule> make_mixer(const Json& block, const ModuleContext& context) const;
  std::shared_ptr<FfnModule> make_ffn(const Json& block, const ModuleContext& context) const;
  std::shared_ptr<PositionalModule> make_positional(const Json& block, const ModuleContext& context) const;
  std::shared_ptr<RouterModule> make_router(const Json& ref, const ModuleContext& parent) const override;

 private:
  const ModuleRegistrar& modules_of(const std::string& plugin) const;

  const Registry& registry_;
  mutable std::map<std::string, ModuleRegistrar> loaded_;  // by plugin name
};

}  // namespace eulerstack

#define EULERSTACK_PLUGIN_MODULES_ENTRY_NAME "eulerstack_plugin_modules"

#define EULERSTACK_PLUGIN_MODULES_OF(PLUGIN, REGISTER_FN)                                           \
  namespace {                                                                                       \
  const ::eulerstack::ModulesDescriptor* eulerstack_describe_modules() {                            \
    static const ::eulerstack::ModulesDescriptor descriptor{::eulerstack::kPluginAbiVersion,        \
                                                            EULERSTACK_BUILD_STAMP, PLUGIN, &REGISTER_FN}; \
    return &descriptor;                                                                             \
  }                                                                                                 \
  }                                                                                                 \
  BOOST_DLL_ALIAS(eulerstack_describe_modules, eulerstack_plugin_modules)

// The usual form: the plugin's name comes from the build (eulerstack/plugin.hpp).
#define EULERSTACK_PLUGIN_MODULES(REGISTER_FN) EULERSTACK_PLUGIN_MODULES_OF(EULERSTACK_PLUGIN_NAME, REGISTER_FN)
