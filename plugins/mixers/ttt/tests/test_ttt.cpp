// The ttt_layer mixer's module: layout and count, learning while it reads
// (against a frozen inner model), causality, decoding with its cache, padding,
// no_grad, and gradients through the inner updates.

#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "padding_support.hpp"
#include "support.hpp"

namespace {

using eulerstack::BlockKind;
using eulerstack::MixerModule;
using rt::Json;

const Json kModel = rt::model_section();  // d 64

at::Tensor random(std::vector<std::int64_t> shape, std::uint64_t seed) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randn(shape, generator, at::TensorOptions().dtype(at::kFloat));
}

Json ttt(const std::string& inner, const std::string& optimizer, double lr = 0.05, int steps = 1) {
  return {{"inner_model", {{"type", inner}, {"hidden", 24}}}, {"inner_optimizer", optimizer}, {"inner_lr", lr},
          {"inner_steps_per_token", steps}};
}

const std::vector<Json> kVariants = {ttt("mlp", "sgd"), ttt("linear", "sgd"), ttt("mlp", "adamw", 0.01, 2),
                                     ttt("linear", "adamw", 0.02)};

at::Tensor run(MixerModule& mixer, const at::Tensor& x, std::int64_t offset = 0, eulerstack::LayerCache* cache = nullptr) {
  auto none = rt::make_positional(kModel, "none");
  return mixer.forward(x, rt::mixer_input(*none, offset, x.size(1), cache));
}

}  // namespace

TEST_CASE("ttt_layer: parameter count equals the formula; names and shapes") {
  for (const auto& params : kVariants) {
    CAPTURE(params.dump());
    auto mixer = rt::make_mixer(kModel, "ttt_layer", params);
    CHECK(rt::parameter_count(*mixer) ==
          rt::formula_count(BlockKind::Mixer, kModel, rt::block_ir(BlockKind::Mixer, "ttt_layer", params)));
  }
  std::vector<std::string> names;
  for (const auto& p : rt::make_mixer(kModel, "ttt_layer", ttt("mlp", "sgd"))->named_parameters()) names.push_back(p.key());
  CHECK(names == std::vector<std::string>{"norm.weight", "norm.bias", "in_proj.weight", "target_proj.weight",
                                          "out_proj.weight", "inner.fc1.weight", "inner.fc1.bias", "inner.fc2.weight",
                                          "inner.fc2.bias"});
  auto linear = rt::make_mixer(kModel, "ttt_layer", ttt("linear", "sgd"))->named_parameters();
  CHECK(linear["inner.weight"].sizes().vec() == std::vector<std::int64_t>{64, 64});
  CHECK(linear["inner.bias"].sizes().vec() == std::vector<std::int64_t>{64});
}

TEST_CASE("ttt_layer: the inner model learns while it reads; with a tiny rate it is a frozen inner model") {
  const auto x = random({2, 10, 64}, 3);
  auto learning = rt::make_mixer(kModel, "ttt_layer", ttt("linear", "sgd", 0.5));
  auto frozen = rt::make_mixer(kModel, "ttt_layer", ttt("linear", "sgd", 1e-12));
  for (const auto& p : frozen->named_parameters()) p.value().data().copy_(learning->named_parameters()[p.key()]);
  // The frozen layer: out_proj(W0 q + b0) for every token.
  auto p = frozen->named_parameters();
  const auto h = at::layer_norm(x, {64}, p["norm.weight"], p["norm.bias"], 1e-5);
  const auto q = at::linear(h, p["in_proj.weight"]);
  const auto expected = at::linear(at::linear(q, p["inner.weight"], p["inner.bias"]), p["out_proj.weight"]);
  CHECK(rt::max_abs_diff(run(*frozen, x), expected) < 1e-5);
  // The first token sees one update; later tokens drift further from the frozen model.
  const auto learnt = run(*learning, x), fixed = run(*frozen, x);
  const double first = rt::max_abs_diff(learnt.narrow(1, 0, 1), fixed.narrow(1, 0, 1));
  const double last = rt::max_abs_diff(learnt.narrow(1, 9, 1), fixed.narrow(1, 9, 1));
  CHECK(first > 0.0);
  CHECK(last > first);
}

TEST_CASE("ttt_layer: causal, and prefill + steps equal the full forward, for every variant") {
  for (const auto& params : kVariants) {
    CAPTURE(params.dump());
    auto mixer = rt::make_mixer(kModel, "ttt_layer", params);
    const auto x = random({2, 12, 64}, 5);
    const auto full = run(*mixer, x);
    auto changed = x.clone();
    changed.narrow(1, 8, 4).normal_();
    CHECK(rt::max_abs_diff(run(*mixer, changed).narrow(1, 0, 8), full.narrow(1, 0, 8)) == 0.0);
    auto cache = mixer->new_cache();
    std::vector<at::Tensor> pieces{run(*mixer, x.narrow(1, 0, 5), 0, cache.get())};
    for (std::int64_t t = 5; t < 12; ++t) pieces.push_back(run(*mixer, x.narrow(1, t, 1), t, cache.get()));
    CHECK(rt::max_abs_diff(at::cat(pieces, 1), full) < 1e-5);
  }
}

TEST_CASE("ttt_layer: padding changes nothing at the real tokens, prefill and decode") {
  for (const auto& params : kVariants) {
    CAPTURE(params.dump());
    auto mixer = rt::make_mixer(kModel, "ttt_layer", params);
    auto none = rt::make_positional(kModel, "none");
    const auto diffs = rt::mixer_padding_diffs(*mixer, *none, random({3, 10, 64}, 21));
    CHECK(diffs.forward < 1e-5);
    CHECK(diffs.decode < 1e-5);
  }
}

TEST_CASE("ttt_layer: learns under no_grad as with grad, and training reaches every parameter") {
  auto mixer = rt::make_mixer(kModel, "ttt_layer", ttt("mlp", "adamw", 0.01));
  const auto x = random({2, 6, 64}, 7);
  const auto with_grad = run(*mixer, x);
  at::Tensor without;
  {
    at::NoGradGuard no_grad;
    without = run(*mixer, x);
  }
  CHECK(rt::max_abs_diff(with_grad, without) == 0.0);
  with_grad.square().sum().backward();
  for (const auto& p : mixer->named_parameters()) {
    CAPTURE(p.key());
    REQUIRE(p.value().grad().defined());
    CHECK(p.value().grad().abs().sum().item<double>() > 0.0);
  }
}
