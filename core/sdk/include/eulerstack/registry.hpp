#pragma once
// One typed registry per block interface, plus what the plugin host learned
// while filling them (which plugins loaded, failed or were shadowed, and the
// search path), so that a failed lookup can say everything a user needs.

#include <deque>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "eulerstack/block.hpp"
#include "eulerstack/build_stamp.hpp"
#include "eulerstack/diagnostics.hpp"

namespace eulerstack {

struct PluginRecord {
  std::string name;
  std::string version;
  std::string bundle;
  std::string description;
  std::filesystem::path file;  // empty for blocks registered in-process (tests)
  std::filesystem::path modules_file;  // the LibTorch module library; empty when none
  std::filesystem::path python_file;   // the Python twin of the blocks; empty when none
  std::string build;           // describe(stamp)
};

struct SearchDir {
  std::filesystem::path dir;
  std::string origin;  // "--plugin-dir", "EULERSTACK_PLUGIN_PATH", "default", ...
};

struct PluginFailure {
  std::filesystem::path file;
  Diagnostic diagnostic;
};

struct ShadowedPlugin {
  std::string name;
  std::filesystem::path file;    // the one ignored
  std::filesystem::path winner;  // the one loaded
};

struct LoadReport {
  std::vector<SearchDir> search_path;
  std::deque<PluginRecord> loaded;  // deque: records keep their addresses
  std::vector<PluginFailure> failures;
  std::vector<ShadowedPlugin> shadowed;
};

// Kind-agnostic view of a registered block, for listings and the front end.
struct BlockEntry {
  BlockKind kind;
  const BlockSchema* schema;
  const PluginRecord* plugin;
};

template <class Module>
struct RegisteredBlock {
  BlockDefinition<Module> definition;
  const PluginRecord* plugin;
};

// What a plugin's registration function fills. Nothing reaches the registry
// until the function has returned and every name is known to be free, so a
// registration that throws or collides leaves the registry untouched.
class Registrar {
 public:
  void add(MixerDefinition definition);
  void add(FfnDefinition definition);
  void add(RouterDefinition definition);
  void add(PositionalDefinition definition);

 private:
  friend class Registry;
  std::vector<MixerDefinition> mixers_;
  std::vector<FfnDefinition> ffns_;
  std::vector<RouterDefinition> routers_;
  std::vector<PositionalDefinition> positionals_;
};

class Registry;

template <class Module>
class BlockRegistry {
 public:
  BlockRegistry(BlockKind kind, const Registry& owner) : kind_(kind), owner_(owner) {}

  BlockKind kind() const { return kind_; }
  const RegisteredBlock<Module>* find(std::string_view name) const {
    auto it = blocks_.find(std::string(name));
    return it == blocks_.end() ? nullptr : &it->second;
  }
  // Throws Error("PluginError", "registry.unknown_block") with suggestions,
  // the known names by plugin, failed plugins and the search path.
  const RegisteredBlock<Module>& require(std::string_view name) const;
  const std::map<std::string, RegisteredBlock<Module>>& all() const { return blocks_; }

 private:
  friend class Registry;
  BlockKind kind_;
  const Registry& owner_;
  std::map<std::string, RegisteredBlock<Module>> blocks_;
};

class Registry {
 public:
  Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  BlockRegistry<MixerModule>& mixers() { return mixers_; }
  BlockRegistry<FfnModule>& ffns() { return ffns_; }
  BlockRegistry<RouterModule>& routers() { return routers_; }
  BlockRegistry<PositionalModule>& positionals() { return positionals_; }
  const BlockRegistry<MixerModule>& mixers() const { return mixers_; }
  const BlockRegistry<FfnModule>& ffns() const { return ffns_; }
  const BlockRegistry<RouterModule>& routers() const { return routers_; }
  const BlockRegistry<PositionalModule>& positionals() const { return positionals_; }

  LoadReport& report() { return report_; }
  const LoadReport& report() const { return report_; }

  // Every block of a kind, sorted by name.
  std::vector<BlockEntry> entries(BlockKind kind) const;
  const BlockEntry* find(BlockKind kind, std::string_view name) const;
  std::vector<BlockEntry> blocks_of(const PluginRecord& plugin) const;

  // Adds a plugin and the blocks it staged. Throws Error (registry.duplicate_block
  // or plugin.bad_schema) and changes nothing when a name is taken or a schema is
  // malformed. The returned record lives as long as the registry.
  const PluginRecord& commit(PluginRecord plugin, Registrar staged);

  // The message arguments of an unknown-name error (kept here so every
  // registry kind reports the same way).
  Error unknown_block(BlockKind kind, std::string_view name) const;

 private:
  BlockRegistry<MixerModule> mixers_;
  BlockRegistry<FfnModule> ffns_;
  BlockRegistry<RouterModule> routers_;
  BlockRegistry<PositionalModule> positionals_;
  LoadReport report_;
  std::map<BlockKind, std::vector<BlockEntry>> entries_;
};

template <class Module>
const RegisteredBlock<Module>& BlockRegistry<Module>::require(std::string_view name) const {
  if (const auto* found = find(name)) return *found;
  throw owner_.unknown_block(kind_, name);
}

}  // namespace eulerstack
