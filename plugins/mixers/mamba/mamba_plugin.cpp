// Mamba selective state-space mixers: Mamba2 (SSD, multi-head, grouped B/C)
// and Mamba1 (per-channel selective scan).
//
// Weights under `mixer.` follow the HF Mamba / Mamba2 layouts:
//   mamba2: in_proj [2*di + 2*g*N + h, d]  conv1d [di + 2*g*N, 1, K] + bias
//           dt_bias [h]  A_log [h]  D [h]  norm.weight [di]  out_proj [d, di]
//   mamba1: in_proj [2*di, d]  conv1d [di, 1, K] + bias  x_proj [r + 2*N, di]
//           dt_proj [di, r] + bias  A_log [di, N]  D [di]  out_proj [d, di]
// with di = expand*d, h = di/head_dim, g = n_groups, N = d_state, K = d_conv,
// r = ceil(d/16). in_proj splits as [z, xBC, dt] (mamba2; xBC = [x, B, C]) and
// [x, z] (mamba1); x_proj as [dt, B, C].
//
// Modules (libeulerstack_mamba.modules.so):
//   mamba2: conv1d over xBC + SiLU; dt = softplus(dt + dt_bias), A = -exp(A_log);
//     y = SSD(x, dt, A, B, C) + D x; norm = gated RMSNorm (mamba_ssm RMSNormGated,
//     norm_before_gate=False): rmsnorm(y * silu(z)) * weight over groups of di/g
//     channels, eps 1e-5; out_proj. Prefill/training use the chunked SSD
//     algorithm (ssd.cpp, chunk_size tokens per chunk); single-token calls the
//     recurrence.
//   mamba1: conv1d over x + SiLU; dt = softplus(dt_proj(dt)); A = -exp(A_log);
//     selective scan (selective_scan.cpp: sequential over time, vectorised over
//     batch, channels and state) + D x; times silu(z); out_proj.
//   The cache holds the last K-1 conv inputs (pre-activation) and the SSM state
//   (float32); the scans run in float32 whatever the model dtype.
//
// Initialisation: in_proj, x_proj normal(init_std); out_proj
// normal(init_std/sqrt(2*n_layers)); conv1d.weight uniform(±1/sqrt(K)), bias 0;
// D 1; norm.weight 1. dt_bias (mamba2) and dt_proj.bias (mamba1) are
// softplus^-1(dt) with dt = exp(uniform(log 1e-3, log 1e-1)) clamped >= 1e-4.
// mamba2 A_log = log(uniform[1, 16]) per head; mamba1 A_log[c, n] = log(n+1)
// (S4D-real) and dt_proj.weight uniform(±r^-0.5).

#include <cstdint>

#include "eulerstack/checked_count.hpp"
#include "eulerstack/plugin.hpp"

namespace {

using eulerstack::BlockContext;
using eulerstack::Count;
using eulerstack::BlockIssue;
namespace param = eulerstack::param;

std::int64_t count_mamba(const BlockContext& ctx) {
  const Count d = ctx.model_int("d_model");
  const Count inner = ctx.param<std::int64_t>("expand") * d;
  const Count state = ctx.param<std::int64_t>("d_state");
  const Count conv = ctx.param<std::int64_t>("d_conv");
  if (ctx.param<std::string>("variant") == "mamba1") {
    const Count rank = (d + 15) / 16;
    return (d * 2 * inner                  // in_proj
            + inner * conv + inner         // conv1d
            + inner * (rank + 2 * state)   // x_proj
            + rank * inner + inner         // dt_proj
            + inner * state + inner        // A_log, D
            + inner * d)                   // out_proj
        .value();
  }
  const Count heads = inner / ctx.param<std::int64_t>("head_dim");
  const Count groups = ctx.param<std::int64_t>("n_groups");
  const Count conv_dim = inner + 2 * groups * state;
  return (d * (2 * inner + 2 * groups * state + heads)  // in_proj
          + conv_dim * conv + conv_dim                  // conv1d
          + 3 * heads                                   // dt_bias, A_log, D
          + inner                                       // gated RMSNorm
          + inner * d)                                  // out_proj
      .value();
}

// The cache: the last d_conv - 1 conv inputs in the model dtype and the SSM
// state in float32 (mamba2 [h, head_dim, N] = [di, N]; mamba1 [di, N]).
std::vector<eulerstack::DecodeStatePart> mamba_state(const BlockContext& ctx) {
  const Count inner = ctx.param<std::int64_t>("expand") * ctx.model_int("d_model");
  const Count state = ctx.param<std::int64_t>("d_state");
  const bool mamba2 = ctx.param<std::string>("variant") == "mamba2";
  const Count conv_channels = mamba2 ? inner + 2 * ctx.param<std::int64_t>("n_groups") * state : inner;
  const Count history = Count(ctx.param<std::int64_t>("d_conv")) - 1;
  const std::int64_t dtype = eulerstack::dtype_bytes(ctx.model.at("dtype").get<std::string>());
  return {{"ssm_state", 0, -1, (inner * state * 4).value()},
          {"conv_state", 0, -1, (history * conv_channels * dtype).value()}};
}

std::vector<BlockIssue> check_mamba(const BlockContext& ctx) {
  std::vector<BlockIssue> issues;
  if (ctx.param<std::string>("variant") != "mamba2") return issues;
  const std::int64_t inner = ctx.param<std::int64_t>("expand") * ctx.model_int("d_model");
  const auto head_dim = ctx.param<std::int64_t>("head_dim");
  if (inner % head_dim != 0) {
    issues.push_back({"head_dim", "mamba.head_dim_not_dividing",
                      {{"inner", std::to_string(inner)}, {"head_dim", std::to_string(head_dim)}}});
    return issues;
  }
  const std::int64_t heads = inner / head_dim;
  const auto groups = ctx.param<std::int64_t>("n_groups");
  if (heads % groups != 0)
    issues.push_back({"n_groups", "mamba.groups_not_dividing",
                      {{"heads", std::to_string(heads)}, {"groups", std::to_string(groups)}}});
  return issues;
}

void register_blocks(eulerstack::Registrar& registry) {
  eulerstack::MixerDefinition mamba;
  auto& s = mamba.schema;
  s.name = "mamba";
  s.config_key = "mamba";
  s.summary = "selective state-space mixer: Mamba2 (chunked SSD) or Mamba1, O(N) with a fixed-size state";
  s.capabilities = {{"kv_cache", false}, {"ssm_state", true}, {"positional", false}};
  s.params = {
      param::choice("variant", {"mamba1", "mamba2"}, "mamba2").labels_block().describe(
          "mamba2: multi-head SSD with scalar decay per head; mamba1: per-channel selective scan"),
      param::integer("d_state", 64).range(1, 1024).labels_block().describe("state size N per head (mamba2) or per channel (mamba1)"),
      param::integer("d_conv", 4).range(1, 64).describe("width of the depthwise causal convolution before the SSM"),
      param::integer("expand", 2).range(1, 16).describe("inner width as a multiple of d_model"),
      param::integer("head_dim", 64).range(1, 4096).describe("mamba2: channels per SSM head (inner width / head_dim heads)"),
      param::integer("n_groups", 1).range(1, 1024).describe("mamba2: groups sharing one B and C projection"),
      param::integer("chunk_size", 256).range(1, 65536).describe(
          "mamba2: chunk length of the SSD prefill algorithm (changes speed, not results)"),
  };
  s.count_params = count_mamba;
  s.cross_check = check_mamba;
  s.decode_state = mamba_state;
  registry.add(std::move(mamba));
}

}  // namespace

EULERSTACK_PLUGIN("Mamba2 (SSD) and Mamba1 selective state-space mixers", register_blocks)
