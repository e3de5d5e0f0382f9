#include "block_printer.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace eulerstack::cli {
void print_param_table(const std::vector<ParamSpec>& params, const std::string& indent, std::ostream& out) {
  std::size_t width = 0;
  for (const auto& p : params) width = std::max(width, p.name.size());
  for (const auto& p : params) {
    out << fmt::format("{}{:<{}}  {}\n", indent, p.name, width, describe_constraints(p));
    out << fmt::format("{}{:<{}}  {}\n", indent, "", width, p.doc);
    if (!p.fields.empty()) print_param_table(p.fields, indent + "    ", out);
  }
}

std::string yaml_location(const BlockEntry& block) {
  const std::string& key = block.schema->config_key;
  switch (block.kind) {
    case BlockKind::Mixer: return "layer_templates.<name>.mixer" + (key.empty() ? "" : "." + key);
    case BlockKind::Ffn: return "layer_templates.<name>.ffn" + (key.empty() ? "" : "." + key);
    case BlockKind::Positional: return "embedding";
    case BlockKind::Router: return "the mapping whose parameter names this router";
  }
  return "";
}

namespace {

void print_unprovided(const Session& session, const BlockSchema& s, std::ostream& out) {
  if (s.unprovided_params.empty()) return;
  out << "  " << session.text("plugins.unprovided") << "\n";
  std::size_t width = 0;
  for (const auto& [key, what] : s.unprovided_params) width = std::max(width, key.size());
  for (const auto& [key, what] : s.unprovided_params) out << fmt::format("    {:<{}}  {}\n", key, width, what);
}

}  // namespace

void print_block(const Session& session, const BlockEntry& block, std::ostream& out) {
  const auto& s = *block.schema;
  out << fmt::format("{} {}: {}\n", to_string(block.kind), s.name, s.summary);
  out << "  " << session.text("plugins.provided_by", {{"plugin", block.plugin->name}, {"version", block.plugin->version},
                                                     {"file", block.plugin->file.string()}})
      << "\n";
  if (s.params.empty() && s.inline_params.empty()) {
    out << "  " << session.text("plugins.no_parameters") << "\n";
    print_unprovided(session, s, out);
    out << "\n";
    return;
  }
  if (!s.params.empty()) {
    out << "  " << session.text("plugins.parameters", {{"where", yaml_location(block)}}) << "\n";
    print_param_table(s.params, "    ", out);
  }
  if (!s.inline_params.empty()) {
    std::string where = yaml_location(block);
    if (!s.config_key.empty()) where = where.substr(0, where.rfind('.'));  // beside `type`, not in the sub-mapping
    out << "  " << session.text("plugins.parameters", {{"where", where}}) << "\n";
    print_param_table(s.inline_params, "    ", out);
  }
  print_unprovided(session, s, out);
  out << "\n";
}

Json block_json(const BlockEntry& block) {
  const auto& s = *block.schema;
  Json caps = Json::object();
  for (const auto& [name, value] : s.capabilities) caps[name] = value;
  Json unprovided = Json::object();
  for (const auto& [key, what] : s.unprovided_params) unprovided[key] = what;
  return {{"kind", to_string(block.kind)},
          {"name", s.name},
          {"summary", s.summary},
          {"plugin", block.plugin->name},
          {"plugin_version", block.plugin->version},
          {"yaml", yaml_location(block)},
          {"config_key", s.config_key},
          {"params", to_json(s.params)},
          {"inline_params", to_json(s.inline_params)},
          {"unprovided_params", unprovided},
          {"capabilities", caps}};
}

}  // namespace eulerstack::cli
