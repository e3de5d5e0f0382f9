// Stage 1: every section against its table, every block against its plugin's.

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "eulerstack/spec/core_schema.hpp"
#include "eulerstack/suggest.hpp"
#include "stages.hpp"

namespace eulerstack::spec {
namespace {

const std::vector<std::string> kRequiredSections{"model", "tokenizer_contract", "embedding", "layer_templates",
                                                 "layer_schedule", "head"};
const std::vector<std::string> kOptionalSections{"training_hints", "compatibility"};

// Whether a normalized section holds `value` at `key` (a wrongly typed value was reported and may be anything).
bool has_value(const Json& section, const char* key, const char* value) {
  return section.is_object() && section.contains(key) && section.at(key) == value;
}

Json section(const Json& root, const std::string& name) {
  auto it = root.find(name);
  return it == root.end() ? Json() : *it;
}

// A core section checked against its table. An absent section gets its
// defaults silently: when it is required, its absence is the one error, not
// also each of its required fields.
Json check_section(SpecContext& ctx, const Json& root, const std::string& name, const std::vector<ParamSpec>& params) {
  auto it = root.find(name);
  if (it != root.end()) return check_params(*it, params, name, ctx.doc, ctx.out);
  Diagnostics absent;
  return check_params(Json(), params, name, ctx.doc, absent);
}

// The keys allowed in a mapping that selects a block by `type_key`: the
// selected block's own, and those of other blocks reported as theirs. With no
// block selected (type missing, wrong or unknown: reported by resolve_block)
// a block's key cannot be judged, so none is reported.
MappingRules selecting_rules(SpecContext& ctx, BlockKind kind, const Json& value, const std::string& type_key) {
  auto type = value.find(type_key);  // end() when value is no mapping
  const std::string selected = type != value.end() && type->is_string() ? type->get<std::string>() : "";
  MappingRules rules;
  rules.extra_keys = {type_key};
  if (const auto* entry = ctx.registry.find(kind, selected)) {
    rules.extra_keys.merge(parent_keys_of(*entry->schema));
    rules.foreign_keys = foreign_keys(ctx.registry, kind, selected);
  } else {
    for (const auto& [key, owner] : foreign_keys(ctx.registry, kind, selected)) rules.extra_keys.insert(key);
  }
  return rules;
}

// A mapping that selects a block by `type` and holds nothing else of its own.
std::optional<Json> block_mapping(SpecContext& ctx, BlockKind kind, const Json& value, const std::string& path) {
  if (!value.is_object()) {
    ctx.out.errors.push_back(error_at(ctx.doc, path, "spec.expected_mapping", {{"actual", value_type_name(value)}}));
    return std::nullopt;
  }
  check_params(value, {}, path, ctx.doc, ctx.out, selecting_rules(ctx, kind, value, "type"));
  return resolve_block(ctx, kind, value, path);
}

Json check_embedding(SpecContext& ctx, const Json& value) {
  const std::string path = "embedding";
  Json embedding = check_params(value, embedding_params(), path, ctx.doc, ctx.out,
                                selecting_rules(ctx, BlockKind::Positional, value, "positional"));
  if (auto positional = resolve_block(ctx, BlockKind::Positional, value, path, "positional"))
    embedding["positional"] = *positional;
  return embedding;
}

Json check_template(SpecContext& ctx, const Json& value, const std::string& path) {
  Json tmpl = Json::object();
  if (!value.is_object()) {
    ctx.out.errors.push_back(error_at(ctx.doc, path, "spec.expected_mapping", {{"actual", value_type_name(value)}}));
    return tmpl;
  }
  MappingRules rules;
  rules.extra_keys = {"mixer", "ffn", "norm", "residual", "state"};
  for (const auto& [key, what] : unprovided_template_keys()) {
    rules.extra_keys.insert(key);
    if (value.contains(key)) report_not_provided(ctx, child_path(path, key), key, what);
  }
  check_params(value, {}, path, ctx.doc, ctx.out, rules);
  for (const char* required : {"mixer", "ffn"})
    if (!value.contains(required))
      ctx.out.errors.push_back(error_at(ctx.doc, path, "spec.missing_field", {{"field", required}, {"where", path}}));
  if (value.contains("mixer"))
    if (auto mixer = block_mapping(ctx, BlockKind::Mixer, value.at("mixer"), child_path(path, "mixer"))) tmpl["mixer"] = *mixer;
  if (value.contains("ffn"))
    if (auto ffn = block_mapping(ctx, BlockKind::Ffn, value.at("ffn"), child_path(path, "ffn"))) tmpl["ffn"] = *ffn;
  tmpl["norm"] = check_params(section(value, "norm"), norm_params(), child_path(path, "norm"), ctx.doc, ctx.out);
  tmpl["residual"] = check_params(section(value, "residual"), residual_params(), child_path(path, "residual"), ctx.doc, ctx.out);
  if (has_value(tmpl["residual"], "type", "hyper_connection"))
    report_not_provided(ctx, child_path(path, "residual.type"), "residual.type: hyper_connection",
                         "manifold-constrained hyper-connections (mHC)");

  // Unset state flags follow the mixer: what it can keep, it keeps (as upstream).
  const Json state_raw = section(value, "state");
  Json state = check_params(state_raw, state_params(), child_path(path, "state"), ctx.doc, ctx.out);
  const bool explicit_state = state_raw.is_object() && (state_raw.contains("kv_cache") || state_raw.contains("ssm_state"));
  if (!explicit_state && tmpl.contains("mixer")) {
    const auto& caps = schema_of(ctx.registry, BlockKind::Mixer, tmpl["mixer"]).capabilities;
    for (const char* flag : {"kv_cache", "ssm_state"}) {
      auto cap = caps.find(flag);
      state[flag] = cap != caps.end() && cap->second;
    }
  }
  tmpl["state"] = state;
  return tmpl;
}

// `override:` (of a template whose mixer and ffn resolved) may only change
// parameters marked per-layer, which never change the parameter count:
// norm.type/position, residual.scaling, and the block parameters their plugins
// mark overridable (attention.window, ffn.activation...).
Json check_override(SpecContext& ctx, const Json& value, const std::string& path, const Json& tmpl) {
  Json result = Json::object();
  if (value.is_null()) return Json();
  if (!value.is_object()) {
    ctx.out.errors.push_back(error_at(ctx.doc, path, "spec.expected_mapping", {{"actual", value_type_name(value)}}));
    return Json();
  }
  std::map<std::string, std::vector<const ParamSpec*>> allowed;
  auto add = [&](const std::string& group, const std::vector<ParamSpec>& params) {
    for (const auto& p : params)
      if (p.per_layer) allowed[group].push_back(&p);
  };
  add("norm", norm_params());
  add("residual", residual_params());
  const auto& mixer = schema_of(ctx.registry, BlockKind::Mixer, tmpl["mixer"]);
  add(override_group(mixer, BlockKind::Mixer), mixer.params);
  const auto& ffn = schema_of(ctx.registry, BlockKind::Ffn, tmpl["ffn"]);
  add(override_group(ffn, BlockKind::Ffn), ffn.inline_params);
  if (ffn.config_key.empty()) add(override_group(ffn, BlockKind::Ffn), ffn.params);
  std::vector<std::string> listing;
  for (const auto& [group, params] : allowed)
    for (const auto* p : params) listing.push_back(group + "." + p->name);

  for (const auto& [group, entries] : value.items()) {
    const std::string group_path = child_path(path, group);
    auto it = allowed.find(group);
    if (it != allowed.end() && !entries.is_object()) {
      if (!entries.is_null())  // null: nothing to override, as upstream
        ctx.out.errors.push_back(error_at(ctx.doc, group_path, "spec.expected_mapping", {{"actual", value_type_name(entries)}}));
      continue;
    }
    if (it == allowed.end()) {
      const bool other_mixer = ctx.registry.find(BlockKind::Mixer, group) != nullptr;
      Diagnostic d = error_at(ctx.doc, group_path, other_mixer ? "spec.override_wrong_mixer" : "spec.override_not_allowed",
                              {{"key", group}, {"mixer", mixer.name},
                               {"allowed", fmt::format("{}", fmt::join(listing, ", "))}},
                              true);
      ctx.out.errors.push_back(std::move(d));
      continue;
    }
    for (const auto& [key, item] : entries.items()) {
      const ParamSpec* spec = nullptr;
      for (const auto* p : it->second)
        if (p->name == key) spec = p;
      if (!spec) {
        ctx.out.errors.push_back(error_at(ctx.doc, child_path(group_path, key), "spec.override_not_allowed",
                                          {{"key", group + "." + key}, {"allowed", fmt::format("{}", fmt::join(listing, ", "))}},
                                          true));
        continue;
      }
      result[group][key] = check_value(item, *spec, child_path(group_path, key), ctx.doc, ctx.out);
    }
  }
  return result;
}

Json check_schedule(SpecContext& ctx, const Json& value, const Json& templates) {
  Json schedule = Json::array();
  if (!value.is_array() || value.empty()) {
    ctx.out.errors.push_back(error_at(ctx.doc, "layer_schedule", "spec.empty_schedule", {}));
    return schedule;
  }
  std::vector<std::string> names;
  for (const auto& [name, t] : templates.items()) names.push_back(name);
  std::int64_t layers = 0;  // sums repeats within range, at most max_nodes of them: cannot overflow
  for (std::size_t i = 0; i < value.size(); ++i) {
    const std::string path = index_path("layer_schedule", i);
    const Json& entry = value[i];
    MappingRules rules;
    rules.extra_keys = {"override"};
    for (const auto& [key, what] : unprovided_schedule_keys()) {
      rules.extra_keys.insert(key);
      if (entry.is_object() && entry.contains(key)) report_not_provided(ctx, child_path(path, key), key, what);
    }
    Json group = check_params(entry, {param::text("template", std::nullopt).mandatory().describe("layer template"),
                                      param::integer("repeat", 1).at_least(1).at_most(limits::kMaxLayers).describe("consecutive layers")},
                              path, ctx.doc, ctx.out, rules);
    if (group.contains("repeat") && group["repeat"].is_number_integer()) {
      const auto repeat = group["repeat"].get<std::int64_t>();
      if (repeat >= 1 && repeat <= limits::kMaxLayers) layers += repeat;
    }
    if (!group.contains("template") || !group["template"].is_string()) continue;
    const std::string name = group["template"].get<std::string>();
    if (!templates.contains(name)) {
      Diagnostic d = error_at(ctx.doc, child_path(path, "template"), "spec.unknown_template",
                              {{"template", name}, {"known", fmt::format("{}", fmt::join(names, ", "))}});
      if (auto near = nearest_names(name, names); !near.empty())
        d.notes.push_back({"note.did_you_mean", {{"names", fmt::format("{}", fmt::join(near, ", "))}}});
      ctx.out.errors.push_back(std::move(d));
      continue;
    }
    const Json& tmpl = templates.at(name);
    if (!tmpl.contains("mixer") || !tmpl.contains("ffn")) continue;  // the template's error stands for its overrides too
    group["override"] = entry.is_object() && entry.contains("override")
                            ? check_override(ctx, entry.at("override"), child_path(path, "override"), tmpl)
                            : Json();
    schedule.push_back(group);
  }
  if (layers > limits::kMaxLayers)
    ctx.out.errors.push_back(error_at(ctx.doc, "layer_schedule", "spec.too_many_layers",
                                      {{"layers", std::to_string(layers)}, {"limit", std::to_string(limits::kMaxLayers)}}, true));
  return schedule;
}

}  // namespace

NormalizedSpec check_schema(SpecContext& ctx, const Json& root) {
  NormalizedSpec spec;
  auto version = root.find("schema_version");
  if (version == root.end()) {
    ctx.out.errors.push_back(error_at(ctx.doc, "", "spec.schema_version_missing", {}));
  } else if (!version->is_number_integer() || version->get<long long>() != 1) {
    ctx.out.errors.push_back(error_at(ctx.doc, "schema_version", "spec.schema_version_unsupported", {{"value", version->dump()}}));
  }
  MappingRules top;
  top.extra_keys = {"schema_version"};
  for (const auto& s : kRequiredSections) top.extra_keys.insert(s);
  for (const auto& s : kOptionalSections) top.extra_keys.insert(s);
  for (const auto& [key, what] : unprovided_top_level_keys()) {
    top.extra_keys.insert(key);
    if (root.contains(key)) report_not_provided(ctx, key, key, what);
  }
  check_params(root, {}, "", ctx.doc, ctx.out, top);
  for (const auto& name : kRequiredSections)
    if (!root.contains(name))
      ctx.out.errors.push_back(error_at(ctx.doc, "", "spec.missing_field", {{"field", name}, {"where", "@msg:word.top_level"}}));

  spec.model = check_section(ctx, root, "model", model_params());
  if (spec.model.contains("n_kv_heads") && spec.model["n_kv_heads"].is_null()) spec.model["n_kv_heads"] = spec.model["n_heads"];
  spec.tokenizer = check_section(ctx, root, "tokenizer_contract", tokenizer_params());
  spec.embedding = root.contains("embedding") ? check_embedding(ctx, root.at("embedding")) : Json::object();

  spec.templates = Json::object();
  const Json templates = section(root, "layer_templates");
  if (!templates.is_object() || templates.empty()) {
    if (root.contains("layer_templates"))
      ctx.out.errors.push_back(error_at(ctx.doc, "layer_templates", "spec.empty_templates", {}));
  } else {
    for (const auto& [name, value] : templates.items())
      spec.templates[name] = check_template(ctx, value, child_path("layer_templates", name));
  }
  if (root.contains("layer_schedule")) spec.schedule = check_schedule(ctx, root.at("layer_schedule"), spec.templates);

  spec.head = check_section(ctx, root, "head", head_params());
  if (has_value(spec.head, "type", "causal_lm_mtp"))
    report_not_provided(ctx, "head.type", "head.type: causal_lm_mtp", "multi-token prediction head");
  spec.training_hints = check_section(ctx, root, "training_hints", training_hints_params());
  spec.compatibility = check_section(ctx, root, "compatibility", compatibility_params());
  return spec;
}

}  // namespace eulerstack::spec
