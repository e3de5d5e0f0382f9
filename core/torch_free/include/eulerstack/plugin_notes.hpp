#pragma once
// The notes that say where blocks come from, under every "not provided by any
// loaded plugin" diagnostic: each plugin that failed to load, and the search path.

#include <vector>

#include "eulerstack/registry.hpp"

namespace eulerstack {

// One note.failed_plugin per failure, its reason rendered inside the note.
std::vector<Note> failed_plugin_notes(const LoadReport& report);

// note.search_path: every directory with where it came from.
Note search_path_note(const LoadReport& report);

}  // namespace eulerstack
