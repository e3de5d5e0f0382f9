#pragma once
// Bundled presets: where they are and how `--preset NAME` resolves.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace eulerstack::cli {

struct PresetInfo {
  std::string name;               // file stem
  std::filesystem::path file;
  std::string summary;            // first line of the header comment
};

// The bundled preset directories: installed <datadir>/eulerstack/presets and the
// source tree's presets/ (for the build tree). EULERSTACK_PRESET_PATH is searched first.
std::vector<std::filesystem::path> preset_dirs();

std::vector<PresetInfo> list_presets();

// A path to an existing file is used as is; otherwise NAME (with or without
// .yml) is looked up among the bundled presets.
std::optional<std::filesystem::path> resolve_preset(const std::string& name_or_path);

}  // namespace eulerstack::cli
