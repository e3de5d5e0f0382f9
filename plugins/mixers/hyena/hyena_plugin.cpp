// The hyena plugin's descriptor: the `hyena` mixer's parameters and its exact
// parameter count. Torch-free, so validate and explain never load LibTorch;
// the module lives in hyena_modules.cpp (libeulerstack_hyena.modules.so) and
// its PyTorch twin in eulerstack_hyena.py.
//
// The operator (Poli et al., 2023): with d = model.d_model, N = depth,
//   z = in_proj(x) split into N+1 streams of width d; v = z_0
//   for i in 0..N-1:  v = z_{i+1} * (h_i (*) v)      causal long convolution, per channel
//   y = out_proj(v)
// Each filter h_i [lag, d] is implicit: a small MLP over positional features
// of the lag t, [t/L, sin(2 pi k t/L), cos(2 pi k t/L)] for k = 1..filter_bands
// (L = model.max_seq_len), h = fc2(sin(fc1(features))), times the decay
// window exp(-filter_decay * t). Convolutions run with torch's FFT in float32.
//
// Weights under `mixer.`: in_proj [(N+1)d, d] + bias; filter.fc1 [H, F] + bias
// (H = filter_hidden, F = 1 + 2*filter_bands); filter.fc2 [N*d, H], no bias;
// out_proj [d, d] + bias.

#include <cstdint>
#include <vector>

#include "eulerstack/plugin.hpp"

namespace {

using eulerstack::BlockContext;
namespace param = eulerstack::param;

std::int64_t count_hyena(const BlockContext& ctx) {
  const std::int64_t d = ctx.model_int("d_model");
  const std::int64_t order = ctx.param<std::int64_t>("depth");
  const std::int64_t hidden = ctx.param<std::int64_t>("filter_hidden");
  const std::int64_t features = 1 + 2 * ctx.param<std::int64_t>("filter_bands");
  return (order + 1) * d * d + (order + 1) * d  // in_proj
         + features * hidden + hidden          // filter.fc1
         + hidden * order * d                  // filter.fc2
         + d * d + d;                          // out_proj
}

// What the module's cache holds (hyena_modules.cpp): each convolution's inputs so far, float32.
std::vector<eulerstack::DecodeStatePart> hyena_state(const BlockContext& ctx) {
  const std::int64_t per_token = ctx.param<std::int64_t>("depth") * ctx.model_int("d_model") * 4;
  return {{"conv_history", per_token, -1, 0}};
}

void register_blocks(eulerstack::Registrar& registry) {
  eulerstack::MixerDefinition hyena;
  auto& s = hyena.schema;
  s.name = "hyena";
  s.config_key = "hyena";
  s.summary = "Hyena: gated implicit long convolutions (FFT), filters from an MLP over positions";
  // The cache keeps the convolution inputs seen so far, neither a KV cache nor an SSM state.
  s.capabilities = {{"kv_cache", false}, {"ssm_state", false}, {"positional", false}};
  s.params = {
      param::integer("depth", 2).range(1, 16).labels_block().describe(
          "order of the operator: gated long convolutions applied in turn"),
      param::integer("filter_hidden", 64).range(1, 4096).describe("width of the filter MLP"),
      param::number("filter_decay", 0.0).at_least(0.0).describe(
          "decay window of the filters, h[t] * exp(-filter_decay * t); 0 leaves them unwindowed"),
      param::integer("filter_bands", 4).range(1, 256).describe(
          "sine/cosine frequencies in the filter MLP's positional features"),
  };
  s.count_params = count_hyena;
  s.decode_state = hyena_state;
  registry.add(std::move(hyena));
}

}  // namespace

EULERSTACK_PLUGIN("Hyena long-convolution mixer", register_blocks)
