// Softmax attention: MHA / GQA / MQA (heads from the `model` section),
// sliding-window and dilated masks, and MLA (a shared K/V latent).
//
// Weights (safetensors names under `mixer.`):
//   q_proj [H*hd, d]   k_proj, v_proj [KV*hd, d]   o_proj [d, H*hd]
//   MLA instead of k_proj/v_proj: kv_down_proj [L, d], k_up_proj, v_up_proj [KV*hd, L]
//   q/k/v (or q/k_up/v_up) carry biases when qkv_bias is true; o_proj never does.
//   sinks [H, n] with attention_sinks {n_per_head: n, learnable: true}
// Init: weights normal(init_std), o_proj normal(init_std / sqrt(2 * n_layers)), biases and sinks zeros.
//
// Module (attention_module.cpp): queries and keys are rotated by the model's
// positional module (RoPE or identity), GQA/MQA repeat each K/V head for
// n_heads / n_kv_heads consecutive query heads, and a key is visible iff
// k_pos <= q_pos and, with a window w, q_pos - k_pos < w (dilated: and the
// distance is a multiple of window_dilation; nsa: or, beyond the window, a
// multiple of window_dilation, default 4). ALiBi adds its bias to the scores.
// Attention sinks: each head's n sink logits join the softmax of every query
// (as keys whose value is zero): probabilities are softmax over [scores, sinks]
// with the sink columns dropped, so a query may attend to nothing. Learnable
// sinks are the parameter `sinks`; fixed ones are logits 0 (softmax plus n in
// the denominator).
// The KV cache holds rotated keys and values; with a window (not nsa) it keeps
// only the newest w - 1, all a later query can see.
// Padding (docs/PADDING.md): positions may differ per row; padding keys are
// never visible (the cache remembers them), a padding query sees every key,
// and a windowed cache keeps, for all rows together, the keys from the oldest
// slot any row can still see (real keys with position >= newest + 2 - w).

#include <cstdint>

#include "eulerstack/checked_count.hpp"
#include "eulerstack/plugin.hpp"

namespace {

using eulerstack::BlockContext;
using eulerstack::Count;
using eulerstack::BlockIssue;
namespace param = eulerstack::param;

std::int64_t count_attention(const BlockContext& ctx) {
  const Count d = ctx.model_int("d_model");
  const Count heads = ctx.model_int("n_heads");
  const Count kv_heads = ctx.model_int("n_kv_heads");
  const Count head_dim = d / heads;
  const Count q_width = heads * head_dim;
  const Count kv_width = kv_heads * head_dim;
  const bool bias = ctx.param<bool>("qkv_bias");

  Count total = d * q_width + q_width * d;  // q_proj, o_proj
  if (ctx.is_set("latent_dim")) {
    const Count latent = ctx.param<std::int64_t>("latent_dim");
    total += d * latent + 2 * latent * kv_width;  // kv_down_proj, k_up_proj, v_up_proj
  } else {
    total += 2 * d * kv_width;  // k_proj, v_proj
  }
  if (bias) total += q_width + 2 * kv_width;
  if (ctx.is_set("attention_sinks") && ctx.params.at("attention_sinks").at("learnable").get<bool>())
    total += heads * Count(ctx.params.at("attention_sinks").at("n_per_head").get<std::int64_t>());  // sinks
  return total.value();
}

// The cache keeps rotated keys and values [KV, T, hd] in the model dtype and an
// int64 position per token; with a window (not nsa) only the newest w - 1.
std::vector<eulerstack::DecodeStatePart> attention_state(const BlockContext& ctx) {
  const Count d = ctx.model_int("d_model");
  const Count kv_width = ctx.model_int("n_kv_heads") * (d / ctx.model_int("n_heads"));
  const bool windowed = ctx.is_set("window") && ctx.param<std::string>("window_mode") != "nsa";
  const std::int64_t held = windowed ? ctx.param<std::int64_t>("window") - 1 : -1;
  return {{"kv_cache", (2 * kv_width * eulerstack::dtype_bytes(ctx.model.at("dtype").get<std::string>())).value(), held, 0},
          {"positions", 8, held, 0}};
}

std::vector<BlockIssue> check_attention(const BlockContext& ctx) {
  std::vector<BlockIssue> issues;
  const std::int64_t d = ctx.model_int("d_model");
  if (ctx.is_set("latent_dim")) {
    const auto latent = ctx.param<std::int64_t>("latent_dim");
    if (latent >= d)
      issues.push_back({"latent_dim", "attention.latent_not_below_d_model",
                        {{"latent", std::to_string(latent)}, {"d_model", std::to_string(d)},
                         {"suggested", std::to_string(d / 2)}}});
    else if (latent < d / 16 || latent > 3 * d / 4)
      issues.push_back({"latent_dim", "attention.latent_unusual", {{"latent", std::to_string(latent)}}, true});
  }
  if (ctx.is_set("window") && ctx.param<std::int64_t>("window") >= ctx.model_int("max_seq_len"))
    issues.push_back({"window", "attention.window_not_below_max_seq_len",
                      {{"window", std::to_string(ctx.param<std::int64_t>("window"))},
                       {"max_seq_len", std::to_string(ctx.model_int("max_seq_len"))}},
                      true});
  const auto mode = ctx.param<std::string>("window_mode");
  if ((mode == "dilated" || mode == "nsa") && !ctx.is_set("window"))
    issues.push_back({"window_mode", "attention.window_mode_needs_window", {{"mode", mode}}});
  if (ctx.is_set("window_dilation") && mode != "dilated" && mode != "nsa")
    issues.push_back({"window_dilation", "attention.dilation_without_dilated_mode", {}});
  return issues;
}

void register_blocks(eulerstack::Registrar& registry) {
  eulerstack::MixerDefinition attention;
  auto& s = attention.schema;
  s.name = "attention";
  s.config_key = "attention";
  s.summary = "causal softmax attention: MHA/GQA/MQA from model.n_kv_heads, sliding window, MLA";
  s.capabilities = {{"kv_cache", true}, {"ssm_state", false}, {"positional", true}};
  s.params = {
      param::boolean("qkv_bias", false).describe("add biases to the query, key and value projections (GPT-2 style)"),
      param::number("attn_drop", 0.0).range(0.0, 1.0).overridable().describe("dropout on the attention probabilities while training"),
      param::integer("window", std::nullopt).at_least(1).or_null().overridable().labels_block().describe(
          "sliding window in tokens: each query sees the last `window` keys; null = global attention"),
      param::choice("window_mode", {"standard", "sliding", "dilated", "nsa"}, "standard")
          .describe("mask inside the window: dense (standard/sliding), every k-th key (dilated), or window plus strided distant keys (nsa)"),
      param::integer("window_dilation", std::nullopt).at_least(1).or_null().describe(
          "stride k of the dilated / nsa patterns (default 1 for dilated, 4 for nsa)"),
      param::integer("latent_dim", std::nullopt).above(0).or_null().labels_block().describe(
          "MLA: keys and values are up-projected from one shared latent of this size; null = plain projections"),
      param::object("attention_sinks",
                    {param::integer("n_per_head", 1).at_least(0).describe("sink logits per head"),
                     param::boolean("learnable", true).describe(
                         "the sink logits are parameters (sinks [n_heads, n_per_head], zero at init); false: fixed at 0")})
          .or_null()
          .describe("per-head sink logits that join the softmax, so a query may attend to nothing (gpt-oss, DeepSeek-V4); null = none"),
  };
  // Upstream's DeepSeek-V4 sparse-attention family (schema keys under `attention:`), not built here.
  s.unprovided_params = {{"compression", "DeepSeek-V4 compressed sparse attention: CSA, HCA or NSA-learned"}};
  s.count_params = count_attention;
  s.cross_check = check_attention;
  s.decode_state = attention_state;
  registry.add(std::move(attention));
}

}  // namespace

EULERSTACK_PLUGIN("Causal softmax attention (MHA, GQA, MQA, sliding window, MLA)", register_blocks)
