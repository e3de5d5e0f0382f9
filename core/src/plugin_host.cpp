#include "eulerstack/plugin_host.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <map>
#include <optional>
#include <system_error>
#include <utility>

#include <boost/dll/shared_library.hpp>

#include "eulerstack/bundle.hpp"
#include "eulerstack/plugin.hpp"

namespace fs = std::filesystem;

namespace eulerstack {
namespace {

constexpr int kMaxBundleDepth = 3;  // plugins/<bundle>/<group>/lib.so

// Libraries stay loaded for the life of the process (RTLD_NODELETE as well):
// objects and std::functions created by a plugin may be destroyed late, from
// core's static destructors, after any owner of a handle is gone.
std::vector<boost::dll::shared_library>& open_libraries() {
  static auto* libraries = new std::vector<boost::dll::shared_library>();
  return *libraries;
}

void split_path_list(const char* value, const std::string& origin, std::vector<SearchDir>& out) {
  if (!value) return;
  std::string list(value);
  std::size_t start = 0;
  while (start <= list.size()) {
    std::size_t end = list.find(':', start);
    if (end == std::string::npos) end = list.size();
    if (end > start) out.push_back({fs::path(list.substr(start, end - start)), origin});
    start = end + 1;
  }
}

void fail(Registry& registry, const fs::path& file, Diagnostic diagnostic) {
  diagnostic.args["file"] = file.string();
  registry.report().failures.push_back({file, std::move(diagnostic)});
}

Diagnostic plugin_error(std::string id, MessageArgs args = {}) {
  return make_error("PluginError", std::move(id), std::move(args));
}

std::string safe(const char* text) { return text ? text : ""; }

// A bundle manifest as read, or why it could not be read.
struct ReadManifest {
  std::optional<BundleManifest> manifest;
  Diagnostic error;
};

// Why a plugin file must not be opened, according to the bundle manifest that
// governs it; nothing when it is in no bundle or matches its manifest. Checked
// before dlopen: a changed library must not run its initialisers.
std::optional<Diagnostic> bundle_problem(const fs::path& file, const fs::path& root,
                                         std::map<fs::path, ReadManifest>& manifests) {
  const auto manifest_file = governing_manifest(file, root);
  if (!manifest_file) return std::nullopt;
  auto it = manifests.find(*manifest_file);
  if (it == manifests.end()) {
    ReadManifest read;
    try {
      read.manifest = read_manifest(*manifest_file);
    } catch (const Error& e) {
      read.error = e.first();
    }
    it = manifests.emplace(*manifest_file, std::move(read)).first;
  }
  if (!it->second.manifest) return it->second.error;
  auto problems = check_bundled_plugin(*it->second.manifest, file);
  if (problems.empty()) return std::nullopt;
  return problems.front();
}

}  // namespace

fs::path executable_dir() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : exe.parent_path();  // unknown: no default plugin directories, never the cwd
}

std::vector<SearchDir> plugin_search_path(const PluginSearchOptions& options) {
  std::vector<SearchDir> path;
  for (const auto& dir : options.plugin_dirs) path.push_back({dir, "--plugin-dir"});
  const char* system = options.use_environment ? std::getenv("EULERSTACK_PLUGIN_SYSTEM_PATH") : nullptr;
  if (options.use_environment) split_path_list(std::getenv("EULERSTACK_PLUGIN_PATH"), "EULERSTACK_PLUGIN_PATH", path);
  if (system) {
    split_path_list(system, "EULERSTACK_PLUGIN_SYSTEM_PATH", path);
  } else if (!options.executable_dir.empty()) {
    for (const char* rel : {EULERSTACK_INSTALLED_PLUGIN_DIR, EULERSTACK_BUILD_TREE_PLUGIN_DIR}) {
      std::error_code ec;
      fs::path dir = fs::weakly_canonical(options.executable_dir / rel, ec);
      if (!ec && fs::is_directory(dir, ec)) path.push_back({dir, "default"});
    }
  }
  return path;
}

std::vector<fs::path> plugin_files_in(const fs::path& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  auto options = fs::directory_options::skip_permission_denied;
  for (fs::recursive_directory_iterator it(dir, options, ec), end; !ec && it != end; it.increment(ec)) {
    const auto name = it->path().filename().string();
    if (it->is_directory(ec)) {
      if (name.empty() || name[0] == '.' || it.depth() >= kMaxBundleDepth) it.disable_recursion_pending();
      continue;
    }
    // `<name>.modules.so` is a plugin's LibTorch half, opened only when a model is built.
    const bool modules_library = name.size() > 11 && name.compare(name.size() - 11, 11, ".modules.so") == 0;
    if (it->path().extension() == ".so" && !modules_library && it->is_regular_file(ec)) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

void* open_alias(const fs::path& file, const char* symbol) {
  // A first dlopen of our own keeps dlerror()'s text, which Boost.DLL drops.
  const int mode = RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE;
  void* probe = dlopen(file.c_str(), mode);
  if (!probe) {
    const char* reason = dlerror();
    throw Error(plugin_error("plugin.not_loadable", {{"file", file.string()}, {"reason", reason ? reason : "dlopen failed"}}));
  }
  boost::dll::shared_library library(file, static_cast<boost::dll::load_mode::type>(mode));
  dlclose(probe);
  const bool has_entry = library.has(symbol);
  void* entry = has_entry ? library.get<void*>(symbol) : nullptr;
  open_libraries().push_back(std::move(library));
  if (!has_entry) throw Error(plugin_error("plugin.missing_entry", {{"file", file.string()}, {"symbol", symbol}}));
  return entry;
}

void require_compatible(std::uint32_t abi_version, const BuildStamp& stamp, const std::string& name) {
  const BuildStamp& host = host_build_stamp();
  if (abi_version != kPluginAbiVersion)
    throw Error(plugin_error("plugin.abi_mismatch", {{"plugin_abi", std::to_string(abi_version)},
                                                     {"host_abi", std::to_string(kPluginAbiVersion)},
                                                     {"plugin_build", describe(stamp)},
                                                     {"host_build", describe(host)}}));
  if (auto what = stamp_incompatibility(host, stamp); !what.empty())
    throw Error(plugin_error("plugin.build_mismatch", {{"what", what},
                                                       {"plugin", name},
                                                       {"plugin_build", describe(stamp)},
                                                       {"host_build", describe(host)}}));
}

const PluginRecord* load_plugin_file(Registry& registry, const fs::path& file) {
  const PluginDescriptor* descriptor = nullptr;
  try {
    auto* entry = reinterpret_cast<PluginEntry*>(open_alias(file, EULERSTACK_PLUGIN_ENTRY_NAME));
    try {
      descriptor = entry();
    } catch (...) {
    }
    if (!descriptor)
      throw Error(plugin_error("plugin.no_descriptor", {{"symbol", EULERSTACK_PLUGIN_ENTRY_NAME}}));
    require_compatible(descriptor->abi_version, descriptor->stamp, safe(descriptor->name));
  } catch (const Error& e) {
    fail(registry, file, e.first());
    return nullptr;
  }

  PluginRecord record{safe(descriptor->name), safe(descriptor->version), safe(descriptor->bundle),
                      safe(descriptor->description), file, {}, {}, describe(descriptor->stamp)};
  if (descriptor->modules_library && *descriptor->modules_library)
    record.modules_file = file.parent_path() / descriptor->modules_library;
  if (descriptor->python_module && *descriptor->python_module)
    record.python_file = file.parent_path() / descriptor->python_module;
  if (record.name.empty() || !descriptor->register_blocks) {
    fail(registry, file, plugin_error("plugin.incomplete_descriptor"));
    return nullptr;
  }
  for (const auto& loaded : registry.report().loaded) {
    if (loaded.name == record.name) {
      registry.report().shadowed.push_back({record.name, file, loaded.file});
      return nullptr;
    }
  }

  Registrar staged;
  try {
    descriptor->register_blocks(staged);
  } catch (const std::exception& e) {
    fail(registry, file, plugin_error("plugin.registration_threw", {{"plugin", record.name}, {"reason", e.what()}}));
    return nullptr;
  } catch (...) {
    fail(registry, file, plugin_error("plugin.registration_threw", {{"plugin", record.name}, {"reason", "unknown exception"}}));
    return nullptr;
  }
  try {
    return &registry.commit(std::move(record), std::move(staged));
  } catch (const Error& e) {
    fail(registry, file, e.first());
    return nullptr;
  }
}

void load_plugins(Registry& registry, const std::vector<SearchDir>& search_path) {
  auto& report = registry.report();
  report.search_path.insert(report.search_path.end(), search_path.begin(), search_path.end());
  for (const auto& entry : search_path) {
    std::error_code ec;
    if (!fs::is_directory(entry.dir, ec)) {
      const bool file = fs::exists(entry.dir, ec);
      fail(registry, entry.dir, plugin_error(file ? "plugin.dir_is_file" : "plugin.dir_missing", {{"origin", entry.origin}}));
      continue;
    }
    std::map<fs::path, ReadManifest> manifests;  // read once per search directory
    for (const auto& file : plugin_files_in(entry.dir)) {
      if (auto problem = bundle_problem(file, entry.dir, manifests)) {
        fail(registry, file, std::move(*problem));
        continue;
      }
      load_plugin_file(registry, file);
    }
  }
}

}  // namespace eulerstack
