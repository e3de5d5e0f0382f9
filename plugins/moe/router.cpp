#include "router.hpp"

#include <stdexcept>
#include <string>

#include <ATen/ATen.h>

#include "hash_routing.hpp"

namespace eulerstack::moe {
namespace {

enum class Affinity { Softmax, Sigmoid, SqrtSoftplus };

Affinity affinity_named(const std::string& name) {
  if (name == "softmax") return Affinity::Softmax;
  if (name == "sigmoid") return Affinity::Sigmoid;
  if (name == "sqrt_softplus") return Affinity::SqrtSoftplus;
  throw std::invalid_argument("moe: unknown affinity '" + name + "'");
}

class TopKRouter final : public RouterModule {
 public:
  TopKRouter(const ModuleContext& context, Scoring scoring)
      : scoring_(scoring), affinity_(affinity_named(context.block.param<std::string>("affinity"))) {
    const auto& block = context.block;
    experts_ = block.param<std::int64_t>("experts");
    jitter_ = block.param<double>("router_jitter");
    normalize_ = block.param<bool>("norm_topk_prob");
    const auto& correction = block.params.at("bias_correction");
    bias_correction_ = correction.at("enabled").get<bool>();
    const auto& routing = block.params.at("routing");
    hashed_ = routing.at("type").get<std::string>() == "hash";
    if (hashed_) salt_ = routing.at("hash_salt").get<std::int64_t>();

    const double init_std = block.is_set("router_init_std") ? block.param<double>("router_init_std") : context.init_std;
    weight_ = add_parameter("weight", {experts_, block.model_int("d_model")}, context.options, init::normal(init_std));
    // Model state, saved and loaded with the weights; a trainer updates it
    // between optimizer steps (DeepSeek-V3), never forward. Float32 whatever
    // the model dtype: update steps of 1e-3 vanish in bfloat16.
    expert_bias_ = register_buffer("expert_bias", at::zeros({experts_}, context.options.dtype(at::kFloat)));
  }

  Routing route(const at::Tensor& x, const RoutingRequest& request) override {
    at::Tensor input = x.to(at::kFloat);
    if (is_training() && jitter_ > 0) input = input * at::empty_like(input).uniform_(1.0 - jitter_, 1.0 + jitter_);
    const at::Tensor logits = at::matmul(input, weight_.to(at::kFloat).t());
    const at::Tensor scores = scores_of(logits);
    const at::Tensor probs = scores / scores.sum(-1, true);

    at::Tensor experts, weights;
    if (hashed_) {
      if (!request.token_ids.defined())
        throw std::invalid_argument("moe: hash routing needs the token ids (FfnInput.token_ids)");
      experts = hash_experts(request.token_ids, salt_, experts_, request.top_k).to(logits.device());
      weights = at::full(experts.sizes(), 1.0 / static_cast<double>(request.top_k), logits.options());
    } else {
      const at::Tensor selection = bias_correction_ ? scores.detach() + expert_bias_ : scores;
      experts = std::get<1>(selection.topk(request.top_k, -1));
      weights = scores.gather(1, experts);
      if (normalize_) weights = weights / (weights.sum(-1, true) + 1e-20);
    }
    return {weights.to(x.scalar_type()), experts, probs, logits};
  }

 private:
  at::Tensor scores_of(const at::Tensor& logits) const {
    if (scoring_ == Scoring::Sigmoid)
      return affinity_ == Affinity::SqrtSoftplus ? at::sqrt(at::softplus(logits)) : at::sigmoid(logits);
    switch (affinity_) {
      case Affinity::Sigmoid: return at::softmax(at::sigmoid(logits), -1);
      case Affinity::SqrtSoftplus: return at::softmax(at::sqrt(at::softplus(logits)), -1);
      case Affinity::Softmax: break;
    }
    return at::softmax(logits, -1);
  }

  Scoring scoring_;
  Affinity affinity_;
  std::int64_t experts_ = 0;
  double jitter_ = 0.0;
  bool normalize_ = true;
  bool bias_correction_ = false;
  bool hashed_ = false;
  std::int64_t salt_ = 0;
  at::Tensor weight_;
  at::Tensor expert_bias_;
};

}  // namespace

std::shared_ptr<RouterModule> make_router(const ModuleContext& context, Scoring scoring) {
  return std::make_shared<TopKRouter>(context, scoring);
}

}  // namespace eulerstack::moe
