// Stage 2: rules across fields: core's (heads, state flags) and each block's own.

#include <set>
#include <tuple>

#include "stages.hpp"

namespace eulerstack::spec {
namespace {

std::int64_t as_int(const Json& v) { return v.get<std::int64_t>(); }

// Where a block's parameters sit: the template's mapping, and the schedule
// group's override of them when the layer came from a group that overrides.
struct BlockPlace {
  std::string params_path;    // layer_templates.<t>.mixer.attention
  std::string override_path;  // layer_schedule[<g>].override.attention, or ""
  Json overridden = Json::object();  // the keys that override changed, in YAML order
};

// A plugin finding's location: the override that changed the parameter it
// names; else, when the override caused it (the template alone is fine), the
// first parameter that override changed; else the template's parameter.
std::string issue_path(const BlockIssue& issue, const BlockPlace& place, const std::vector<BlockIssue>& template_issues) {
  const std::string in_template = issue.param.empty() ? place.params_path : child_path(place.params_path, issue.param);
  if (place.overridden.empty()) return in_template;
  const std::string top = issue.param.substr(0, issue.param.find('.'));
  if (!top.empty() && place.overridden.contains(top)) return child_path(place.override_path, top);
  for (const auto& t : template_issues)
    if (t.id == issue.id && t.args == issue.args && t.param == issue.param && t.warning == issue.warning) return in_template;
  return child_path(place.override_path, place.overridden.begin().key());
}

// Reports each distinct finding once: a template repeated over many layers
// gives the same finding at the same place every time.
class IssueReporter {
 public:
  explicit IssueReporter(SpecContext& ctx) : ctx_(ctx) {}

  void check(const BlockSchema& schema, const BlockContext& context, const BlockPlace& place,
             const BlockContext& template_context) {
    if (!schema.cross_check) return;
    const auto issues = schema.cross_check(context);
    std::vector<BlockIssue> template_issues;
    if (!place.overridden.empty() && !issues.empty()) template_issues = schema.cross_check(template_context);
    for (const auto& issue : issues) report(schema, issue, issue_path(issue, place, template_issues));
  }

 private:
  void report(const BlockSchema& schema, const BlockIssue& issue, const std::string& path) {
    MessageArgs args = issue.args;
    args["block"] = schema.name;
    if (!seen_.insert({path, issue.id, args, issue.warning}).second) return;
    Diagnostic d = error_at(ctx_.doc, path, issue.id, std::move(args));
    if (issue.warning) {
      d.severity = Severity::Warning;
      d.category = "RealismWarning";
      ctx_.out.warnings.push_back(std::move(d));
    } else {
      d.category = "CompatibilityError";
      ctx_.out.errors.push_back(std::move(d));
    }
  }

  SpecContext& ctx_;
  std::set<std::tuple<std::string, std::string, MessageArgs, bool>> seen_;
};

const char* slot_of(BlockKind kind) { return kind == BlockKind::Mixer ? "mixer" : "ffn"; }

std::string params_path_of(const BlockSchema& schema, const std::string& path) {
  return schema.config_key.empty() ? path : child_path(path, schema.config_key);
}

// One block of one layer (or the positional block, index -1) and the blocks
// its parameters name, e.g. a router.
void check_block(SpecContext& ctx, IssueReporter& reporter, const Json& model, BlockKind kind, const Json& block,
                 const Json& template_block, const BlockPlace& place, int layer_index) {
  const BlockSchema& schema = schema_of(ctx.registry, kind, block);
  reporter.check(schema, block_context(model, block, layer_index), place, block_context(model, template_block, layer_index));
  if (!block.contains("refs")) return;
  for (const auto& [name, ref] : block["refs"].items())
    reporter.check(ref_schema_of(ctx.registry, ref), block_context(model, ref_with_parent_params(block, ref), layer_index),
                   place, block_context(model, ref_with_parent_params(template_block, ref), layer_index));
}

void check_state_flags(SpecContext& ctx, const NormalizedSpec& spec) {
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
  }
}

}  // namespace

BlockContext block_context(const Json& model, const Json& block, int layer_index) {
  BlockContext context;
  context.model = model;
  context.params = block.at("params");
  context.layer_index = layer_index;
  return context;
}

void check_cross_fields(SpecContext& ctx, const NormalizedSpec& spec, const Json& layers) {
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

  IssueReporter reporter(ctx);
  const Json& positional = spec.embedding["positional"];
  check_block(ctx, reporter, spec.model, BlockKind::Positional, positional, positional,
              {params_path_of(schema_of(ctx.registry, BlockKind::Positional, positional), "embedding"), ""}, -1);
  check_state_flags(ctx, spec);

  // Every template, also one no group uses; then every layer as built,
  // overrides applied: an override can break a block rule.
  for (const auto& [name, tmpl] : spec.templates.items())
    for (BlockKind kind : {BlockKind::Mixer, BlockKind::Ffn}) {
      const char* slot = slot_of(kind);
      const BlockSchema& schema = schema_of(ctx.registry, kind, tmpl[slot]);
      const BlockPlace place{params_path_of(schema, child_path(child_path("layer_templates", name), slot)), ""};
      check_block(ctx, reporter, spec.model, kind, tmpl[slot], tmpl[slot], place, -1);
    }
  std::size_t index = 0;
  for (std::size_t g = 0; g < spec.schedule.size(); ++g) {
    const Json& group = spec.schedule[g];
    const std::string name = group["template"].get<std::string>();
    const Json& tmpl = spec.templates[name];
    const std::string template_path = child_path("layer_templates", name);
    const std::string override_path = child_path(index_path("layer_schedule", g), "override");
    for (std::int64_t r = 0; r < group["repeat"].get<std::int64_t>(); ++r, ++index) {
      const Json& layer = layers.at(index);
      for (BlockKind kind : {BlockKind::Mixer, BlockKind::Ffn}) {
        const char* slot = slot_of(kind);
        const BlockSchema& schema = schema_of(ctx.registry, kind, layer[slot]);
        const std::string key = override_group(schema, kind);
        BlockPlace place{params_path_of(schema, child_path(template_path, slot)), child_path(override_path, key)};
        if (group["override"].is_object() && group["override"].contains(key)) place.overridden = group["override"][key];
        check_block(ctx, reporter, spec.model, kind, layer[slot], tmpl[slot], place, static_cast<int>(index));
      }
    }
  }
}

}  // namespace eulerstack::spec
