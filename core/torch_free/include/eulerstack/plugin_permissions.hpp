#pragma once
// Loading a plugin runs its code with the user's rights, so a plugin directory
// or library that other users may write is a way for them to run code as this
// user. Such places are reported as warnings (they are not refused: a shared
// team directory may be deliberate). Torch-free.

#include <vector>

#include "eulerstack/diagnostics.hpp"
#include "eulerstack/registry.hpp"

namespace eulerstack {

// One PluginWarning (plugin.writable_by_others) per search directory, bundle
// directory or plugin library on the path that users other than the owner
// and group may write (mode o+w, also with the sticky bit: they can add files).
std::vector<Diagnostic> writable_plugin_paths(const std::vector<SearchDir>& search_path);

}  // namespace eulerstack
