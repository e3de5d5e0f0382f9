#include "preset_locator.hpp"

#include <algorithm>
#include <cstdlib>
#include <set>
#include <sstream>

#include "eulerstack/checked_file.hpp"
#include "eulerstack/diagnostics.hpp"
#include "eulerstack/plugin_host.hpp"

namespace fs = std::filesystem;

namespace eulerstack::cli {
namespace {

// A preset's leading comment; like any spec, at most 8 MiB of a regular file (EULERSTACK_PRESET_PATH is anyone's).
std::string header_summary(const fs::path& file) {
  std::istringstream in;
  try {
    in.str(read_checked_file(file, 8u << 20));
  } catch (const Error&) {
    return {};  // listed without a summary; reading it as a spec reports why
  }
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("#", 0) != 0) break;
    auto text = line.substr(line.find_first_not_of("# ") == std::string::npos ? line.size() : line.find_first_not_of("# "));
    if (!text.empty()) return text;
  }
  return {};
}

}  // namespace

std::vector<fs::path> preset_dirs() {
  std::vector<fs::path> dirs;
  if (const char* env = std::getenv("EULERSTACK_PRESET_PATH")) {
    std::string list(env);
    for (std::size_t start = 0, end; start <= list.size(); start = end + 1) {
      end = std::min(list.find(':', start), list.size());
      if (end > start) dirs.emplace_back(list.substr(start, end - start));
    }
  }
  const fs::path exe = executable_dir();
  for (const fs::path& candidate : {exe / EULERSTACK_INSTALLED_PRESET_DIR, fs::path(EULERSTACK_SOURCE_PRESET_DIR)}) {
    std::error_code ec;
    if (fs::is_directory(candidate, ec)) dirs.push_back(fs::weakly_canonical(candidate, ec));
  }
  return dirs;
}

std::vector<PresetInfo> list_presets() {
  std::vector<PresetInfo> presets;
  std::set<std::string> seen;
  for (const auto& dir : preset_dirs()) {
    std::vector<fs::path> files;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec))
      if (entry.path().extension() == ".yml" || entry.path().extension() == ".yaml") files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    for (const auto& file : files)
      if (seen.insert(file.stem().string()).second)
        presets.push_back({file.stem().string(), file, header_summary(file)});
  }
  return presets;
}

std::optional<fs::path> resolve_preset(const std::string& name_or_path) {
  std::error_code ec;
  if (fs::exists(name_or_path, ec)) return fs::path(name_or_path);  // loading reports what is wrong with it
  std::string stem = fs::path(name_or_path).stem().string();
  if (name_or_path.find('/') != std::string::npos) return std::nullopt;
  for (const auto& preset : list_presets())
    if (preset.name == stem) return preset.file;
  return std::nullopt;
}

}  // namespace eulerstack::cli
