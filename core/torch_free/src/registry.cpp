#include "eulerstack/registry.hpp"

#include <set>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "eulerstack/plugin_notes.hpp"
#include "eulerstack/suggest.hpp"

namespace eulerstack {

const char* to_string(BlockKind kind) {
  switch (kind) {
    case BlockKind::Mixer: return "mixer";
    case BlockKind::Ffn: return "ffn";
    case BlockKind::Router: return "router";
    case BlockKind::Positional: return "positional";
  }
  return "?";
}

void Registrar::add(MixerDefinition definition) { mixers_.push_back(std::move(definition)); }
void Registrar::add(FfnDefinition definition) { ffns_.push_back(std::move(definition)); }
void Registrar::add(RouterDefinition definition) { routers_.push_back(std::move(definition)); }
void Registrar::add(PositionalDefinition definition) { positionals_.push_back(std::move(definition)); }

Registry::Registry()
    : mixers_(BlockKind::Mixer, *this),
      ffns_(BlockKind::Ffn, *this),
      routers_(BlockKind::Router, *this),
      positionals_(BlockKind::Positional, *this) {}

namespace {

std::string file_or_builtin(const PluginRecord& plugin) {
  return plugin.file.empty() ? "(in-process)" : plugin.file.string();
}

template <class Module>
void check_staged(const PluginRecord& plugin, const BlockRegistry<Module>& existing,
                  const std::vector<BlockDefinition<Module>>& staged) {
  std::set<std::string> names;
  for (const auto& def : staged) {
    const auto& schema = def.schema;
    const char* kind = to_string(existing.kind());
    std::string defect = schema.name.empty() ? "a block has no name" : schema_defect(schema.params);
    if (defect.empty()) defect = schema_defect(schema.inline_params);
    for (const auto& [key, what] : schema.unprovided_params)
      for (const auto* params : {&schema.params, &schema.inline_params})
        for (const auto& p : *params)
          if (defect.empty() && p.name == key) defect = "'" + key + "' is both a parameter and not provided";
    if (defect.empty() && schema.summary.empty()) defect = "no summary";
    if (defect.empty() && !schema.count_params) defect = "no parameter-count formula";
    if (!defect.empty()) {
      throw Error(make_error("PluginError", "plugin.bad_schema",
                             {{"plugin", plugin.name}, {"file", file_or_builtin(plugin)}, {"kind", kind},
                              {"block", schema.name}, {"reason", defect}}));
    }
    const auto* taken = existing.find(schema.name);
    if (taken || !names.insert(schema.name).second) {
      const PluginRecord& owner = taken ? *taken->plugin : plugin;
      throw Error(make_error("PluginError", "registry.duplicate_block",
                             {{"kind", kind}, {"block", schema.name}, {"plugin", plugin.name},
                              {"file", file_or_builtin(plugin)}, {"other_plugin", owner.name},
                              {"other_file", file_or_builtin(owner)}}));
    }
  }
}

template <class Module>
void move_in(const PluginRecord& plugin, std::map<std::string, RegisteredBlock<Module>>& blocks,
             std::vector<BlockDefinition<Module>>& staged) {
  for (auto& def : staged) {
    std::string name = def.schema.name;
    blocks.emplace(std::move(name), RegisteredBlock<Module>{std::move(def), &plugin});
  }
}

}  // namespace

const PluginRecord& Registry::commit(PluginRecord plugin, Registrar staged) {
  check_staged(plugin, mixers_, staged.mixers_);
  check_staged(plugin, ffns_, staged.ffns_);
  check_staged(plugin, routers_, staged.routers_);
  check_staged(plugin, positionals_, staged.positionals_);

  const PluginRecord& record = report_.loaded.emplace_back(std::move(plugin));
  move_in(record, mixers_.blocks_, staged.mixers_);
  move_in(record, ffns_.blocks_, staged.ffns_);
  move_in(record, routers_.blocks_, staged.routers_);
  move_in(record, positionals_.blocks_, staged.positionals_);

  entries_.clear();
  auto index = [&](const auto& kind_registry) {
    auto& list = entries_[kind_registry.kind()];
    for (const auto& [name, block] : kind_registry.all())
      list.push_back(BlockEntry{kind_registry.kind(), &block.definition.schema, block.plugin});
  };
  index(mixers_);
  index(ffns_);
  index(routers_);
  index(positionals_);
  return record;
}

std::vector<BlockEntry> Registry::entries(BlockKind kind) const {
  auto it = entries_.find(kind);
  return it == entries_.end() ? std::vector<BlockEntry>{} : it->second;
}

const BlockEntry* Registry::find(BlockKind kind, std::string_view name) const {
  auto it = entries_.find(kind);
  if (it == entries_.end()) return nullptr;
  for (const auto& entry : it->second)
    if (entry.schema->name == name) return &entry;
  return nullptr;
}

std::vector<BlockEntry> Registry::blocks_of(const PluginRecord& plugin) const {
  std::vector<BlockEntry> out;
  for (BlockKind kind : kAllBlockKinds)
    for (const auto& entry : entries(kind))
      if (entry.plugin == &plugin) out.push_back(entry);
  return out;
}

Error Registry::unknown_block(BlockKind kind, std::string_view name) const {
  std::vector<std::string> known;
  std::map<std::string, std::vector<std::string>> by_plugin;
  for (const auto& entry : entries(kind)) {
    known.push_back(entry.schema->name);
    by_plugin[entry.plugin->name].push_back(entry.schema->name);
  }
  Diagnostic d = make_error("PluginError", "registry.unknown_block", {{"kind", to_string(kind)}, {"name", std::string(name)}});
  if (auto near = nearest_names(name, known); !near.empty())
    d.notes.push_back({"note.did_you_mean", {{"names", fmt::format("{}", fmt::join(near, ", "))}}});
  if (by_plugin.empty()) {
    d.notes.push_back({"note.no_known_blocks", {{"kind", to_string(kind)}}});
  } else {
    for (const auto& [plugin, names] : by_plugin)
      d.notes.push_back({"note.known_blocks", {{"kind", to_string(kind)}, {"plugin", plugin},
                                               {"names", fmt::format("{}", fmt::join(names, ", "))}}});
  }
  for (auto& note : failed_plugin_notes(report_)) d.notes.push_back(std::move(note));
  d.notes.push_back(search_path_note(report_));
  return Error(std::move(d));
}

}  // namespace eulerstack
