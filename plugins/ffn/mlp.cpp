// mlp: down_proj(act(up_proj(x))).

#include <ATen/ATen.h>

#include "activation.hpp"
#include "modules.hpp"

namespace eulerstack::ffn {
namespace {

class Mlp final : public FfnModule {
 public:
  explicit Mlp(const ModuleContext& context)
      : activation_(activation_named(context.block.param<std::string>("activation"))) {
    const std::int64_t d = context.block.model_int("d_model");
    const std::int64_t f = hidden_width(context);
    const bool bias = context.block.param<bool>("bias");
    up_ = add_linear(*this, "up_proj", d, f, bias, context.options, init::normal(context.init_std));
    down_ = add_linear(*this, "down_proj", f, d, bias, context.options, output_init(context));
  }

  FfnOutput forward(const at::Tensor& x, const FfnInput&) override {
    return {down_->forward(activation_(up_->forward(x))), {}};
  }

 private:
  Activation activation_;
  std::shared_ptr<Linear> up_, down_;
};

}  // namespace

std::shared_ptr<FfnModule> make_mlp(const ModuleContext& context) { return std::make_shared<Mlp>(context); }

}  // namespace eulerstack::ffn
