// The assembled model on padded batches (docs/PADDING.md), over every mini
// preset: a batch with left, right and middle padding gives each row's logits
// alone, in a forward and in cached decoding (with HF's full-length mask), and
// greedy generation of ragged prompts gives each prompt's own tokens.

#include <vector>

#include <ATen/ATen.h>

#include "eulerstack/runtime/model.hpp"
#include "support.hpp"

namespace {

using eulerstack::BuildOptions;
using eulerstack::CausalLM;

std::shared_ptr<CausalLM> build(const eulerstack::Json& ir) {
  BuildOptions options;
  options.dtype = at::kFloat;
  auto model = std::make_shared<CausalLM>(ir, rt::catalog(), options);
  model->initialize();
  return model;
}

at::Tensor random_tokens(std::int64_t vocab, std::int64_t batch, std::int64_t length, std::uint64_t seed) {
  at::Generator g = at::detail::createCPUGenerator(seed);
  return at::randint(vocab, {batch, length}, g, at::TensorOptions().dtype(at::kLong));
}

// Three rows of 10 slots: 3 padding slots on the left, 2 on the right, one in the middle.
at::Tensor padding_mask_rows() {
  auto mask = at::ones({3, 10}, at::TensorOptions().dtype(at::kLong));
  mask[0].narrow(0, 0, 3).fill_(0);
  mask[1].narrow(0, 8, 2).fill_(0);
  mask[2][4] = 0;
  return mask;
}

at::Tensor real_part(const at::Tensor& t, const at::Tensor& mask, std::int64_t row) {
  return t[row].index_select(0, mask[row].nonzero().squeeze(1)).unsqueeze(0);
}

}  // namespace

TEST_CASE("every mini preset: padding changes nothing at the real tokens, in a forward and in cached decoding") {
  for (const auto& name : rt::preset_names(/*mini=*/true)) {
    CAPTURE(name);
    const auto ir = rt::compile_preset(name);
    auto model = build(ir);
    model->eval();
    at::NoGradGuard no_grad;
    const std::int64_t vocab = ir["model"]["vocab_size"].get<std::int64_t>();
    const auto tokens = random_tokens(vocab, 3, 10, 5), next = random_tokens(vocab, 3, 3, 6);
    const auto mask = padding_mask_rows();
    const auto padded = model->forward(tokens, nullptr, mask).logits;
    CHECK(at::isfinite(padded).all().item<bool>());

    auto state = model->new_state();
    model->forward(tokens, &state, mask);
    std::vector<at::Tensor> steps;
    at::Tensor seen = mask;
    for (std::int64_t t = 0; t < 3; ++t) {  // HF's convention: the mask covers the cached tokens too
      seen = at::cat({seen, at::ones({3, 1}, seen.options())}, 1);
      steps.push_back(model->forward(next.narrow(1, t, 1), &state, seen).logits);
    }
    CHECK(state.length() == 13);
    CHECK(at::equal(state.real_tokens(), mask.sum(1) + 3));
    for (std::int64_t row = 0; row < 3; ++row) {
      CAPTURE(row);
      const auto alone_tokens = real_part(tokens, mask, row);
      const auto alone = model->forward(alone_tokens).logits;
      const double scale = std::max(1.0, alone.abs().max().item<double>());
      CHECK(rt::max_abs_diff(real_part(padded, mask, row), alone) <= 1e-4 * scale);
      auto own = model->new_state();
      model->forward(alone_tokens, &own);
      for (std::int64_t t = 0; t < 3; ++t) {
        const auto expected = model->forward(next.narrow(0, row, 1).narrow(1, t, 1), &own).logits;
        CHECK(rt::max_abs_diff(steps[t].narrow(0, row, 1), expected) <= 1e-4 * scale);
      }
    }
  }
}

TEST_CASE("every mini preset: greedy generation of left-padded prompts gives each prompt what it gets alone") {
  for (const auto& name : rt::preset_names(/*mini=*/true)) {
    CAPTURE(name);
    const auto ir = rt::compile_preset(name);
    auto model = build(ir);
    const std::int64_t vocab = ir["model"]["vocab_size"].get<std::int64_t>();
    const std::vector<std::int64_t> lengths = {7, 3, 5};
    auto prompts = at::zeros({3, 7}, at::TensorOptions().dtype(at::kLong));
    auto mask = at::zeros_like(prompts);
    std::vector<at::Tensor> alone;
    for (std::int64_t row = 0; row < 3; ++row) {
      alone.push_back(random_tokens(vocab, 1, lengths[row], 20 + row));
      prompts[row].narrow(0, 7 - lengths[row], lengths[row]).copy_(alone.back()[0]);
      mask[row].narrow(0, 7 - lengths[row], lengths[row]).fill_(1);
    }
    const auto generated = model->generate(prompts, 5, mask);
    REQUIRE(generated.sizes() == at::IntArrayRef({3, 12}));
    for (std::int64_t row = 0; row < 3; ++row) {
      CAPTURE(row);
      CHECK(at::equal(generated[row].narrow(0, 7, 5), model->generate(alone[row], 5)[0].narrow(0, lengths[row], 5)));
    }
  }
}

TEST_CASE("generation from right-padded prompts continues each row after its last real token") {
  const auto ir = rt::compile_preset("llama_style_mini");
  auto model = build(ir);
  const auto prompt = random_tokens(ir["model"]["vocab_size"].get<std::int64_t>(), 1, 4, 8);
  const auto padded = at::cat({prompt, at::zeros({1, 2}, prompt.options())}, 1);
  const auto mask = at::tensor({1, 1, 1, 1, 0, 0}, prompt.options()).view({1, 6});
  CHECK(at::equal(model->generate(padded, 4, mask).narrow(1, 6, 4), model->generate(prompt, 4).narrow(1, 4, 4)));
}

TEST_CASE("an attention_mask of all ones is the unpadded fast path") {
  const auto ir = rt::compile_preset("mistral_style_mini");
  auto model = build(ir);
  model->eval();
  at::NoGradGuard no_grad;
  const auto tokens = random_tokens(ir["model"]["vocab_size"].get<std::int64_t>(), 2, 6, 9);
  auto state = model->new_state();
  CHECK(at::equal(model->forward(tokens, &state, at::ones_like(tokens)).logits, model->forward(tokens).logits));
  CHECK_FALSE(state.real_tokens().defined());
  CHECK_THROWS(model->forward(tokens, nullptr, at::ones({2, 5}, tokens.options())));
}
