#pragma once
// The dense feed-forward network blocks share: the ffn plugin's mlp and
// gated_mlp are one, each MoE expert is one. Its projections are registered on
// the module that owns it, so their names are the owner's own:
//   gated:   down_proj(act(gate_proj(x)) * up_proj(x))   (SwiGLU, GeGLU, ReGLU)
//   ungated: down_proj(act(up_proj(x)))
// with W [out, in], biases when `bias`. Init: gate_proj and up_proj
// normal(init_std); down_proj, which writes into the residual stream,
// normal(init_std / sqrt(2 * n_layers)); biases zero.

#include <cstdint>
#include <memory>
#include <string>

#include "eulerstack/runtime/interfaces.hpp"

namespace eulerstack {

using Activation = at::Tensor (*)(const at::Tensor&);

// "gelu" (exact, erf form), "relu", "swiglu" (SiLU; the gate of SwiGLU).
// Throws std::invalid_argument for another name.
Activation activation_named(const std::string& name);

struct FeedForwardShape {
  std::int64_t width = 0;   // d_model
  std::int64_t hidden = 0;  // the hidden width
  bool gated = false;
  bool bias = false;
  std::string activation;
};

class FeedForward {
 public:
  FeedForward(torch::nn::Module& owner, const FeedForwardShape& shape, const ModuleContext& context);
  at::Tensor forward(const at::Tensor& x) const;  // [..., width] -> [..., width]

 private:
  Activation activation_;
  std::shared_ptr<Linear> gate_, up_, down_;  // gate_ only when gated
};

}  // namespace eulerstack
