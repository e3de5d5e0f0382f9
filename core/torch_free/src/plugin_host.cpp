#include "eulerstack/plugin_host.hpp"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <map>
#include <optional>
#include <system_error>
#include <utility>

#include <boost/dll/shared_library.hpp>

#include "eulerstack/bundle.hpp"
#include "eulerstack/checked_file.hpp"
#include "eulerstack/messages.hpp"
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

// The checks of the files a loaded plugin uses later (module library, twin), by path.
std::map<fs::path, LoadCheck>& load_checks() {
  static auto* checks = new std::map<fs::path, LoadCheck>();
  return *checks;
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
// before dlopen: a changed library must not run its initialisers. `governing`
// is set to the manifest when there is one.
std::optional<Diagnostic> bundle_problem(const fs::path& file, const fs::path& root,
                                         std::map<fs::path, ReadManifest>& manifests,
                                         const BundleManifest*& governing) {
  governing = nullptr;
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
  governing = &*it->second.manifest;
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

namespace {

constexpr std::uint64_t kAnyLibrarySize = ~std::uint64_t{0};

// The name dlopen is given: the checked descriptor itself where /proc shows
// it, so that the bytes that run are the bytes that were hashed.
std::string loadable_name(const fs::path& file, const CheckedFile* checked) {
  if (!checked) return file.string();
  const std::string by_descriptor = "/proc/self/fd/" + std::to_string(checked->fd());
  struct stat seen {};
  return ::stat(by_descriptor.c_str(), &seen) == 0 ? by_descriptor : file.string();
}

// The address the alias variable `symbol` holds, once it is known to be a
// pointer-sized data object pointing into the same library: a library that
// exports a null or foreign entry is a load error, never a jump to it.
void* alias_target(void* handle, const fs::path& file, const char* symbol) {
  dlerror();
  void* variable = dlsym(handle, symbol);
  if (!variable) throw Error(plugin_error("plugin.missing_entry", {{"file", file.string()}, {"symbol", symbol}}));
  Dl_info where {};
  void* symbol_entry = nullptr;
  const bool found = dladdr1(variable, &where, &symbol_entry, RTLD_DL_SYMENT) != 0;
  const auto* entry_symbol = static_cast<const ElfW(Sym)*>(symbol_entry);
  if (!found || !entry_symbol || ELF64_ST_TYPE(entry_symbol->st_info) != STT_OBJECT || entry_symbol->st_size != sizeof(void*))
    throw Error(plugin_error("plugin.bad_entry", {{"file", file.string()}, {"symbol", symbol}}));
  void* target = *static_cast<void**>(variable);
  Dl_info target_where {};
  if (!target || dladdr(target, &target_where) == 0 || target_where.dli_fbase != where.dli_fbase)
    throw Error(plugin_error("plugin.bad_entry", {{"file", file.string()}, {"symbol", symbol}}));
  return target;
}

}  // namespace

const LoadCheck* bundle_check_for(const fs::path& file) {
  auto it = load_checks().find(file.lexically_normal());
  return it == load_checks().end() ? nullptr : &it->second;
}

bool lies_in_library_of(const void* address, const void* entry) {
  Dl_info a {}, b {};
  return address && dladdr(address, &a) != 0 && dladdr(entry, &b) != 0 && a.dli_fbase == b.dli_fbase;
}

void* open_alias(const fs::path& file, const char* symbol, const LoadCheck* check) {
  std::optional<CheckedFile> checked;
  if (check) {
    try {
      checked.emplace(file, kAnyLibrarySize);
    } catch (const Error&) {
      throw Error(plugin_error("plugin.bundle_file_missing", {{"path", file.string()}, {"manifest", check->manifest.string()},
                                                              {"plugin", check->plugin}}));
    }
    const std::string actual = sha256_of_open_file(*checked);
    if (actual != check->sha256)
      throw Error(plugin_error("plugin.checksum_mismatch", {{"path", file.string()}, {"manifest", check->manifest.string()},
                                                            {"plugin", check->plugin}, {"expected", check->sha256},
                                                            {"actual", actual}}));
  }
  const std::string name = loadable_name(file, checked ? &*checked : nullptr);
  // A first dlopen of our own keeps dlerror()'s text, which Boost.DLL drops.
  const int mode = RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE;
  void* probe = dlopen(name.c_str(), mode);
  if (!probe) {
    const char* reason = dlerror();
    throw Error(plugin_error("plugin.not_loadable", {{"file", file.string()}, {"reason", reason ? reason : "dlopen failed"}}));
  }
  boost::dll::shared_library library(name, static_cast<boost::dll::load_mode::type>(mode));
  open_libraries().push_back(std::move(library));
  // The loader knows the library by that name: the descriptor stays open for
  // the life of the process, so that no later library is opened under it.
  if (checked && name != file.string()) checked->release();
  void* entry = nullptr;
  try {
    entry = alias_target(probe, file, symbol);
  } catch (...) {
    dlclose(probe);
    throw;
  }
  dlclose(probe);
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

namespace {

// The manifest's listing of a plugin file, as a check to make when it is loaded.
std::optional<LoadCheck> listed_check(const BundleManifest* manifest, const fs::path& file) {
  if (!manifest) return std::nullopt;
  const fs::path wanted = file.lexically_normal();
  for (const auto& plugin : manifest->plugins)
    for (const auto& listed : plugin.files)
      if ((manifest->dir() / listed.path).lexically_normal() == wanted)
        return LoadCheck{listed.sha256, manifest->file, plugin.name};
  return std::nullopt;
}

}  // namespace

const PluginRecord* load_plugin_file(Registry& registry, const fs::path& file, const BundleManifest* manifest) {
  const PluginDescriptor* descriptor = nullptr;
  const auto check = listed_check(manifest, file);
  try {
    void* entry_address = open_alias(file, EULERSTACK_PLUGIN_ENTRY_NAME, check ? &*check : nullptr);
    auto* entry = reinterpret_cast<PluginEntry*>(entry_address);
    try {
      descriptor = entry();
    } catch (...) {
    }
    if (!descriptor || !lies_in_library_of(descriptor, entry_address))
      throw Error(plugin_error("plugin.no_descriptor", {{"symbol", EULERSTACK_PLUGIN_ENTRY_NAME}}));
    // Only the two fields that never move are read before they are checked.
    require_compatible(descriptor->abi_version, descriptor->stamp,
                       descriptor->abi_version == kPluginAbiVersion ? safe(descriptor->name) : "");
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
  for (const auto& used_later : {record.modules_file, record.python_file})
    if (auto listed = listed_check(manifest, used_later)) load_checks()[used_later.lexically_normal()] = *listed;
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
  std::string why;
  const auto messages = parse_plugin_messages(record.name, descriptor->catalogs, descriptor->catalog_count, why);
  if (!messages) {
    fail(registry, file, plugin_error("plugin.bad_catalog", {{"plugin", record.name}, {"reason", why}}));
    return nullptr;
  }
  try {
    const PluginRecord& committed = registry.commit(std::move(record), std::move(staged));
    add_plugin_messages(*messages);
    return &committed;
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
      const BundleManifest* manifest = nullptr;
      if (auto problem = bundle_problem(file, entry.dir, manifests, manifest)) {
        fail(registry, file, std::move(*problem));
        continue;
      }
      load_plugin_file(registry, file, manifest);
    }
  }
}

}  // namespace eulerstack
