#pragma once
// One expert: the ffn plugin's FeedForward (its mlp or gated_mlp, by
// expert_type), with the same parameter names and init.

#include <memory>

#include "../ffn/feed_forward.hpp"

namespace eulerstack::moe {

class Expert final : public BlockModule {
 public:
  explicit Expert(const ModuleContext& context);
  at::Tensor forward(const at::Tensor& x) const { return net_.forward(x); }  // [n, d] -> [n, d]

 private:
  ffn::FeedForward net_;
};

}  // namespace eulerstack::moe
