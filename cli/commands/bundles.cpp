#include "bundles.hpp"

#include <algorithm>
#include <iostream>

#include <fmt/format.h>

#include "../atomic_file.hpp"
#include "../exit_codes.hpp"
#include "eulerstack/json_text.hpp"
#include "eulerstack/plugin_host.hpp"

namespace fs = std::filesystem;

namespace eulerstack::cli {
namespace {

Diagnostic missing_shipped_file(const PluginRecord& plugin, const fs::path& path) {
  return make_error("PluginError", "bundle.plugin_file_missing",
                    {{"plugin", plugin.name}, {"path", path.string()}, {"file", plugin.file.string()}});
}

std::string relative_to(const fs::path& file, const fs::path& dir) {
  return file.lexically_normal().lexically_relative(dir.lexically_normal()).generic_string();
}

// The descriptor, module library and Python twin of one loaded plugin.
BundlePlugin bundled(const PluginRecord& plugin, const fs::path& dir) {
  BundlePlugin entry{plugin.name, plugin.version, {}};
  for (const fs::path& file : {plugin.file, plugin.modules_file, plugin.python_file}) {
    if (file.empty()) continue;
    std::error_code ec;
    if (!fs::is_regular_file(file, ec)) throw Error(missing_shipped_file(plugin, file));
    const std::string relative = relative_to(file, dir);
    if (relative.empty() || relative.rfind("..", 0) == 0) throw Error(missing_shipped_file(plugin, file));
    entry.files.push_back({relative, sha256_of_file(file)});
  }
  return entry;
}

// Loads the plugin libraries a manifest in `dir` would govern, without bundle checks.
Registry& load_unchecked(Registry& registry, const fs::path& dir) {
  const fs::path own = dir / kBundleManifestName;
  for (const auto& file : plugin_files_in(dir)) {
    const auto governing = governing_manifest(file, dir);
    if (governing && *governing != own) continue;  // a nested bundle
    load_plugin_file(registry, file);
  }
  return registry;
}

}  // namespace

int write_bundle_manifest(Session& session, const ManifestRequest& request) {
  std::error_code ec;
  if (!fs::is_directory(request.dir, ec))
    throw Error(make_error("IOError", "io.cannot_read", {{"path", request.dir.string()}, {"reason", "not a directory"}}));
  Registry registry;
  load_unchecked(registry, request.dir);
  const auto& report = registry.report();
  if (!report.failures.empty()) {
    for (const auto& f : report.failures) session.print(f.diagnostic);
    return kPluginError;
  }
  if (report.loaded.empty())
    throw Error(make_error("PluginError", "bundle.no_plugins", {{"dir", request.dir.string()}}));
  BundleManifest manifest;
  manifest.file = request.dir / kBundleManifestName;
  manifest.name = request.name;
  manifest.version = request.version;
  manifest.description = request.description;
  for (const auto& plugin : report.loaded) manifest.plugins.push_back(bundled(plugin, request.dir));
  write_file_atomically(manifest.file, json_text(manifest_json(manifest), 2) + "\n");
  std::cout << session.text("plugins.manifest_written", {{"file", manifest.file.string()},
                                                        {"name", manifest.name},
                                                        {"version", manifest.version},
                                                        {"count", std::to_string(manifest.plugins.size())}})
            << "\n";
  return kSuccess;
}

int verify_bundle_dir(Session& session, const fs::path& dir, bool json) {
  std::error_code ec;
  const fs::path file = fs::is_directory(dir, ec) ? dir / kBundleManifestName : dir;
  if (!fs::is_regular_file(file, ec))
    throw Error(make_error("PluginError", "bundle.no_manifest", {{"dir", dir.string()}}));
  const BundleManifest manifest = read_manifest(file);
  auto checks = verify_bundle(manifest);

  // The descriptor of each intact plugin must be the plugin the manifest names.
  Registry registry;
  for (const auto& plugin : manifest.plugins) {
    bool intact = true;
    for (const auto& c : checks) intact = intact && !(c.plugin == plugin.name && c.problem);
    if (!intact) continue;
    const fs::path library = manifest.dir() / plugin.files.front().path;
    const PluginRecord* loaded = load_plugin_file(registry, library);
    auto& check = *std::find_if(checks.begin(), checks.end(), [&](const auto& c) { return c.file == library; });
    if (!loaded) {
      if (!registry.report().failures.empty()) check.problem = registry.report().failures.back().diagnostic;
    } else if (loaded->name != plugin.name || loaded->version != plugin.version) {
      check.problem = make_error("PluginError", "bundle.plugin_mismatch",
                                 {{"path", library.string()}, {"manifest", manifest.file.string()},
                                  {"plugin", plugin.name}, {"version", plugin.version},
                                  {"actual", loaded->name}, {"actual_version", loaded->version}});
    }
  }

  std::size_t failed = 0;
  for (const auto& c : checks) failed += c.problem ? 1 : 0;
  if (json) {
    Json files = Json::array();
    for (const auto& c : checks)
      files.push_back({{"file", c.file.string()}, {"plugin", c.plugin}, {"ok", !c.problem},
                       {"id", c.problem ? c.problem->id : ""}});
    std::cout << json_text(Json{{"bundle", manifest.name}, {"version", manifest.version}, {"manifest", manifest.file.string()},
                      {"ok", failed == 0}, {"files", files}}, 2)
              << "\n";
  } else {
    std::cout << session.text("plugins.verify_header", {{"name", manifest.name}, {"version", manifest.version},
                                                       {"manifest", manifest.file.string()}})
              << "\n";
    for (const auto& c : checks) {
      if (c.problem) session.print(*c.problem);
      else std::cout << "  " << session.text("plugins.verify_ok", {{"file", c.file.string()}}) << "\n";
    }
    const auto total = std::to_string(checks.size());
    if (failed == 0) std::cout << session.text("plugins.verify_passed", {{"count", total}}) << "\n";
    else std::cerr << session.text("plugins.verify_failed", {{"count", std::to_string(failed)}, {"total", total}}) << "\n";
  }
  return failed == 0 ? kSuccess : kPluginError;
}

Json bundles_json(const std::vector<BundleManifest>& bundles) {
  Json out = Json::array();
  for (const auto& b : bundles) {
    Json plugins = Json::array();
    for (const auto& p : b.plugins) plugins.push_back({{"name", p.name}, {"version", p.version}});
    out.push_back({{"name", b.name}, {"version", b.version}, {"description", b.description},
                   {"manifest", b.file.string()}, {"plugins", plugins}});
  }
  return out;
}

void print_bundles(const Session& session, const std::vector<BundleManifest>& bundles) {
  if (bundles.empty()) return;
  std::cout << session.text("plugins.bundles_header", {{"count", std::to_string(bundles.size())}}) << "\n";
  for (const auto& b : bundles) {
    std::cout << fmt::format("  {} {}  {}\n", b.name, b.version, b.description);
    std::cout << fmt::format("    {}: {}\n", session.text("plugins.manifest"), b.file.string());
    std::string plugins;
    for (const auto& p : b.plugins) plugins += (plugins.empty() ? "" : ", ") + p.name + " " + p.version;
    std::cout << fmt::format("    {}: {}\n", session.text("plugins.bundle_plugins"), plugins);
  }
}

}  // namespace eulerstack::cli
