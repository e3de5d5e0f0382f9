#pragma once
// Resolving a block reference in a spec (`mixer: {type: NAME, NAME: {...}}`,
// `embedding: {positional: NAME, <its params>...}`) against the registry:
// the plugin that provides it, its validated parameters, and the blocks its
// parameters name (e.g. a router). Internal to the front end.

#include <optional>
#include <set>
#include <string>

#include "eulerstack/registry.hpp"
#include "eulerstack/spec/check_params.hpp"

namespace eulerstack::spec {

struct SpecContext {
  const SpecDocument& doc;
  const Registry& registry;
  Diagnostics& out;
  bool plugin_failures_listed = false;  // once per run, under the first diagnostic that needs them
};

// "'<feature>' (<what>) is not provided by any loaded plugin", at the key of
// `path`, with the plugins that failed to load and the search path.
void report_not_provided(SpecContext& ctx, const std::string& path, const std::string& feature, const std::string& what);

// Keys a block of this schema owns in the mapping that selects it (its
// unprovided parameters too, when they sit there: they are reported as such).
std::set<std::string> parent_keys_of(const BlockSchema& schema);

// For the unknown-key check of a selecting mapping: the keys owned by the
// *other* blocks of `kind` -> "mixer 'NAME'", so a stray sub-mapping is
// reported as belonging to another block.
std::map<std::string, std::string> foreign_keys(const Registry& registry, BlockKind kind, const std::string& selected);

// Validates the block selected by `parent[type_key]` and returns its IR:
//   {type, plugin, plugin_version, params, refs?}
// or nullopt after reporting the problem. Does not check unknown keys of
// `parent` itself (the caller owns that mapping).
std::optional<Json> resolve_block(SpecContext& ctx, BlockKind kind, const Json& parent, const std::string& path,
                                  const std::string& type_key = "type");

BlockKind block_kind_from(const std::string& name, bool& ok);

const BlockSchema& schema_of(const Registry& registry, BlockKind kind, const Json& block_ir);

// A block named by another block's parameter (block_ir["refs"][name]): its
// schema, and its IR as its plugin sees it, with the naming block's parameters
// merged into its own (a router needs the expert count).
const BlockSchema& ref_schema_of(const Registry& registry, const Json& ref_ir);
Json ref_with_parent_params(const Json& block_ir, const Json& ref_ir);

}  // namespace eulerstack::spec
