// The materialized layer stack and its exact parameter count.

#include <stdexcept>

#include "stages.hpp"

namespace eulerstack::spec {
namespace {

void apply_override(Json& layer, const Json& overrides, const Registry& registry) {
  if (!overrides.is_object()) return;
  const std::string mixer_group = override_group(schema_of(registry, BlockKind::Mixer, layer["mixer"]), BlockKind::Mixer);
  const std::string ffn_group = override_group(schema_of(registry, BlockKind::Ffn, layer["ffn"]), BlockKind::Ffn);
  for (const auto& [group, values] : overrides.items())
    for (const auto& [key, value] : values.items()) {
      if (group == "norm" || group == "residual") layer[group][key] = value;
      else if (group == ffn_group) layer["ffn"]["params"][key] = value;
      else if (group == mixer_group) layer["mixer"]["params"][key] = value;
    }
}

std::int64_t add(std::int64_t a, std::int64_t b) {
  std::int64_t sum;
  if (__builtin_add_overflow(a, b, &sum) || sum < 0)
    throw Error(make_error("ValidationError", "spec.param_overflow", {}));
  return sum;
}

std::int64_t mul(std::int64_t a, std::int64_t b) {
  std::int64_t product;
  if (__builtin_mul_overflow(a, b, &product)) throw Error(make_error("ValidationError", "spec.param_overflow", {}));
  return product;
}

// A plugin's formula for one block. An overflow inside it (CountOverflow from
// eulerstack/checked_count.hpp) or a negative result (a formula that wrapped
// unchecked) is reported at the block's place in the YAML.
std::int64_t formula(const BlockSchema& schema, const BlockContext& context, BlockKind kind, const SpecDocument& doc,
                     const std::string& path) {
  std::string detail;
  try {
    const std::int64_t n = schema.count_params(context);
    if (n >= 0) return n;
    detail = "the formula returned " + std::to_string(n);
  } catch (const std::overflow_error& e) {
    detail = e.what();
  }
  throw Error(error_at(doc, path, "spec.block_param_overflow",
                       {{"kind", to_string(kind)}, {"block", schema.name}, {"detail", detail}}, true));
}

std::int64_t block_count(const SpecDocument& doc, const Registry& registry, BlockKind kind, const Json& model,
                         const Json& block, const std::string& path) {
  std::int64_t total = formula(schema_of(registry, kind, block), block_context(model, block), kind, doc, path);
  if (block.contains("refs")) {
    for (const auto& [name, ref] : block["refs"].items()) {
      bool known = false;
      const BlockKind ref_kind = block_kind_from(ref["kind"].get<std::string>(), known);
      total = add(total, formula(ref_schema_of(registry, ref), block_context(model, ref_with_parent_params(block, ref)),
                                 ref_kind, doc, path));
    }
  }
  return total;
}

std::int64_t norm_count(const Json& norm, std::int64_t d_model) {
  return norm["type"] == "layernorm" ? mul(2, d_model) : d_model;
}

}  // namespace

std::string override_group(const BlockSchema& schema, BlockKind kind) {
  if (kind == BlockKind::Ffn) return "ffn";
  return schema.config_key.empty() ? schema.name : schema.config_key;
}

Json materialize_layers(const NormalizedSpec& spec, const Registry& registry) {
  Json layers = Json::array();
  for (const auto& group : spec.schedule) {
    const std::string name = group["template"].get<std::string>();
    for (std::int64_t r = 0; r < group["repeat"].get<std::int64_t>(); ++r) {
      Json layer = Json::object();
      layer["index"] = layers.size();
      layer["template"] = name;
      for (const auto& [key, value] : spec.templates[name].items()) layer[key] = value;
      apply_override(layer, group["override"], registry);
      layers.push_back(std::move(layer));
    }
  }
  return layers;
}

ParamBreakdown count_params(const SpecDocument& doc, const Registry& registry, const NormalizedSpec& spec,
                            const Json& layers) {
  ParamBreakdown out;
  const Json& model = spec.model;
  const std::int64_t d = model["d_model"].get<std::int64_t>();
  const std::int64_t vocab = model["vocab_size"].get<std::int64_t>();
  out.embedding = add(mul(vocab, d), block_count(doc, registry, BlockKind::Positional, model, spec.embedding["positional"],
                                                 "embedding.positional"));
  std::int64_t total = out.embedding;
  for (const auto& layer : layers) {
    const std::string tmpl = child_path("layer_templates", layer["template"].get<std::string>());
    LayerParams parts;
    parts.mixer = block_count(doc, registry, BlockKind::Mixer, model, layer["mixer"], child_path(tmpl, "mixer"));
    parts.ffn = block_count(doc, registry, BlockKind::Ffn, model, layer["ffn"], child_path(tmpl, "ffn"));
    // Parallel residual: one norm feeds both sublayers; otherwise one per sublayer.
    const std::int64_t norms = layer["residual"]["type"] == "parallel" ? 1 : 2;
    parts.norms = mul(norms, norm_count(layer["norm"], d));
    const std::int64_t n = add(add(parts.mixer, parts.ffn), parts.norms);
    out.layers.push_back(n);
    out.layer_parts.push_back(parts);
    total = add(total, n);
  }
  // Pre-norm stacks end with a final norm of the last layer's type; post-norm
  // stacks already end normalized.
  if (!layers.empty() && layers.back()["norm"]["position"] == "pre") out.final_norm = norm_count(layers.back()["norm"], d);
  const bool tied = spec.head["tie_weights"].get<bool>() && spec.embedding["tie_word_embeddings"].get<bool>();
  out.head = tied ? 0 : mul(vocab, d);
  out.total = add(add(total, out.final_norm), out.head);
  return out;
}

}  // namespace eulerstack::spec
