#include "blocks.hpp"

#include <algorithm>

#include "eulerstack/plugin_notes.hpp"

namespace eulerstack::spec {
namespace {

Json subset(const Json& mapping, const std::vector<ParamSpec>& params) {
  Json out = Json::object();
  if (!mapping.is_object()) return out;
  for (const auto& p : params)
    if (auto it = mapping.find(p.name); it != mapping.end()) out[p.name] = *it;
  return out;
}

// The failed plugins fill many lines: a run lists them once, later
// diagnostics point there.
void add_plugin_notes(SpecContext& ctx, Diagnostic& d) {
  const auto& report = ctx.registry.report();
  if (!report.failures.empty()) {
    if (ctx.plugin_failures_listed) {
      d.notes.push_back({"note.failed_plugins_listed", {}});
    } else {
      for (auto& note : failed_plugin_notes(report)) d.notes.push_back(std::move(note));
      ctx.plugin_failures_listed = true;
    }
  }
  d.notes.push_back(search_path_note(report));
}

Diagnostic unknown_block_at(SpecContext& ctx, BlockKind kind, const std::string& name, const std::string& path) {
  Diagnostic d = ctx.registry.unknown_block(kind, name).first();
  d.category = "ValidationError";
  d.where = ctx.doc.at(path);
  auto origin = [](const Note& note) { return note.id == "note.failed_plugin" || note.id == "note.search_path"; };
  d.notes.erase(std::remove_if(d.notes.begin(), d.notes.end(), origin), d.notes.end());
  add_plugin_notes(ctx, d);
  return d;
}

}  // namespace

void report_not_provided(SpecContext& ctx, const std::string& path, const std::string& feature, const std::string& what) {
  Diagnostic d = error_at(ctx.doc, path, "spec.feature_not_provided", {{"feature", feature}, {"what", what}}, true);
  add_plugin_notes(ctx, d);
  ctx.out.errors.push_back(std::move(d));
}

BlockKind block_kind_from(const std::string& name, bool& ok) {
  ok = true;
  for (BlockKind kind : kAllBlockKinds)
    if (name == to_string(kind)) return kind;
  ok = false;
  return BlockKind::Mixer;
}

std::set<std::string> parent_keys_of(const BlockSchema& schema) {
  std::set<std::string> keys;
  if (!schema.config_key.empty()) {
    keys.insert(schema.config_key);
  } else {
    for (const auto& p : schema.params) keys.insert(p.name);
    for (const auto& [key, what] : schema.unprovided_params) keys.insert(key);
  }
  for (const auto& p : schema.inline_params) keys.insert(p.name);
  return keys;
}

std::map<std::string, std::string> foreign_keys(const Registry& registry, BlockKind kind, const std::string& selected) {
  std::map<std::string, std::string> owners;
  const auto* chosen = registry.find(kind, selected);
  const auto own = chosen ? parent_keys_of(*chosen->schema) : std::set<std::string>{};
  for (const auto& entry : registry.entries(kind)) {
    if (entry.schema->name == selected) continue;
    for (const auto& key : parent_keys_of(*entry.schema))
      if (!own.count(key)) owners.emplace(key, std::string(to_string(kind)) + " '" + entry.schema->name + "'");
  }
  return owners;
}

const BlockSchema& schema_of(const Registry& registry, BlockKind kind, const Json& block_ir) {
  return *registry.find(kind, block_ir.at("type").get<std::string>())->schema;
}

const BlockSchema& ref_schema_of(const Registry& registry, const Json& ref_ir) {
  bool known = false;
  const BlockKind kind = block_kind_from(ref_ir.at("kind").get<std::string>(), known);
  return schema_of(registry, kind, ref_ir);
}

Json ref_with_parent_params(const Json& block_ir, const Json& ref_ir) {
  Json merged = ref_ir;
  for (const auto& [key, value] : block_ir.at("params").items()) merged["params"][key] = value;
  return merged;
}

std::optional<Json> resolve_block(SpecContext& ctx, BlockKind kind, const Json& parent, const std::string& path,
                                  const std::string& type_key) {
  const std::string type_path = child_path(path, type_key);
  if (!parent.is_object()) return std::nullopt;  // the caller reported the mapping itself
  auto type_it = parent.find(type_key);
  if (type_it == parent.end()) {
    ctx.out.errors.push_back(error_at(ctx.doc, path, "spec.missing_field", {{"field", type_key}, {"where", path}}));
    return std::nullopt;
  }
  if (!type_it->is_string()) {
    ctx.out.errors.push_back(error_at(ctx.doc, type_path, "spec.wrong_type",
                                      {{"expected", "string"}, {"actual", value_type_name(*type_it)}, {"value", type_it->dump()}}));
    return std::nullopt;
  }
  const std::string name = type_it->get<std::string>();
  const BlockEntry* entry = ctx.registry.find(kind, name);
  if (!entry) {
    ctx.out.errors.push_back(unknown_block_at(ctx, kind, name, type_path));
    return std::nullopt;
  }
  const BlockSchema& schema = *entry->schema;
  const bool nested = !schema.config_key.empty();
  const std::string params_path = nested ? child_path(path, schema.config_key) : path;
  const Json empty = Json::object();
  const Json& mapping = nested ? (parent.contains(schema.config_key) ? parent.at(schema.config_key) : empty) : parent;

  MappingRules rules;
  for (const auto& [key, what] : schema.unprovided_params) {
    rules.extra_keys.insert(key);
    if (mapping.is_object() && mapping.contains(key))
      report_not_provided(ctx, child_path(params_path, key), nested ? child_path(schema.config_key, key) : key, what);
  }

  // Blocks named by a parameter (e.g. a router) keep their own parameters in
  // the same mapping: find them first so their keys are not "unknown".
  std::vector<std::pair<const ParamSpec*, const BlockEntry*>> referenced;
  for (const auto& p : schema.params) {
    if (p.refers_to.empty()) continue;
    bool known_kind = false;
    BlockKind ref_kind = block_kind_from(p.refers_to, known_kind);
    std::string ref_name = p.default_value.is_string() ? p.default_value.get<std::string>() : "";
    if (mapping.is_object() && mapping.contains(p.name) && mapping.at(p.name).is_string())
      ref_name = mapping.at(p.name).get<std::string>();
    const BlockEntry* ref = known_kind ? ctx.registry.find(ref_kind, ref_name) : nullptr;
    if (!ref) {
      if (known_kind) ctx.out.errors.push_back(unknown_block_at(ctx, ref_kind, ref_name, child_path(params_path, p.name)));
      continue;
    }
    referenced.emplace_back(&p, ref);
    for (const auto& rp : ref->schema->params) rules.extra_keys.insert(rp.name);
  }

  Json params = nested ? check_params(mapping, schema.params, params_path, ctx.doc, ctx.out, rules)
                       : check_params(subset(parent, schema.params), schema.params, path, ctx.doc, ctx.out);
  if (!schema.inline_params.empty()) {
    Json inline_values = check_params(subset(parent, schema.inline_params), schema.inline_params, path, ctx.doc, ctx.out);
    for (auto& [key, value] : inline_values.items()) params[key] = value;
  }

  Json block{{"type", name}, {"plugin", entry->plugin->name}, {"plugin_version", entry->plugin->version},
             {"params", params}};
  for (const auto& [spec, ref] : referenced) {
    Json ref_params = check_params(subset(mapping, ref->schema->params), ref->schema->params, params_path, ctx.doc, ctx.out);
    block["refs"][spec->name] = Json{{"kind", spec->refers_to},
                                     {"type", ref->schema->name},
                                     {"plugin", ref->plugin->name},
                                     {"plugin_version", ref->plugin->version},
                                     {"params", ref_params}};
  }
  return block;
}

}  // namespace eulerstack::spec
