// Stage 2: rules across fields: core's (heads, state flags) and each block's own.

#include "stages.hpp"

namespace eulerstack::spec {
namespace {

std::int64_t as_int(const Json& v) { return v.get<std::int64_t>(); }

// A plugin's findings, located at the parameter they name.
void report_block_issues(SpecContext& ctx, const BlockSchema& schema, const BlockContext& context,
                         const std::string& params_path) {
  if (!schema.cross_check) return;
  for (const auto& issue : schema.cross_check(context)) {
    const std::string path = issue.param.empty() ? params_path : child_path(params_path, issue.param);
    Diagnostic d = error_at(ctx.doc, path, "spec.block_issue",
                            {{"block", schema.name}, {"message", issue.message}, {"fix", issue.fix}});
    if (issue.warning) {
      d.severity = Severity::Warning;
      d.category = "RealismWarning";
      ctx.out.warnings.push_back(std::move(d));
    } else {
      d.category = "CompatibilityError";
      ctx.out.errors.push_back(std::move(d));
    }
  }
}

std::string params_path_of(const BlockSchema& schema, const std::string& path) {
  return schema.config_key.empty() ? path : child_path(path, schema.config_key);
}

void check_block(SpecContext& ctx, const NormalizedSpec& spec, BlockKind kind, const Json& block, const std::string& path) {
  const BlockSchema& schema = schema_of(ctx.registry, kind, block);
  report_block_issues(ctx, schema, block_context(spec.model, block), params_path_of(schema, path));
  if (!block.contains("refs")) return;
  for (const auto& [name, ref] : block["refs"].items())
    report_block_issues(ctx, ref_schema_of(ctx.registry, ref), block_context(spec.model, ref_with_parent_params(block, ref)),
                        params_path_of(schema, path));
}

}  // namespace

BlockContext block_context(const Json& model, const Json& block, int layer_index) {
  BlockContext context;
  context.model = model;
  context.params = block.at("params");
  context.layer_index = layer_index;
  return context;
}

void check_cross_fields(SpecContext& ctx, const NormalizedSpec& spec) {
  const auto d_model = as_int(spec.model["d_model"]);
  const auto heads = as_int(spec.model["n_heads"]);
  const auto kv_heads = as_int(spec.model["n_kv_heads"]);
  if (d_model % heads != 0)
    ctx.out.errors.push_back(error_at(ctx.doc, "model.n_heads", "spec.heads_divide_d_model",
                                      {{"d_model", std::to_string(d_model)}, {"n_heads", std::to_string(heads)}}));
  if (heads % kv_heads != 0)
    ctx.out.errors.push_back(error_at(ctx.doc, "model.n_kv_heads", "spec.kv_heads_divide_heads",
                                      {{"n_heads", std::to_string(heads)}, {"n_kv_heads", std::to_string(kv_heads)}}));
  for (auto& d : ctx.out.errors) d.category = "CompatibilityError";
  if (!ctx.out.errors.empty()) return;  // every block formula below divides by these

  check_block(ctx, spec, BlockKind::Positional, spec.embedding["positional"], "embedding");
  for (const auto& [name, tmpl] : spec.templates.items()) {
    const std::string path = child_path("layer_templates", name);
    const BlockSchema& mixer = schema_of(ctx.registry, BlockKind::Mixer, tmpl["mixer"]);
    for (const char* flag : {"kv_cache", "ssm_state"}) {
      auto cap = mixer.capabilities.find(flag);
      const bool supported = cap != mixer.capabilities.end() && cap->second;
      if (tmpl["state"][flag].get<bool>() && !supported) {
        Diagnostic d = error_at(ctx.doc, child_path(path, std::string("state.") + flag), "spec.state_not_supported",
                                {{"template", name}, {"flag", flag}, {"mixer", mixer.name}});
        d.category = "CompatibilityError";
        ctx.out.errors.push_back(std::move(d));
      }
    }
    check_block(ctx, spec, BlockKind::Mixer, tmpl["mixer"], child_path(path, "mixer"));
    check_block(ctx, spec, BlockKind::Ffn, tmpl["ffn"], child_path(path, "ffn"));
  }
}

}  // namespace eulerstack::spec
