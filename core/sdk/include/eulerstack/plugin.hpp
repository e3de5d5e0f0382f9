#pragma once
// The one thing a plugin exports: a function returning its descriptor,
// published under the Boost.DLL alias `eulerstack_plugin`.
//
//   static void register_blocks(eulerstack::Registrar& r) { r.add(...); }
//   EULERSTACK_PLUGIN("Softmax attention", register_blocks)
//
// The build names the plugin, once: EULERSTACK_PLUGIN_NAME (the plugin folder's
// name), _VERSION, _BUNDLE, _MODULES_LIBRARY and _PYTHON_MODULE ("" for none)
// come from plugins/meson.build in tree and from the SDK's plugin project out
// of tree, which also compile the folder's i18n/<lang>.json into the library
// (eulerstack_plugin_build::catalogs, the texts of its BlockIssue ids).
//
// The host reads `abi_version` and `stamp` before anything else and refuses the
// plugin when either differs from its own; those two fields never move.

#include <cstddef>
#include <cstdint>

#include <boost/dll/alias.hpp>

#include "eulerstack/build_stamp.hpp"
#include "eulerstack/registry.hpp"

namespace eulerstack {

// Bump whenever PluginDescriptor, Registrar, BlockSchema, ParamSpec or a module
// interface changes layout or meaning.
constexpr std::uint32_t kPluginAbiVersion = 5;

// One language of a plugin's messages: a JSON object of id -> {msg, fix, see},
// every id starting with "<plugin name>.".
struct PluginCatalog {
  const char* lang;  // en, ko, zh, ja, es
  const char* json;
};

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
  const PluginCatalog* catalogs;  // catalog_count entries; English among them when any
  std::size_t catalog_count;
};

using PluginEntry = const PluginDescriptor*();

}  // namespace eulerstack

#define EULERSTACK_PLUGIN_ENTRY_NAME "eulerstack_plugin"

// Every field given: for descriptors a build does not name (the test fixtures).
#define EULERSTACK_PLUGIN_DESCRIPTOR(NAME, VERSION, BUNDLE, DESCRIPTION, REGISTER_FN, MODULES_LIBRARY, PYTHON_MODULE, \
                                     CATALOGS, CATALOG_COUNT)                                                    \
  namespace {                                                                                                   \
  const ::eulerstack::PluginDescriptor* eulerstack_describe_plugin() {                                          \
    static const ::eulerstack::PluginDescriptor descriptor{                                                     \
        ::eulerstack::kPluginAbiVersion, EULERSTACK_BUILD_STAMP, NAME, VERSION, BUNDLE, DESCRIPTION,            \
        &REGISTER_FN, MODULES_LIBRARY, PYTHON_MODULE, CATALOGS, CATALOG_COUNT};                                 \
    return &descriptor;                                                                                         \
  }                                                                                                             \
  }                                                                                                             \
  BOOST_DLL_ALIAS(eulerstack_describe_plugin, eulerstack_plugin)

namespace eulerstack_plugin_build {
// Defined by the source the build generates from the plugin's i18n/ folder.
extern const ::eulerstack::PluginCatalog* const catalogs;
extern const std::size_t catalog_count;
}  // namespace eulerstack_plugin_build

#define EULERSTACK_PLUGIN(DESCRIPTION, REGISTER_FN)                                                         \
  EULERSTACK_PLUGIN_DESCRIPTOR(EULERSTACK_PLUGIN_NAME, EULERSTACK_PLUGIN_VERSION, EULERSTACK_PLUGIN_BUNDLE, \
                               DESCRIPTION, REGISTER_FN, EULERSTACK_PLUGIN_MODULES_LIBRARY,                 \
                               EULERSTACK_PLUGIN_PYTHON_MODULE, ::eulerstack_plugin_build::catalogs,        \
                               ::eulerstack_plugin_build::catalog_count)
