#pragma once
// Finds plugin libraries, checks and loads them, and lets them register their
// blocks. Plugins are opened with immediate binding and RTLD_NODELETE and are
// never unloaded: modules and std::functions they created may outlive any scope.

#include <cstdint>
#include <filesystem>
#include <string>
#include <optional>
#include <vector>

#include "eulerstack/registry.hpp"

namespace eulerstack {

struct PluginSearchOptions {
  std::vector<std::filesystem::path> plugin_dirs;  // --plugin-dir, in order
  std::filesystem::path executable_dir;            // anchors the default directories
  bool use_environment = true;                     // read EULERSTACK_PLUGIN_PATH and _SYSTEM_PATH
};

// --plugin-dir entries, then EULERSTACK_PLUGIN_PATH, then the defaults next to
// the executable (build tree and installed layout) or, when set,
// EULERSTACK_PLUGIN_SYSTEM_PATH instead of the defaults. Never the current
// directory unless a user names it.
std::vector<SearchDir> plugin_search_path(const PluginSearchOptions& options);

// The plugin files under a directory (recursing into bundle folders), sorted.
std::vector<std::filesystem::path> plugin_files_in(const std::filesystem::path& dir);

// Loads every plugin on the path into `registry`, recording the path, the
// loaded plugins, the failures and the shadowed duplicates in registry.report().
void load_plugins(Registry& registry, const std::vector<SearchDir>& search_path);

// Loads one file. Returns the record, or nullopt after recording a failure or
// a shadowed duplicate in the report.
const PluginRecord* load_plugin_file(Registry& registry, const std::filesystem::path& file);

// Opens `file` for the life of the process and returns what its Boost.DLL
// alias `symbol` points to. Throws Error(PluginError): plugin.not_loadable
// (with the loader's reason) or plugin.missing_entry.
void* open_alias(const std::filesystem::path& file, const char* symbol);

// Throws Error(PluginError) plugin.abi_mismatch or plugin.build_mismatch,
// printing both sides, unless a library's ABI version and stamp match this host.
void require_compatible(std::uint32_t abi_version, const BuildStamp& stamp, const std::string& name);

// The directory holding the running executable (/proc/self/exe).
std::filesystem::path executable_dir();

}  // namespace eulerstack
