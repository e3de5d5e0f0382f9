// RetNet multi-scale retention: a fixed per-head exponential decay instead of
// softmax, with parallel, chunkwise and recurrent forms of one computation.
//
// Weights under `mixer.`: q_proj, k_proj [d, d]; v_proj, g_proj [v*d, d];
// o_proj [d, v*d] (v = value_factor), no biases. The per-head group norm has
// no affine weights and the decays are fixed, so neither adds parameters.
// Heads come from model.n_heads.
//
// Modules (lib<this>.modules.so): H = n_heads, dk = d/H, dv = v*d/H;
// q = q_proj(x), k = k_proj(x) * dk^-0.5, v = v_proj(x), per head. With rope,
// q and k are rotated by absolute position with the block's own rotation
// (xpos.hpp: theta_i = 10000^(-2i/dk), rotate every two), not the model's
// positional scheme. Decay gamma_h = 1 - 2^(-5-h). Retention runs in float32
// (retention.hpp) without torchscale's scale normalisations; then a per-head
// layer norm over dv without affine weights (eps 1e-5), a swish gate
// silu(g_proj(x)) * normed, and o_proj. A full forward uses the chunkwise form
// when chunkwise is set and T > chunk_size, else the parallel one; with a cache
// (state [B, H, dk, dv]) single tokens use the recurrent form.
// Init: q/k/v/g_proj normal(init_std), o_proj normal(init_std / sqrt(2 * n_layers)).

#include <cstdint>

#include "eulerstack/checked_count.hpp"
#include "eulerstack/plugin.hpp"

namespace {

using eulerstack::BlockContext;
using eulerstack::Count;
using eulerstack::BlockIssue;
namespace param = eulerstack::param;

std::int64_t count_retnet(const BlockContext& ctx) {
  const Count d = ctx.model_int("d_model");
  const Count value = ctx.param<std::int64_t>("value_factor") * d;
  return (2 * d * d        // q_proj, k_proj
          + 2 * d * value  // v_proj, g_proj
          + value * d)     // o_proj
      .value();
}

// The recurrent state [H, dk, dv] in float32: d * value_factor * d / H values.
std::vector<eulerstack::DecodeStatePart> retnet_state(const BlockContext& ctx) {
  const Count d = ctx.model_int("d_model");
  const Count heads = ctx.model_int("n_heads");
  const Count value = ctx.param<std::int64_t>("value_factor") * d;
  return {{"recurrent_state", 0, -1, (heads * (d / heads) * (value / heads) * 4).value()}};
}

std::vector<BlockIssue> check_retnet(const BlockContext& ctx) {
  std::vector<BlockIssue> issues;
  const std::int64_t head_dim = ctx.model_int("d_model") / ctx.model_int("n_heads");
  if (ctx.param<bool>("rope") && head_dim % 2 != 0)
    issues.push_back({"rope", "retnet.rope_odd_head_dim", {{"head_dim", std::to_string(head_dim)}}});
  return issues;
}

void register_blocks(eulerstack::Registrar& registry) {
  eulerstack::MixerDefinition retnet;
  auto& s = retnet.schema;
  s.name = "retnet";
  s.config_key = "retnet";
  s.summary = "multi-scale retention (RetNet): per-head decay, parallel/chunkwise training, O(1) decoding";
  s.capabilities = {{"kv_cache", true}, {"ssm_state", false}, {"positional", true}};
  s.params = {
      param::boolean("chunkwise", true).describe(
          "use the chunkwise form for long prefill (parallel inside a chunk, recurrent across chunks)"),
      param::integer("chunk_size", 64).range(1, 65536).describe("chunk length of the chunkwise form"),
      param::boolean("rope", true).describe("rotate queries and keys by position (xPos-style relative position)"),
      param::integer("value_factor", 1).range(1, 4).labels_block().describe(
          "value and gate width as a multiple of d_model (the RetNet paper uses 2)"),
  };
  s.count_params = count_retnet;
  s.cross_check = check_retnet;
  s.decode_state = retnet_state;
  registry.add(std::move(retnet));
}

}  // namespace

EULERSTACK_PLUGIN("RetNet multi-scale retention mixer", register_blocks)
