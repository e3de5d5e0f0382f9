#include "expert.hpp"

namespace eulerstack::moe {
namespace {

ffn::FeedForwardShape expert_shape(const BlockContext& block) {
  const std::int64_t d = block.model_int("d_model");
  return {d, block.model_int("mlp_ratio") * d, block.param<std::string>("expert_type") == "gated_mlp",
          block.param<bool>("bias"), block.param<std::string>("activation")};
}

}  // namespace

Expert::Expert(const ModuleContext& context) : net_(*this, expert_shape(context.block), context) {}

}  // namespace eulerstack::moe
