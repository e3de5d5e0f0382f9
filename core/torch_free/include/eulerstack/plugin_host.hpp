#pragma once
// Finds plugin libraries, checks and loads them, and lets them register their
// blocks. Plugins are opened with immediate binding and RTLD_NODELETE and are
// never unloaded: modules and std::functions they created may outlive any scope.

#include <cstdint>
#include <filesystem>
#include <string>
#include <optional>
#include <vector>

#include "eulerstack/bundle.hpp"
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
// a shadowed duplicate in the report. With the bundle manifest that governs
// it, the library is loaded from the descriptor it was hashed through, and
// the record keeps the manifest's checksums of its module library and twin.
const PluginRecord* load_plugin_file(Registry& registry, const std::filesystem::path& file,
                                     const BundleManifest* manifest = nullptr);

// What a bundle manifest says a file must be.
struct LoadCheck {
  std::string sha256;
  std::filesystem::path manifest;
  std::string plugin;
};

// Opens `file` for the life of the process and returns what its Boost.DLL
// alias `symbol` points to: a pointer-sized data symbol holding an address in
// the same library. With `check`, the file is opened once, hashed through
// that descriptor and loaded from it (/proc/self/fd/N), so what runs is what
// was checked. Throws Error(PluginError): plugin.not_loadable (with the
// loader's reason), plugin.missing_entry, plugin.bad_entry,
// plugin.checksum_mismatch, plugin.bundle_file_missing.
void* open_alias(const std::filesystem::path& file, const char* symbol, const LoadCheck* check = nullptr);

// The manifest check of a file that a plugin loaded from a bundle uses later
// (its module library, its Python twin); nullptr outside a bundle.
const LoadCheck* bundle_check_for(const std::filesystem::path& file);

// Whether `address` lies in the library that holds `entry` (a descriptor
// returned by a plugin's entry function must).
bool lies_in_library_of(const void* address, const void* entry);

// Throws Error(PluginError) plugin.abi_mismatch or plugin.build_mismatch,
// printing both sides, unless a library's ABI version and stamp match this host.
void require_compatible(std::uint32_t abi_version, const BuildStamp& stamp, const std::string& name);

// The directory holding the running executable (/proc/self/exe).
std::filesystem::path executable_dir();

}  // namespace eulerstack
