// Positional schemes, selected by `embedding.positional`; their parameters sit
// inline in the `embedding` mapping.
//   rope:    rotary position embedding applied to queries and keys by the mixers
//            that declare the "positional" capability (rotate_half layout, as HF);
//            scaling modes for long context, where model.max_seq_len is the extended
//            context and max_seq_len / factor the trained one (see rope.cpp)
//   alibi:   per-head linear attention biases (fixed slopes, no weights)
//   learned: absolute position table `embed_positions [max_seq_len, d]` (GPT-2),
//            init normal(init_std); positions >= max_seq_len are an error
//   none:    no positional signal beyond what mixers carry themselves

#include <cstdint>

#include "eulerstack/checked_count.hpp"
#include "eulerstack/plugin.hpp"

namespace {

using eulerstack::BlockContext;
using eulerstack::Count;
using eulerstack::BlockIssue;
namespace param = eulerstack::param;

std::int64_t no_weights(const BlockContext&) { return 0; }

eulerstack::PositionalDefinition make(const char* name, const char* summary, eulerstack::ParamCounter counter) {
  eulerstack::PositionalDefinition def;
  def.schema.name = name;
  def.schema.summary = summary;
  def.schema.count_params = std::move(counter);
  return def;
}

std::vector<BlockIssue> check_rope(const BlockContext& ctx) {
  std::vector<BlockIssue> issues;
  const std::int64_t head_dim = ctx.model_int("d_model") / ctx.model_int("n_heads");
  const double fraction = ctx.param<double>("partial_rotary_factor");
  const auto rotary = static_cast<std::int64_t>(static_cast<double>(head_dim) * fraction);
  if (rotary < 2 || rotary % 2 != 0)
    issues.push_back({"partial_rotary_factor", "positional.rotary_part_odd",
                      {{"rotary", std::to_string(rotary)}, {"head_dim", std::to_string(head_dim)}}});
  const auto& scaling = ctx.params.at("rope_scaling");
  if (scaling.is_object() && scaling.at("factor").get<double>() > 32.0)
    issues.push_back({"rope_scaling.factor", "positional.scaling_factor_above_32", {}, true});
  return issues;
}

void register_blocks(eulerstack::Registrar& registry) {
  auto rope = make("rope", "rotary position embedding on queries and keys (RoFormer, Llama)", no_weights);
  rope.schema.params = {
      param::number("rope_theta", 10000.0).above(0.0).describe("base of the rotary frequencies"),
      param::object("rope_scaling",
                    {param::choice("type", {"linear", "dynamic", "ntk", "yarn"}, "linear")
                         .describe("context extension: position interpolation (linear), NTK-aware base (ntk, dynamic), or YaRN"),
                     param::number("factor", 1.0).at_least(1.0).describe("context extension factor")})
          .or_null()
          .describe("stretch RoPE beyond the trained context; null = none"),
      param::number("partial_rotary_factor", 1.0).above(0.0).at_most(1.0).describe(
          "fraction of each head's dimensions that is rotated"),
  };
  rope.schema.cross_check = check_rope;
  registry.add(std::move(rope));

  registry.add(make("alibi", "linear attention biases with fixed per-head slopes (ALiBi)", no_weights));
  registry.add(make("none", "no positional encoding (for mixers that carry position, e.g. Mamba)", no_weights));
  registry.add(make("learned", "learned absolute position table (GPT-2)", [](const BlockContext& ctx) {
    return (Count(ctx.model_int("max_seq_len")) * ctx.model_int("d_model")).value();
  }));
}

}  // namespace

EULERSTACK_PLUGIN("Positional encodings: rope, alibi, learned, none", register_blocks)
