// Mixture of experts as an FFN block, plus the routers it selects by name
// through the router interface.
//
// Weights under `ffn.`: experts.<i>.{gate_proj, up_proj, down_proj} (or
// {up_proj, down_proj} with expert_type: mlp), shared_experts.<i>.{...} with
// the same shape, and the router's `router.weight [E, d]`. Every expert uses
// the block's activation and the model's mlp_ratio * d_model hidden width.
//
// Runtime semantics (libeulerstack_moe.modules.so); x is flattened to [N, d]:
//   Router logits = x W^T in float32 (while training with router_jitter j > 0,
//   x is first multiplied by uniform(1 - j, 1 + j) noise).
//   `softmax` router: scores = softmax(a(logits)) over the experts, where the
//   affinity a is the identity (softmax), sigmoid, or sqrt(softplus).
//   `sigmoid` router (DeepSeek-V3): scores = sigmoid(logits), or
//   sqrt(softplus(logits)) with affinity sqrt_softplus.
//   Selection: top_k of the scores; with bias_correction.enabled, of scores +
//   the float32 buffer `router.expert_bias` [E] (zeros at start; model state,
//   exported as model.layers.<i>.ffn.router.expert_bias), while the weights
//   come from the unbiased scores. Forward never changes the bias: a trainer
//   updates it after each optimizer step, expert_bias_e -= update_rate *
//   sign(load_e - 1/E) for every expert whose |load_e - 1/E| > target_imbalance / E
//   (load_e: share of the step's k assignments per real token).
//   weights = the selected scores, divided by (their sum + 1e-20) when
//   norm_topk_prob. probs (balance losses) = scores normalised per token.
//   routing.type hash: expert j of a token is (h + j) mod E with, for P = 2^31 - 1
//   and A = 48271 (mod: non-negative remainder),
//     h = (((token_id mod P) * A + (hash_salt mod P)) mod P) * A mod P,
//   and weight 1/top_k; the token ids come from FfnInput.token_ids.
//   Padding tokens (FfnInput.padding_mask false) are not routed: no expert, no
//   capacity, and no part in any loss below (N counts real tokens only).
//   Dispatch: assignments sorted by expert (stably, so token order within an
//   expert); every expert runs once on its tokens and adds weight * output.
//   Capacity, in training only with capacity_drop_policy drop or pad:
//   ceil(capacity_factor * N * top_k / E) assignments per expert, the first in
//   token order; later ones contribute nothing. Inference never drops, and
//   overflow never limits. Shared experts are added to every token, unweighted.
//   FfnOutput.aux_loss (float32 scalar, always defined):
//     load_balance_coef * E * sum_e f_e P_e   (f_e: share of the N*k assignments
//       to e, before capacity; P_e: mean of probs over the tokens)
//     + z_loss * mean(logsumexp(logits)^2)
//     + balance.sequence_aux_coef * (the balance term within each sequence of
//       the [B, T] input, over its real tokens, averaged over the sequences
//       that have any).
//   balance.group_limit is refused (runtime.unsupported_param): without the
//   number of expert groups node-limited routing cannot be built.
// Init: router.weight normal(router_init_std, or the model's init std);
// gate_proj / up_proj normal(init_std), down_proj normal(init_std / sqrt(2 * n_layers)),
// biases zeros.

#include <cstdint>

#include "eulerstack/checked_count.hpp"
#include "eulerstack/plugin.hpp"

namespace {

using eulerstack::BlockContext;
using eulerstack::Count;
using eulerstack::BlockIssue;
namespace param = eulerstack::param;

Count count_expert(const BlockContext& ctx) {
  const Count d = ctx.model_int("d_model");
  const Count f = ctx.model_int("mlp_ratio") * d;
  const bool bias = ctx.param<bool>("bias");
  const Count matrices = ctx.param<std::string>("expert_type") == "gated_mlp" ? 3 : 2;
  return matrices * d * f + (bias ? (matrices - 1) * f + d : Count(0));
}

std::int64_t count_moe(const BlockContext& ctx) {
  const Count experts = Count(ctx.param<std::int64_t>("experts")) + ctx.param<std::int64_t>("shared_experts");
  return (experts * count_expert(ctx)).value();  // the router counts its own weight
}

std::vector<BlockIssue> check_moe(const BlockContext& ctx) {
  std::vector<BlockIssue> issues;
  const auto experts = ctx.param<std::int64_t>("experts");
  const auto top_k = ctx.param<std::int64_t>("top_k");
  if (top_k > experts)
    issues.push_back({"top_k", "moe.top_k_above_experts",
                      {{"top_k", std::to_string(top_k)}, {"experts", std::to_string(experts)}}});
  if (experts > 1024)
    issues.push_back({"experts", "moe.experts_above_1024", {{"experts", std::to_string(experts)}}, true});
  if (ctx.param<double>("capacity_factor") < 0.5)
    issues.push_back({"capacity_factor", "moe.capacity_factor_below_half", {}, true});
  const auto& routing = ctx.params.at("routing");
  const bool hashed = routing.at("type") == "hash";
  if (hashed && routing.at("hash_salt").is_null())
    issues.push_back({"routing.hash_salt", "moe.hash_without_salt", {}});
  if (!hashed && !routing.at("hash_salt").is_null())
    issues.push_back({"routing.hash_salt", "moe.salt_without_hash", {}});
  return issues;
}

std::vector<eulerstack::DecodeStatePart> keeps_nothing(const BlockContext&) { return {}; }

// A top-k router: a linear scorer [E, d] plus a scoring function.
eulerstack::RouterDefinition make_router(const char* name, const char* summary, bool normalize_default) {
  eulerstack::RouterDefinition router;
  auto& s = router.schema;
  s.name = name;
  s.summary = summary;
  s.params = {
      param::boolean("norm_topk_prob", normalize_default)
          .describe("renormalise the selected experts' weights to sum to 1"),
  };
  s.count_params = [](const BlockContext& ctx) {
    return (Count(ctx.model_int("d_model")) * ctx.param<std::int64_t>("experts")).value();
  };
  s.decode_state = keeps_nothing;
  return router;
}

void register_blocks(eulerstack::Registrar& registry) {
  eulerstack::FfnDefinition moe;
  auto& s = moe.schema;
  s.name = "moe";
  s.config_key = "moe";
  s.summary = "mixture of experts: a router sends each token to top_k of `experts` FFNs, plus optional shared experts";
  s.inline_params = {
      param::choice("activation", {"swiglu", "gelu", "relu"}, "gelu")
          .overridable()
          .describe("expert nonlinearity (gated experts: act(gate) * up)"),
      param::boolean("bias", false).describe("add biases to the expert projections"),
  };
  s.params = {
      param::integer("experts", std::nullopt).range(1, 65536).mandatory().labels_block().describe("number of routed experts E"),
      param::integer("top_k", std::nullopt).range(1, 65536).mandatory().labels_block().describe("experts each token is sent to"),
      param::text("router", "softmax").names_block("router").describe("router block that scores the experts"),
      param::choice("expert_type", {"gated_mlp", "mlp"}, "gated_mlp").describe("FFN shape of every expert"),
      param::number("z_loss", 0.0).at_least(0.0).describe("weight of the router z-loss (logit magnitude penalty)"),
      param::number("capacity_factor", 1.0).above(0.0).describe(
          "expert capacity as a multiple of the even share tokens*top_k/E"),
      param::choice("capacity_drop_policy", {"overflow", "drop", "pad"}, "overflow")
          .describe("over capacity: keep every token (overflow), drop the extra tokens, or pad to capacity"),
      param::number("load_balance_coef", 0.01).at_least(0.0).describe(
          "weight of the Switch/Mixtral load-balancing loss; 0 = aux-loss-free"),
      param::number("router_init_std", std::nullopt).above(0.0).or_null().describe(
          "init std of the router weight; null = the model's init"),
      param::number("router_jitter", 0.0).at_least(0.0).describe("multiplicative noise on router inputs while training"),
      param::object("bias_correction",
                    {param::boolean("enabled", false).describe("DeepSeek-V3 aux-loss-free per-expert score bias"),
                     param::number("update_rate", 1e-3).at_least(0.0).describe("bias update step per batch"),
                     param::number("target_imbalance", 0.0).at_least(0.0).describe("tolerated load imbalance")})
          .describe("aux-loss-free balancing by a per-expert bias on the routing scores"),
      param::choice("affinity", {"softmax", "sigmoid", "sqrt_softplus"}, "softmax")
          .describe("score function of the routing affinities"),
      param::integer("shared_experts", 0).range(0, 1024).labels_block().describe("always-on experts added to every token"),
      param::object("routing",
                    {param::choice("type", {"learned", "hash"}, "learned")
                         .describe("learned router, or a fixed hash of the token id"),
                     param::integer("hash_salt", std::nullopt).or_null().describe("salt of the hash routing")})
          .describe("how tokens are assigned to experts"),
      param::object("balance",
                    {param::number("sequence_aux_coef", 0.0).at_least(0.0).describe(
                         "weight of the per-sequence balance loss"),
                     param::integer("group_limit", std::nullopt).at_least(1).or_null().describe(
                         "node-limited routing: expert groups per token")})
          .describe("extra balancing losses and limits"),
  };
  s.count_params = count_moe;
  s.cross_check = check_moe;
  s.decode_state = keeps_nothing;
  registry.add(std::move(moe));

  registry.add(make_router("softmax", "top-k over softmax(router logits) (Switch, Mixtral)", true));
  registry.add(make_router("sigmoid", "top-k over sigmoid(router logits) (DeepSeek-V3)", true));
}

}  // namespace

EULERSTACK_PLUGIN("Mixture-of-experts FFN with top-k routers", register_blocks)
