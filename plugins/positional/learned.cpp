// Learned absolute positions (GPT-2): a table `weight` [max_seq_len, d_model],
// published by the model as `model.embed_positions.weight`.

#include <ATen/ATen.h>

#include "positional_modules.hpp"

namespace eulerstack::positional {
namespace {

class LearnedPositions : public PositionalModule {
 public:
  explicit LearnedPositions(const ModuleContext& context)
      : max_seq_len_(context.block.model_int("max_seq_len")) {
    weight_ = add_parameter("weight", {max_seq_len_, context.block.model_int("d_model")}, context.options,
                            init::normal(context.init_std));
  }

  at::Tensor embed(const at::Tensor& positions) override {
    if (positions.numel() > 0) {
      const auto last = positions.max().item<std::int64_t>();
      TORCH_CHECK(last < max_seq_len_, "learned positional embeddings cover positions 0..", max_seq_len_ - 1,
                  " (model.max_seq_len ", max_seq_len_, "), but position ", last,
                  " was requested; shorten the input or raise model.max_seq_len (the table has no rows beyond it)");
      TORCH_CHECK(positions.min().item<std::int64_t>() >= 0, "positions must not be negative");
    }
    return at::embedding(weight_, positions.to(weight_.device(), at::kLong));  // [T, d] or [B, T, d]
  }

 private:
  std::int64_t max_seq_len_;
  at::Tensor weight_;
};

}  // namespace

std::shared_ptr<PositionalModule> make_learned(const ModuleContext& context) {
  return std::make_shared<LearnedPositions>(context);
}

}  // namespace eulerstack::positional
