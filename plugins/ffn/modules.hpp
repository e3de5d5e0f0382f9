#pragma once
// The module factories of the ffn plugin.

#include <cmath>
#include <memory>

#include "eulerstack/runtime/interfaces.hpp"

namespace eulerstack::ffn {

std::shared_ptr<FfnModule> make_mlp(const ModuleContext& context);
std::shared_ptr<FfnModule> make_gated_mlp(const ModuleContext& context);

// The hidden width f = mlp_ratio * d_model.
inline std::int64_t hidden_width(const ModuleContext& context) {
  return context.block.model_int("mlp_ratio") * context.block.model_int("d_model");
}

// down_proj writes into the residual stream: its std shrinks with depth.
inline InitRule output_init(const ModuleContext& context) {
  const double layers = static_cast<double>(context.n_layers > 0 ? context.n_layers : 1);
  return init::normal(context.init_std / std::sqrt(2.0 * layers));
}

}  // namespace eulerstack::ffn
