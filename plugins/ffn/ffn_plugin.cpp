// Position-wise feed-forward blocks. The hidden width is model.mlp_ratio * d_model.
//
// Weights under `ffn.`:
//   mlp:       up_proj [f, d], down_proj [d, f]
//   gated_mlp: gate_proj [f, d], up_proj [f, d], down_proj [d, f]
// each with a bias when `bias: true`.
// Activations: gelu, relu, and swiglu, which in a plain mlp means SiLU and in
// gated_mlp means SiLU(gate) * up (SwiGLU); gelu / relu in gated_mlp give
// GeGLU / ReGLU. gelu is the exact (erf) GELU.
//
// Modules (libeulerstack_ffn.modules.so): gate_proj and up_proj are drawn from
// normal(init_std), down_proj from normal(init_std / sqrt(2 * n_layers)),
// biases start at zero. FfnOutput.aux_loss is undefined.

#include <cstdint>

#include "eulerstack/checked_count.hpp"
#include "eulerstack/plugin.hpp"

namespace {

using eulerstack::BlockContext;
using eulerstack::Count;
namespace param = eulerstack::param;

Count linear(Count in, Count out, bool bias) { return in * out + (bias ? out : Count(0)); }

Count hidden_width(const BlockContext& ctx) { return Count(ctx.model_int("mlp_ratio")) * ctx.model_int("d_model"); }

std::int64_t count_mlp(const BlockContext& ctx) {
  const Count d = ctx.model_int("d_model");
  const bool bias = ctx.param<bool>("bias");
  return (linear(d, hidden_width(ctx), bias) + linear(hidden_width(ctx), d, bias)).value();
}

std::int64_t count_gated_mlp(const BlockContext& ctx) {
  const Count d = ctx.model_int("d_model");
  const bool bias = ctx.param<bool>("bias");
  return (2 * linear(d, hidden_width(ctx), bias) + linear(hidden_width(ctx), d, bias)).value();
}

eulerstack::FfnDefinition make(const char* name, const char* summary, const char* default_activation,
                               eulerstack::ParamCounter counter) {
  eulerstack::FfnDefinition ffn;
  auto& s = ffn.schema;
  s.name = name;
  s.summary = summary;
  s.params = {
      param::choice("activation", {"swiglu", "gelu", "relu"}, default_activation)
          .overridable()
          .describe("nonlinearity (swiglu = SiLU; gated: SiLU(gate) * up)"),
      param::boolean("bias", false).describe("add biases to the projections"),
  };
  s.count_params = std::move(counter);
  s.decode_state = [](const eulerstack::BlockContext&) { return std::vector<eulerstack::DecodeStatePart>{}; };
  return ffn;
}

void register_blocks(eulerstack::Registrar& registry) {
  registry.add(make("mlp", "two-layer MLP: down(act(up(x)))", "gelu", count_mlp));
  registry.add(make("gated_mlp", "gated MLP: down(act(gate(x)) * up(x)) (SwiGLU, GeGLU, ReGLU)", "swiglu",
                    count_gated_mlp));
}

}  // namespace

EULERSTACK_PLUGIN("Dense feed-forward blocks: mlp and gated_mlp", register_blocks)
