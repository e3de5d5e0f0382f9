#pragma once
// The one thing a plugin exports: a function returning its descriptor,
// published under the Boost.DLL alias `eulerstack_plugin`.
//
//   static void register_blocks(eulerstack::Registrar& r) { r.add(...); }
//   EULERSTACK_PLUGIN_WITH_MODULES("attention", "0.1.0", "core", "Softmax attention", register_blocks,
//                                  "libeulerstack_attention.modules.so", "eulerstack_attention.py")
//
// The host reads `abi_version` and `stamp` before anything else and refuses the
// plugin when either differs from its own; those two fields never move.

#include <cstdint>

#include <boost/dll/alias.hpp>

#include "eulerstack/build_stamp.hpp"
#include "eulerstack/registry.hpp"

namespace eulerstack {

// Bump whenever PluginDescriptor, Registrar, BlockSchema, ParamSpec or a module
// interface changes layout or meaning.
constexpr std::uint32_t kPluginAbiVersion = 4;

struct PluginDescriptor {
  std::uint32_t abi_version;  // first, always
  BuildStamp stamp;           // second, always
  const char* name;
  const char* version;
  const char* bundle;
  const char* description;
  void (*register_blocks)(Registrar& registry);
  // File name, beside this library, of the plugin's LibTorch module library
  // (runtime/module_catalog.hpp); nullptr when the plugin only describes blocks.
  const char* modules_library;
  // File name, beside this library, of the plugin's Python twin (the same
  // blocks in PyTorch, copied into HF exports); nullptr when it has none.
  const char* python_module;
};

using PluginEntry = const PluginDescriptor*();

}  // namespace eulerstack

#define EULERSTACK_PLUGIN_ENTRY_NAME "eulerstack_plugin"

#define EULERSTACK_PLUGIN_WITH_MODULES(NAME, VERSION, BUNDLE, DESCRIPTION, REGISTER_FN, MODULES_LIBRARY,   \
                                       PYTHON_MODULE)                                               \
  namespace {                                                                                     \
  const ::eulerstack::PluginDescriptor* eulerstack_describe_plugin() {                            \
    static const ::eulerstack::PluginDescriptor descriptor{                                       \
        ::eulerstack::kPluginAbiVersion, EULERSTACK_BUILD_STAMP, NAME, VERSION, BUNDLE,           \
        DESCRIPTION, &REGISTER_FN, MODULES_LIBRARY, PYTHON_MODULE};                               \
    return &descriptor;                                                                           \
  }                                                                                               \
  }                                                                                               \
  BOOST_DLL_ALIAS(eulerstack_describe_plugin, eulerstack_plugin)

// A plugin without a module library: its blocks validate and explain but cannot be built.
#define EULERSTACK_PLUGIN(NAME, VERSION, BUNDLE, DESCRIPTION, REGISTER_FN) \
  EULERSTACK_PLUGIN_WITH_MODULES(NAME, VERSION, BUNDLE, DESCRIPTION, REGISTER_FN, nullptr, nullptr)
