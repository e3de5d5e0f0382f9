#pragma once
// The ffn plugin's dense feed-forward network, header-only so that the moe
// plugin's experts are this very network (plugins/moe/expert.hpp includes it;
// each module library gets its own hidden copy). Its projections are
// registered on the module that owns it, so their names are the owner's own:
//   gated:   down_proj(act(gate_proj(x)) * up_proj(x))   (SwiGLU, GeGLU, ReGLU)
//   ungated: down_proj(act(up_proj(x)))
// with W [out, in], biases when `bias`. Init: gate_proj and up_proj
// normal(init_std); down_proj, which writes into the residual stream,
// normal(init_std / sqrt(2 * n_layers)); biases zero.

#include <cmath>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include <ATen/ATen.h>

#include "eulerstack/runtime/interfaces.hpp"

namespace eulerstack::ffn {

using Activation = at::Tensor (*)(const at::Tensor&);

inline at::Tensor gelu(const at::Tensor& x) { return at::gelu(x, "none"); }
inline at::Tensor relu(const at::Tensor& x) { return at::relu(x); }
inline at::Tensor silu(const at::Tensor& x) { return at::silu(x); }

// "gelu" (exact, erf form), "relu", "swiglu" (SiLU; the gate of SwiGLU).
inline Activation activation_named(const std::string& name) {
  if (name == "gelu") return gelu;
  if (name == "relu") return relu;
  if (name == "swiglu") return silu;
  throw std::invalid_argument("unknown activation '" + name + "'");
}

struct FeedForwardShape {
  std::int64_t width = 0;   // d_model
  std::int64_t hidden = 0;  // the hidden width
  bool gated = false;
  bool bias = false;
  std::string activation;
};

class FeedForward {
 public:
  FeedForward(torch::nn::Module& owner, const FeedForwardShape& shape, const ModuleContext& context)
      : activation_(activation_named(shape.activation)) {
    const double layers = static_cast<double>(context.n_layers > 0 ? context.n_layers : 1);
    const InitRule input = init::normal(context.init_std);
    if (shape.gated) gate_ = add_linear(owner, "gate_proj", shape.width, shape.hidden, shape.bias, context.options, input);
    up_ = add_linear(owner, "up_proj", shape.width, shape.hidden, shape.bias, context.options, input);
    down_ = add_linear(owner, "down_proj", shape.hidden, shape.width, shape.bias, context.options,
                       init::normal(context.init_std / std::sqrt(2.0 * layers)));
  }

  at::Tensor forward(const at::Tensor& x) const {  // [..., width] -> [..., width]
    if (gate_) return down_->forward(activation_(gate_->forward(x)) * up_->forward(x));
    return down_->forward(activation_(up_->forward(x)));
  }

 private:
  Activation activation_;
  std::shared_ptr<Linear> gate_, up_, down_;  // gate_ only when gated
};

}  // namespace eulerstack::ffn
