// The mixture-of-experts FFN: route, dispatch to the experts, add the shared
// experts, and report the auxiliary losses.

#include "moe.hpp"

#include <cmath>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <torch/nn/modules/container/modulelist.h>

#include "balance_loss.hpp"
#include "dispatch.hpp"
#include "eulerstack/diagnostics.hpp"
#include "expert.hpp"

namespace eulerstack::moe {
namespace {

// Node-limited routing needs the number of expert groups, which the spec does not give.
void reject_group_limit(const BlockContext& block) {
  const Json& limit = block.params.at("balance").at("group_limit");
  if (limit.is_null()) return;
  throw Error(make_error("RuntimeError", "runtime.unsupported_param",
                         {{"block", "moe"}, {"param", "balance.group_limit"}, {"value", limit.dump()},
                          {"supported", "null"}}));
}

std::vector<std::shared_ptr<Expert>> add_experts(torch::nn::Module& parent, const std::string& name,
                                                 std::int64_t count, const ModuleContext& context) {
  std::vector<std::shared_ptr<Expert>> experts;
  if (count == 0) return experts;
  torch::nn::ModuleList list;
  for (std::int64_t i = 0; i < count; ++i) {
    experts.push_back(std::make_shared<Expert>(context));
    list->push_back(experts.back());
  }
  parent.register_module(name, list);
  return experts;
}

class Moe final : public FfnModule {
 public:
  explicit Moe(const ModuleContext& context) {
    const auto& block = context.block;
    reject_group_limit(block);
    if (!context.builder) throw std::logic_error("moe: the module context has no builder for the router");
    top_k_ = block.param<std::int64_t>("top_k");
    capacity_factor_ = block.param<double>("capacity_factor");
    limit_capacity_ = block.param<std::string>("capacity_drop_policy") != "overflow";
    losses_.load_balance = block.param<double>("load_balance_coef");
    losses_.z_loss = block.param<double>("z_loss");
    losses_.sequence = block.params.at("balance").at("sequence_aux_coef").get<double>();

    router_ = register_module("router", context.builder->make_router(context.refs.at("router"), context));
    experts_ = add_experts(*this, "experts", block.param<std::int64_t>("experts"), context);
    shared_ = add_experts(*this, "shared_experts", block.param<std::int64_t>("shared_experts"), context);
  }

  FfnOutput forward(const at::Tensor& x, const FfnInput& input) override {
    const at::Tensor flat = x.reshape({-1, x.size(-1)});
    // Padding tokens are not routed: they get no expert, take no capacity and stay out of the losses.
    const at::Tensor routed = input.padding_mask.defined() ? input.padding_mask.reshape({-1}).nonzero().squeeze(1)
                                                           : at::Tensor();
    const at::Tensor tokens = routed.defined() ? flat.index_select(0, routed) : flat;
    RoutingRequest request;
    request.top_k = top_k_;
    if (input.token_ids.defined()) {
      request.token_ids = input.token_ids.reshape({-1});
      if (routed.defined()) request.token_ids = request.token_ids.index_select(0, routed.to(request.token_ids.device()));
    }
    const Routing routing = router_->route(tokens, request);
    at::Tensor out = dispatch(tokens, routing.experts, routing.weights, experts_, capacity(tokens.size(0)));
    if (routed.defined()) out = at::zeros_like(flat).index_copy_(0, routed, out);
    for (const auto& expert : shared_) out = out + expert->forward(flat);
    const at::Tensor rows = routed.defined() ? at::div(routed, x.size(1), "floor") : at::Tensor();
    return {out.reshape(x.sizes()), aux_loss(routing, x.size(0), rows, losses_)};
  }

 private:
  // Only training drops tokens: inference never does.
  std::optional<std::int64_t> capacity(std::int64_t tokens) const {
    if (!is_training() || !limit_capacity_) return std::nullopt;
    const double assignments = capacity_factor_ * static_cast<double>(tokens * top_k_);
    return static_cast<std::int64_t>(std::ceil(assignments / static_cast<double>(experts_.size())));
  }

  std::int64_t top_k_ = 1;
  double capacity_factor_ = 1.0;
  bool limit_capacity_ = false;
  LossWeights losses_;
  std::shared_ptr<RouterModule> router_;
  std::vector<std::shared_ptr<Expert>> experts_;
  std::vector<std::shared_ptr<Expert>> shared_;
};

}  // namespace

std::shared_ptr<FfnModule> make_moe(const ModuleContext& context) { return std::make_shared<Moe>(context); }

}  // namespace eulerstack::moe
