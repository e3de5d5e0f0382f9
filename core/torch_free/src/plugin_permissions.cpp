#include "eulerstack/plugin_permissions.hpp"

#include <set>

#include "eulerstack/plugin_host.hpp"

namespace fs = std::filesystem;

namespace eulerstack {
namespace {

bool writable_by_others(const fs::path& path) {
  std::error_code ec;
  const auto status = fs::status(path, ec);
  return !ec && (status.permissions() & fs::perms::others_write) != fs::perms::none;
}

}  // namespace

std::vector<Diagnostic> writable_plugin_paths(const std::vector<SearchDir>& search_path) {
  std::vector<Diagnostic> out;
  std::set<fs::path> seen;
  auto check = [&](const fs::path& path, const std::string& origin) {
    std::error_code ec;
    const fs::path canonical = fs::weakly_canonical(path, ec);
    if (!seen.insert(ec ? path : canonical).second || !writable_by_others(path)) return;
    Diagnostic d = make_error("PluginWarning", "plugin.writable_by_others", {{"path", path.string()}, {"origin", origin}});
    d.severity = Severity::Warning;
    out.push_back(std::move(d));
  };
  for (const auto& entry : search_path) {
    std::error_code ec;
    if (!fs::is_directory(entry.dir, ec)) continue;
    check(entry.dir, entry.origin);
    for (const auto& file : plugin_files_in(entry.dir)) {
      for (fs::path dir = file.parent_path(); dir != entry.dir && dir.has_relative_path(); dir = dir.parent_path())
        check(dir, entry.origin);  // bundle folders between the search directory and the library
      check(file, entry.origin);
    }
  }
  return out;
}

}  // namespace eulerstack
