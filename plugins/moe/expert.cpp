#include "expert.hpp"

#include <cmath>
#include <stdexcept>

#include <ATen/ATen.h>

namespace eulerstack::moe {
namespace {

at::Tensor gelu(const at::Tensor& x) { return at::gelu(x, "none"); }
at::Tensor relu(const at::Tensor& x) { return at::relu(x); }
at::Tensor silu(const at::Tensor& x) { return at::silu(x); }

at::Tensor (*activation_named(const std::string& name))(const at::Tensor&) {
  if (name == "gelu") return gelu;
  if (name == "relu") return relu;
  if (name == "swiglu") return silu;
  throw std::invalid_argument("moe: unknown activation '" + name + "'");
}

}  // namespace

Expert::Expert(const ModuleContext& context)
    : activation_(activation_named(context.block.param<std::string>("activation"))) {
  const std::int64_t d = context.block.model_int("d_model");
  const std::int64_t f = context.block.model_int("mlp_ratio") * d;
  const bool bias = context.block.param<bool>("bias");
  const double layers = static_cast<double>(context.n_layers > 0 ? context.n_layers : 1);
  if (context.block.param<std::string>("expert_type") == "gated_mlp")
    gate_ = add_linear(*this, "gate_proj", d, f, bias, context.options, init::normal(context.init_std));
  up_ = add_linear(*this, "up_proj", d, f, bias, context.options, init::normal(context.init_std));
  down_ = add_linear(*this, "down_proj", f, d, bias, context.options,
                     init::normal(context.init_std / std::sqrt(2.0 * layers)));
}

at::Tensor Expert::forward(const at::Tensor& x) const {
  if (gate_) return down_->forward(activation_(gate_->forward(x)) * up_->forward(x));
  return down_->forward(activation_(up_->forward(x)));
}

}  // namespace eulerstack::moe
