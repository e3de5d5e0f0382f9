#include "picture_model.hpp"

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "eulerstack/json_text.hpp"

namespace eulerstack::cli::picture {
namespace {

std::string value_text(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) return fmt::format("{}", v.get<double>());
  return json_text(v);
}

const BlockSchema* schema_for(const Registry& registry, BlockKind kind, const std::string& type) {
  const BlockEntry* entry = registry.find(kind, type);
  return entry ? entry->schema : nullptr;
}

// The block's type and the values of the parameters its schema marks for labels.
BlockLabel label_of(const Registry& registry, BlockKind kind, const Json& block) {
  BlockLabel label{block.at("type").get<std::string>(), ""};
  const BlockSchema* schema = schema_for(registry, kind, label.type);
  if (!schema) return label;
  const Json& params = block.at("params");
  auto add = [&](const std::vector<ParamSpec>& specs) {
    for (const auto& p : specs) {
      if (!p.in_label || !params.contains(p.name)) continue;
      const Json& v = params.at(p.name);
      if (v.is_null() || v == false || v == 0) continue;  // unset: nothing to tell instances apart by
      // A choice's value names itself ("mamba2"); a number needs its parameter's name.
      const std::string shown = p.type == ParamType::Enum ? value_text(v) : p.name + " " + value_text(v);
      label.details += (label.details.empty() ? "" : " · ") + shown;
    }
  };
  add(schema->params);
  add(schema->inline_params);
  return label;
}

std::vector<std::string> override_lines(const Json& overrides) {
  std::vector<std::string> out;
  if (!overrides.is_object()) return out;
  for (const auto& [group, values] : overrides.items()) {
    if (!values.is_object()) continue;
    for (const auto& [key, value] : values.items()) out.push_back(group + "." + key + " = " + value_text(value));
  }
  return out;
}

void note_type(std::vector<BlockKindInfo>& types, const Registry& registry, BlockKind kind, const std::string& type) {
  const std::string kind_name = to_string(kind);
  for (const auto& t : types)
    if (t.kind == kind_name && t.type == type) return;
  const BlockEntry* entry = registry.find(kind, type);
  types.push_back({kind_name, type, entry ? entry->schema->summary : "", entry && entry->plugin ? entry->plugin->name : ""});
}

}  // namespace

PictureModel picture_model(const spec::CompileResult& result, const Registry& registry) {
  const Json& ir = result.ir;
  const Json& m = ir.at("model");
  PictureModel out;
  out.name = m.at("name").get<std::string>();
  out.d_model = m.at("d_model").get<std::int64_t>();
  out.n_heads = m.at("n_heads").get<std::int64_t>();
  out.n_kv_heads = m.at("n_kv_heads").get<std::int64_t>();
  out.vocab_size = m.at("vocab_size").get<std::int64_t>();
  out.max_seq_len = m.at("max_seq_len").get<std::int64_t>();
  out.mlp_ratio = value_text(m.at("mlp_ratio"));
  out.dtype = m.at("dtype").get<std::string>();
  out.positional = label_of(registry, BlockKind::Positional, ir.at("embedding").at("positional"));
  out.head = ir.at("head").at("type").get<std::string>();
  out.tied = ir.at("head").at("tied").get<bool>();
  out.total_params = result.params.total;
  if (m.contains("target_params") && m.at("target_params").is_number())
    out.target_params = m.at("target_params").get<std::int64_t>();

  int first = 0;
  for (const auto& group : ir.at("layer_schedule")) {
    const int repeat = static_cast<int>(group.at("repeat").get<std::int64_t>());
    out.groups.push_back({first, repeat, group.at("template").get<std::string>(),
                          group.at("override").is_object() && !group.at("override").empty()});
    const auto lines = override_lines(group.at("override"));
    for (int r = 0; r < repeat; ++r) {
      const Json& layer = ir.at("layers").at(first + r);
      LayerView view;
      view.index = first + r;
      view.template_name = out.groups.back().template_name;
      view.mixer = label_of(registry, BlockKind::Mixer, layer.at("mixer"));
      view.ffn = label_of(registry, BlockKind::Ffn, layer.at("ffn"));
      view.norm = layer.at("norm").at("type").get<std::string>() + " (" + layer.at("norm").at("position").get<std::string>() + ")";
      view.parallel = layer.at("residual").at("type") == "parallel";
      view.overrides = lines;
      view.params = result.params.layer_parts.at(view.index);
      view.total_params = result.params.layers.at(view.index);
      out.layers.push_back(std::move(view));
    }
    first += repeat;
  }

  const auto states = spec::decode_states(ir, registry);
  for (std::size_t i = 0; i < out.layers.size(); ++i) {
    out.layers[i].state = states.at(i);
    out.state_known = out.state_known && states[i].known;
    out.state_bytes += states[i].bytes;
    for (const auto& part : states[i].parts) out.state_bytes_per_token += part.bytes_per_token;
  }

  // Block types in order of first use, mixers before FFNs, and the count by slice.
  for (const auto& l : out.layers) note_type(out.block_types, registry, BlockKind::Mixer, l.mixer.type);
  for (const auto& l : out.layers) note_type(out.block_types, registry, BlockKind::Ffn, l.ffn.type);
  std::map<std::string, std::int64_t> mixers, ffns;
  std::int64_t norms = result.params.final_norm;
  for (const auto& l : out.layers) {
    mixers[l.mixer.type] += l.params.mixer;
    ffns[l.ffn.type] += l.params.ffn;
    norms += l.params.norms;
  }
  out.slices.push_back({"embedding", "", result.params.embedding});
  for (const auto& t : out.block_types)
    out.slices.push_back({t.type, t.kind, t.kind == "mixer" ? mixers[t.type] : ffns[t.type]});
  out.slices.push_back({"norms", "", norms});
  out.slices.push_back({"head", "", result.params.head});
  return out;
}

std::string byte_size(std::int64_t bytes) {
  static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(bytes);
  int unit = 0;
  while (v >= 1024.0 && unit < 6) v /= 1024.0, ++unit;
  return unit == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", v, units[unit]);
}

}  // namespace eulerstack::cli::picture
