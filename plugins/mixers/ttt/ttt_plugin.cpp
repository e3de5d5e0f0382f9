// The ttt plugin's descriptor: the `ttt_layer` mixer (test-time training, Sun
// et al. 2024), its parameters under `mixer.ttt`, its exact count and its
// decoding state. The module is ttt_modules.cpp, the twin eulerstack_ttt.py.
//
// A small inner model f_W keeps learning while the sequence is read. With
// h = norm(x) (layer norm), q = in_proj(h), target = target_proj(h), for each
// token t in order, inner_steps_per_token times:
//   loss = mean over the d outputs of (f_W(q_t) - target_t)^2,  W <- step(W, dloss/dW)
// then y_t = out_proj(f_W(q_t)) with the updated W. The gradients are written
// out (no autograd inside), so the layer learns under no_grad and inference
// mode, and training backpropagates through the updates. Every row starts from
// the learned initial weights `inner.*`; the fast weights are the row's
// decoding state (the cache), never parameters. A padding token neither
// updates them nor counts as a step.
//   f linear: f(u) = W u + b;  f mlp: f(u) = W2 gelu(W1 u + b1) + b2 (hidden H)
//   sgd:   W <- W - lr * g
//   adamw: m <- 0.9 m + 0.1 g, v <- 0.999 v + 0.001 g^2, n <- n + 1,
//          W <- W - lr * (m / (1 - 0.9^n)) / (sqrt(v / (1 - 0.999^n)) + 1e-8) - lr * 0.01 * W
// Inner computations run in float32.
//
// Weights under `mixer.`: norm.weight, norm.bias [d]; in_proj, target_proj,
// out_proj [d, d], no bias; linear: inner.weight [d, d], inner.bias [d];
// mlp: inner.fc1.weight [H, d], inner.fc1.bias [H], inner.fc2.weight [d, H], inner.fc2.bias [d].
// Init: projections and inner weights normal(init_std), out_proj
// normal(init_std / sqrt(2 * n_layers)), norm weight 1, biases 0.

#include <cstdint>
#include <vector>

#include "eulerstack/checked_count.hpp"
#include "eulerstack/plugin.hpp"

namespace {

using eulerstack::BlockContext;
using eulerstack::BlockIssue;
using eulerstack::Count;
namespace param = eulerstack::param;

// The inner model's weights: what each row learns.
Count inner_count(const BlockContext& ctx) {
  const Count d = ctx.model_int("d_model");
  const auto& inner = ctx.params.at("inner_model");
  if (inner.at("type") == "linear") return d * d + d;
  const Count hidden = inner.at("hidden").get<std::int64_t>();
  return hidden * d + hidden + d * hidden + d;
}

std::int64_t count_ttt(const BlockContext& ctx) {
  const Count d = ctx.model_int("d_model");
  return (2 * d            // norm
          + 3 * d * d      // in_proj, target_proj, out_proj
          + inner_count(ctx))
      .value();
}

// Per row: the fast weights in float32, with adamw its two moments and a step count.
std::vector<eulerstack::DecodeStatePart> ttt_state(const BlockContext& ctx) {
  const bool adamw = ctx.param<std::string>("inner_optimizer") == "adamw";
  return {{"fast_weights", 0, -1, (inner_count(ctx) * (adamw ? 3 : 1) * 4).value() + (adamw ? 8 : 0)}};
}

std::vector<BlockIssue> check_ttt(const BlockContext& ctx) {
  std::vector<BlockIssue> issues;
  const double lr = ctx.param<double>("inner_lr");
  if (lr < 1e-6 || lr > 1.0)
    issues.push_back({"inner_lr", "ttt.inner_lr_unusual", {{"lr", ctx.params.at("inner_lr").dump()}}, true});
  return issues;
}

void register_blocks(eulerstack::Registrar& registry) {
  eulerstack::MixerDefinition ttt;
  auto& s = ttt.schema;
  s.name = "ttt_layer";
  s.config_key = "ttt";
  s.summary = "test-time training: an inner model learns from the sequence as it is read (TTT-Linear, TTT-MLP)";
  s.capabilities = {{"kv_cache", false}, {"ssm_state", true}, {"positional", false}};
  s.params = {
      param::object("inner_model",
                    {param::choice("type", {"mlp", "linear"}, "mlp").labels_block().describe(
                         "the inner model: a two-layer MLP (gelu) or one linear map, d_model to d_model"),
                     param::integer("hidden", 256).range(1, 65536).describe("the MLP's hidden width")})
          .describe("the model trained on the sequence while it is read"),
      param::choice("inner_optimizer", {"sgd", "adamw"}, "sgd").labels_block().describe(
          "how the inner model steps: plain gradient descent, or AdamW (betas 0.9/0.999, eps 1e-8, decay 0.01)"),
      param::number("inner_lr", 0.01).above(0.0).describe("the inner model's learning rate"),
      param::integer("inner_steps_per_token", 1).range(1, 64).describe("inner optimizer steps per token"),
  };
  s.count_params = count_ttt;
  s.cross_check = check_ttt;
  s.decode_state = ttt_state;
  registry.add(std::move(ttt));
}

}  // namespace

EULERSTACK_PLUGIN("Test-time training mixer (TTT-Linear, TTT-MLP)", register_blocks)
