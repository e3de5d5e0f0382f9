// gated_mlp: down_proj(act(gate_proj(x)) * up_proj(x)) — SwiGLU, GeGLU, ReGLU.

#include <ATen/ATen.h>

#include "activation.hpp"
#include "modules.hpp"

namespace eulerstack::ffn {
namespace {

class GatedMlp final : public FfnModule {
 public:
  explicit GatedMlp(const ModuleContext& context)
      : activation_(activation_named(context.block.param<std::string>("activation"))) {
    const std::int64_t d = context.block.model_int("d_model");
    const std::int64_t f = hidden_width(context);
    const bool bias = context.block.param<bool>("bias");
    gate_ = add_linear(*this, "gate_proj", d, f, bias, context.options, init::normal(context.init_std));
    up_ = add_linear(*this, "up_proj", d, f, bias, context.options, init::normal(context.init_std));
    down_ = add_linear(*this, "down_proj", f, d, bias, context.options, output_init(context));
  }

  FfnOutput forward(const at::Tensor& x, const FfnInput&) override {
    return {down_->forward(activation_(gate_->forward(x)) * up_->forward(x)), {}};
  }

 private:
  Activation activation_;
  std::shared_ptr<Linear> gate_, up_, down_;
};

}  // namespace

std::shared_ptr<FfnModule> make_gated_mlp(const ModuleContext& context) {
  return std::make_shared<GatedMlp>(context);
}

}  // namespace eulerstack::ffn
