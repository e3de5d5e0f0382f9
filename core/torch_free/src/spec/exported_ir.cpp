#include "eulerstack/spec/exported_ir.hpp"

#include <functional>

#include <nlohmann/json.hpp>

namespace eulerstack::spec {
namespace {

const std::vector<std::string> kPlainSections{"model", "tokenizer_contract", "layer_schedule", "training_hints",
                                               "compatibility"};

bool is_inline(const BlockSchema& schema, const std::string& key) {
  for (const auto& p : schema.inline_params)
    if (p.name == key) return true;
  return false;
}

// A block IR {type, plugin, plugin_version, params, refs} put back into the
// mapping that selects it: `type_key` names it, its parameters go where its
// schema keeps them (a sub-mapping named config_key, or inline), and the blocks
// it names keep theirs in the same mapping as its own.
void put_block(Json& parent, const std::string& type_key, BlockKind kind, const Json& block, const Registry& registry) {
  if (!block.is_object() || !block.contains("type")) {
    parent[type_key] = block;
    return;
  }
  parent[type_key] = block.at("type");
  const BlockEntry* entry = block.at("type").is_string() ? registry.find(kind, block.at("type").get<std::string>()) : nullptr;
  if (!entry) return;  // the front end reports the unknown block
  const BlockSchema& schema = *entry->schema;
  const bool nested = !schema.config_key.empty();
  Json inline_values = Json::object();
  Json own = Json::object();
  if (block.contains("params") && block.at("params").is_object())
    for (const auto& [key, value] : block.at("params").items()) (is_inline(schema, key) ? inline_values : own)[key] = value;
  if (block.contains("refs") && block.at("refs").is_object())
    for (const auto& [name, ref] : block.at("refs").items())
      if (ref.is_object() && ref.contains("params") && ref.at("params").is_object())
        for (const auto& [key, value] : ref.at("params").items()) own[key] = value;
  if (nested) parent[schema.config_key] = own;
  else parent.update(own);
  parent.update(inline_values);
}

Json block_mapping(BlockKind kind, const Json& block, const Registry& registry) {
  Json out = Json::object();
  put_block(out, "type", kind, block, registry);
  return out;
}

Json template_of(const Json& tmpl, const Registry& registry) {
  if (!tmpl.is_object()) return tmpl;
  Json out = Json::object();
  for (const auto& [key, value] : tmpl.items()) {
    if (key == "mixer") out[key] = block_mapping(BlockKind::Mixer, value, registry);
    else if (key == "ffn") out[key] = block_mapping(BlockKind::Ffn, value, registry);
    else out[key] = value;
  }
  return out;
}

}  // namespace

SpecDocument spec_of_ir(const Json& ir, const Registry& registry, std::string file) {
  SpecDocument doc;
  doc.file = std::move(file);
  Json spec = Json::object();
  spec["schema_version"] = ir.is_object() && ir.contains("schema_version") ? ir.at("schema_version") : Json(1);
  if (!ir.is_object()) {
    doc.root = spec;
    return doc;
  }
  for (const auto& name : kPlainSections)
    if (ir.contains(name)) spec[name] = ir.at(name);
  if (ir.contains("embedding")) {
    const Json& embedding = ir.at("embedding");
    if (embedding.is_object()) {
      Json out = Json::object();
      for (const auto& [key, value] : embedding.items())
        if (key == "positional") put_block(out, "positional", BlockKind::Positional, value, registry);
        else out[key] = value;
      spec["embedding"] = out;
    } else {
      spec["embedding"] = embedding;
    }
  }
  if (ir.contains("layer_templates")) {
    const Json& templates = ir.at("layer_templates");
    if (templates.is_object()) {
      Json out = Json::object();
      for (const auto& [name, tmpl] : templates.items()) out[name] = template_of(tmpl, registry);
      spec["layer_templates"] = out;
    } else {
      spec["layer_templates"] = templates;
    }
  }
  if (ir.contains("head")) {
    Json head = ir.at("head");
    if (head.is_object()) head.erase("tied");  // derived, not a spec key
    spec["head"] = head;
  }
  doc.root = spec;
  return doc;
}

std::optional<std::string> ir_difference(const Json& stored, const Json& compiled) {
  // Unordered JSON: members compare by name, not by position.
  std::function<void(nlohmann::json&)> drop_versions = [&](nlohmann::json& j) {
    if (j.is_object()) {
      j.erase("plugin_version");
      for (auto& [key, value] : j.items()) drop_versions(value);
    } else if (j.is_array()) {
      for (auto& value : j) drop_versions(value);
    }
  };
  auto comparable = [&](const Json& ir) {
    nlohmann::json j = ir;
    if (j.is_object()) {
      j.erase("let");      // already substituted into the sections
      j.erase("plugins");  // what the layers use: compared through the layers
      j.erase("params");   // counts derived from the sections (stale after an HF vocabulary resize)
    }
    drop_versions(j);
    return j;
  };
  const nlohmann::json a = comparable(stored);
  const nlohmann::json b = comparable(compiled);
  if (a == b) return std::nullopt;
  const auto patch = nlohmann::json::diff(b, a);
  for (const auto& op : patch) {
    // A block parameter added since the export: today's compile fills in its default, which the stored
    // IR lacks (what the block computes with its default is what it computed before it had the parameter).
    const auto path = op.at("path").get<std::string>();
    const auto parent = path.substr(0, path.rfind('/'));
    const bool added_parameter = op.at("op") == "remove" && parent.size() >= 7 &&
                                 parent.compare(parent.size() - 7, 7, "/params") == 0;
    if (!added_parameter) return path;
  }
  return std::nullopt;
}

}  // namespace eulerstack::spec
