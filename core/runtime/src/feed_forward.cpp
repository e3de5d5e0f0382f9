#include "eulerstack/runtime/feed_forward.hpp"

#include <cmath>
#include <stdexcept>

#include <ATen/ATen.h>

namespace eulerstack {
namespace {

at::Tensor gelu(const at::Tensor& x) { return at::gelu(x, "none"); }
at::Tensor relu(const at::Tensor& x) { return at::relu(x); }
at::Tensor silu(const at::Tensor& x) { return at::silu(x); }

}  // namespace

Activation activation_named(const std::string& name) {
  if (name == "gelu") return gelu;
  if (name == "relu") return relu;
  if (name == "swiglu") return silu;
  throw std::invalid_argument("unknown activation '" + name + "'");
}

FeedForward::FeedForward(torch::nn::Module& owner, const FeedForwardShape& shape, const ModuleContext& context)
    : activation_(activation_named(shape.activation)) {
  const double layers = static_cast<double>(context.n_layers > 0 ? context.n_layers : 1);
  const InitRule input = init::normal(context.init_std);
  if (shape.gated) gate_ = add_linear(owner, "gate_proj", shape.width, shape.hidden, shape.bias, context.options, input);
  up_ = add_linear(owner, "up_proj", shape.width, shape.hidden, shape.bias, context.options, input);
  down_ = add_linear(owner, "down_proj", shape.hidden, shape.width, shape.bias, context.options,
                     init::normal(context.init_std / std::sqrt(2.0 * layers)));
}

at::Tensor FeedForward::forward(const at::Tensor& x) const {
  if (gate_) return down_->forward(activation_(gate_->forward(x)) * up_->forward(x));
  return down_->forward(activation_(up_->forward(x)));
}

}  // namespace eulerstack
