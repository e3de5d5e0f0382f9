// The LibTorch half of the ffn plugin (libeulerstack_ffn.modules.so): mlp and
// gated_mlp are FeedForward (feed_forward.hpp, which the moe plugin's experts share)
// with hidden width mlp_ratio * d_model; a padding token needs nothing, each
// token is computed on its own.

#include "eulerstack/runtime/module_catalog.hpp"
#include "feed_forward.hpp"

namespace {

using eulerstack::ffn::FeedForward;
using eulerstack::FfnInput;
using eulerstack::FfnOutput;
using eulerstack::ModuleContext;

class DenseFfn final : public eulerstack::FfnModule {
 public:
  DenseFfn(const ModuleContext& context, bool gated)
      : net_(*this,
             {context.block.model_int("d_model"), context.block.model_int("mlp_ratio") * context.block.model_int("d_model"),
              gated, context.block.param<bool>("bias"), context.block.param<std::string>("activation")},
             context) {}

  FfnOutput forward(const at::Tensor& x, const FfnInput&) override { return {net_.forward(x), {}}; }

 private:
  FeedForward net_;
};

void register_modules(eulerstack::ModuleRegistrar& registrar) {
  registrar.ffn("mlp", [](const ModuleContext& c) { return std::make_shared<DenseFfn>(c, false); });
  registrar.ffn("gated_mlp", [](const ModuleContext& c) { return std::make_shared<DenseFfn>(c, true); });
}

}  // namespace

EULERSTACK_PLUGIN_MODULES(register_modules)
