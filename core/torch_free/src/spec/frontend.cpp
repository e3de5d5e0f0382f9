#include "eulerstack/spec/frontend.hpp"

#include "eulerstack/spec/expressions.hpp"
#include "stages.hpp"

namespace eulerstack::spec {
namespace {

Json plugins_used(const Json& embedding, const Json& layers) {
  std::map<std::string, std::string> used;
  auto note = [&](const Json& block) {
    used[block["plugin"].get<std::string>()] = block["plugin_version"].get<std::string>();
    if (block.contains("refs"))
      for (const auto& [name, ref] : block["refs"].items())
        used[ref["plugin"].get<std::string>()] = ref["plugin_version"].get<std::string>();
  };
  note(embedding["positional"]);
  for (const auto& layer : layers) {
    note(layer["mixer"]);
    note(layer["ffn"]);
  }
  Json out = Json::array();
  for (const auto& [name, version] : used) out.push_back({{"name", name}, {"version", version}});
  return out;
}

Json params_json(const ParamBreakdown& p) {
  return {{"total", p.total}, {"embedding", p.embedding}, {"layers", p.layers}, {"final_norm", p.final_norm},
          {"head", p.head}};
}

}  // namespace

CompileResult compile_spec(SpecDocument doc, const Registry& registry) {
  CompileResult result;
  SpecContext ctx{doc, registry, result.diagnostics};

  Json let = resolve_expressions(doc, result.diagnostics.errors);
  NormalizedSpec spec = check_schema(ctx, doc.root);
  if (!result.diagnostics.errors.empty()) {
    result.failed_stage = 1;
    return result;
  }
  Json layers = materialize_layers(spec, registry);
  check_cross_fields(ctx, spec, layers);
  if (!result.diagnostics.errors.empty()) {
    result.failed_stage = 2;
    return result;
  }
  try {
    result.params = count_params(doc, registry, spec, layers);
  } catch (const Error& e) {
    result.diagnostics.errors = e.diagnostics();
    for (auto& d : result.diagnostics.errors)
      if (d.where.file.empty()) d.where.file = doc.file;  // a total has no one place in the file, but a file
    result.failed_stage = 2;
    return result;
  }
  check_realism(ctx, spec, layers, result.params);

  Json& ir = result.ir;
  ir["format"] = "eulerstack-ir";
  ir["schema_version"] = 1;
  ir["let"] = let;
  ir["model"] = spec.model;
  ir["tokenizer_contract"] = spec.tokenizer;
  ir["embedding"] = spec.embedding;
  ir["layer_templates"] = spec.templates;
  ir["layer_schedule"] = spec.schedule;
  ir["layers"] = layers;
  ir["head"] = spec.head;
  ir["head"]["tied"] = spec.head["tie_weights"].get<bool>() && spec.embedding["tie_word_embeddings"].get<bool>();
  ir["training_hints"] = spec.training_hints;
  ir["compatibility"] = spec.compatibility;
  ir["plugins"] = plugins_used(spec.embedding, layers);
  ir["params"] = params_json(result.params);
  return result;
}

}  // namespace eulerstack::spec
