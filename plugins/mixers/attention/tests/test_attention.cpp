// The attention mixer's module: layout and counts, masks against an explicit
// reference, GQA/MQA/MLA, KV-cache decoding, gradients.

#include <cmath>
#include <functional>
#include <string>

#include <ATen/ATen.h>

#include "eulerstack/runtime/initialize.hpp"
#include "padding_support.hpp"
#include "support.hpp"
// For the cache's length only (inline, no symbols of the plugin needed).
#include "../attention_cache.hpp"

namespace {

using eulerstack::BlockKind;
using eulerstack::MixerModule;
using eulerstack::PositionalModule;
using rt::Json;

const Json kModel = rt::model_section();  // d 64, 4 heads, 2 KV heads, max_seq_len 256

at::Tensor random(std::vector<std::int64_t> shape, std::uint64_t seed, at::ScalarType dtype = at::kFloat) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randn(shape, generator, at::TensorOptions().dtype(at::kFloat)).to(dtype);
}

at::Tensor run(MixerModule& mixer, PositionalModule& positional, const at::Tensor& x, std::int64_t offset = 0,
               eulerstack::LayerCache* cache = nullptr) {
  return mixer.forward(x, rt::mixer_input(positional, offset, x.size(1), cache));
}

std::int64_t cache_length(const eulerstack::LayerCache& cache) {
  // static_cast: the class's type info lives hidden inside the plugin.
  return static_cast<const eulerstack::attention::AttentionCache&>(cache).length();
}

double relative_diff(const at::Tensor& a, const at::Tensor& b) {
  return rt::max_abs_diff(a, b) / std::max(1e-12, b.abs().max().item<double>());
}

// Attention written out: projections from the module's own parameters,
// positional rotation and bias, softmax over the keys `visible(i, j)` allows,
// in float64.
using Visible = std::function<bool(std::int64_t query, std::int64_t key)>;

at::Tensor reference(MixerModule& mixer, PositionalModule& positional, const at::Tensor& x, const Visible& visible,
                     std::int64_t heads = 4, std::int64_t kv_heads = 2, const at::Tensor& sinks = {}) {
  auto p = mixer.named_parameters();
  auto linear = [&](const at::Tensor& in, const std::string& name) {
    const auto bias = p.find(name + ".bias");
    return at::linear(in, p[name + ".weight"].to(at::kDouble), bias ? bias->to(at::kDouble) : at::Tensor());
  };
  const auto xd = x.to(at::kDouble);
  const std::int64_t batch = x.size(0), length = x.size(1), head_dim = 64 / heads;
  const bool mla = p.contains("kv_down_proj.weight");
  const auto source = mla ? linear(xd, "kv_down_proj") : xd;
  auto q = linear(xd, "q_proj").view({batch, length, heads, head_dim}).transpose(1, 2);
  auto k = linear(source, mla ? "k_up_proj" : "k_proj").view({batch, length, kv_heads, head_dim}).transpose(1, 2);
  auto v = linear(source, mla ? "v_up_proj" : "v_proj").view({batch, length, kv_heads, head_dim}).transpose(1, 2);
  const auto positions = at::arange(length, at::TensorOptions().dtype(at::kLong));
  std::tie(q, k) = positional.rotate(q, k, positions);
  k = k.repeat_interleave(heads / kv_heads, 1);
  v = v.repeat_interleave(heads / kv_heads, 1);
  auto scores = at::matmul(q, k.transpose(-1, -2)) / std::sqrt(static_cast<double>(head_dim));
  const auto bias = positional.attention_bias(heads, positions, positions);
  if (bias.defined()) scores = scores + bias.to(at::kDouble);
  auto mask = at::zeros({length, length}, at::TensorOptions().dtype(at::kBool));
  for (std::int64_t i = 0; i < length; ++i)
    for (std::int64_t j = 0; j < length; ++j) mask[i][j] = !visible(i, j);
  scores = scores.masked_fill(mask, -INFINITY);
  at::Tensor probs;
  if (sinks.defined()) {  // the sink logits join each query's softmax, their columns dropped
    const auto sink = sinks.to(at::kDouble).view({1, heads, 1, -1}).expand({batch, heads, length, sinks.size(1)});
    probs = at::softmax(at::cat({scores, sink}, -1), -1).narrow(-1, 0, length);
  } else {
    probs = at::softmax(scores, -1);
  }
  const auto out = at::matmul(probs, v).transpose(1, 2).reshape({batch, length, heads * head_dim});
  return linear(out, "o_proj");
}

const Visible kCausal = [](std::int64_t i, std::int64_t j) { return j <= i; };

// Full forward over T tokens == prefill of `prefill` tokens, then `chunk`-token
// calls, with one cache. Returns the cache for inspection.
std::unique_ptr<eulerstack::LayerCache> check_decoding(MixerModule& mixer, PositionalModule& positional,
                                                       std::int64_t length, std::int64_t prefill,
                                                       std::int64_t chunk = 1) {
  const auto x = random({2, length, 64}, 11);
  const auto full = run(mixer, positional, x);
  auto cache = mixer.new_cache();
  std::vector<at::Tensor> pieces{run(mixer, positional, x.narrow(1, 0, prefill), 0, cache.get())};
  for (std::int64_t start = prefill; start < length; start += chunk) {
    const std::int64_t n = std::min(chunk, length - start);
    pieces.push_back(run(mixer, positional, x.narrow(1, start, n), start, cache.get()));
  }
  CHECK(relative_diff(at::cat(pieces, 1), full) < 1e-5);
  return cache;
}

}  // namespace

TEST_CASE("attention: parameter count equals the plugin's formula") {
  const Json mha = rt::model_section({{"n_kv_heads", 4}});
  const Json mqa = rt::model_section({{"n_kv_heads", 1}});
  const Json wide = rt::model_section({{"d_model", 96}, {"n_heads", 6}, {"n_kv_heads", 3}});
  const std::vector<std::pair<Json, Json>> cases = {
      {mha, Json::object()},
      {kModel, Json::object()},
      {mqa, Json::object()},
      {kModel, {{"qkv_bias", true}}},
      {mqa, {{"qkv_bias", true}}},
      {kModel, {{"latent_dim", 32}}},
      {mha, {{"latent_dim", 16}, {"qkv_bias", true}}},
      {wide, {{"latent_dim", 48}, {"window", 16}}},
  };
  for (const auto& [model, params] : cases) {
    auto mixer = rt::make_mixer(model, "attention", params);
    const auto ir = rt::block_ir(BlockKind::Mixer, "attention", params);
    CHECK_MESSAGE(rt::parameter_count(*mixer) == rt::formula_count(BlockKind::Mixer, model, ir),
                  model.dump() << " " << params.dump());
  }
}

TEST_CASE("attention: parameter names and shapes follow the HF layout") {
  auto gqa = rt::make_mixer(kModel, "attention", {{"qkv_bias", true}});
  auto p = gqa->named_parameters();
  CHECK(p["q_proj.weight"].sizes() == at::IntArrayRef({64, 64}));
  CHECK(p["q_proj.bias"].sizes() == at::IntArrayRef({64}));
  CHECK(p["k_proj.weight"].sizes() == at::IntArrayRef({32, 64}));
  CHECK(p["v_proj.bias"].sizes() == at::IntArrayRef({32}));
  CHECK(p["o_proj.weight"].sizes() == at::IntArrayRef({64, 64}));
  CHECK_FALSE(p.contains("o_proj.bias"));
  CHECK(p["q_proj.bias"].abs().max().item<double>() == 0.0);

  auto mla = rt::make_mixer(kModel, "attention", {{"latent_dim", 24}});
  auto m = mla->named_parameters();
  CHECK(m["kv_down_proj.weight"].sizes() == at::IntArrayRef({24, 64}));
  CHECK(m["k_up_proj.weight"].sizes() == at::IntArrayRef({32, 24}));
  CHECK(m["v_up_proj.weight"].sizes() == at::IntArrayRef({32, 24}));
  CHECK_FALSE(m.contains("k_proj.weight"));
  CHECK_FALSE(m.contains("kv_down_proj.bias"));
}

TEST_CASE("attention: o_proj is initialised with init_std / sqrt(2 * n_layers)") {
  auto context = rt::module_context(kModel, 8);
  auto mixer = rt::catalog().make_mixer(rt::block_ir(BlockKind::Mixer, "attention"), context);
  eulerstack::initialize_parameters(*mixer, 3);
  auto p = mixer->named_parameters();
  CHECK(p["q_proj.weight"].std().item<double>() == doctest::Approx(0.02).epsilon(0.05));
  CHECK(p["o_proj.weight"].std().item<double>() == doctest::Approx(0.02 / 4.0).epsilon(0.05));
}

TEST_CASE("attention: shapes and dtypes (float32, bfloat16)") {
  auto rope = rt::make_positional(kModel, "rope");
  for (const auto dtype : {at::kFloat, at::kBFloat16}) {
    auto mixer = rt::catalog().make_mixer(rt::block_ir(BlockKind::Mixer, "attention", {{"window", 4}}),
                                          rt::module_context(kModel, 2, dtype));
    eulerstack::initialize_parameters(*mixer, 7);
    CHECK((mixer->named_parameters()["q_proj.weight"].scalar_type() == dtype));
    const auto x = random({3, 9, 64}, 1, dtype);
    const auto y = run(*mixer, *rope, x);
    CHECK(y.sizes() == x.sizes());
    CHECK((y.scalar_type() == dtype));
    CHECK(at::isfinite(y).all().item<bool>());
    auto cache = mixer->new_cache();
    const auto step = run(*mixer, *rope, x.narrow(1, 0, 1), 0, cache.get());
    CHECK(step.sizes() == at::IntArrayRef({3, 1, 64}));
    CHECK((step.scalar_type() == dtype));
  }
}

TEST_CASE("attention: causal, a later token never changes earlier outputs") {
  auto rope = rt::make_positional(kModel, "rope");
  for (const Json& params : {Json::object(), Json{{"window", 3}}, Json{{"latent_dim", 32}}}) {
    auto mixer = rt::make_mixer(kModel, "attention", params);
    auto x = random({2, 10, 64}, 2);
    const auto before = run(*mixer, *rope, x);
    x.narrow(1, 6, 4).copy_(random({2, 4, 64}, 3));
    const auto after = run(*mixer, *rope, x);
    CHECK(rt::max_abs_diff(before.narrow(1, 0, 6), after.narrow(1, 0, 6)) < 1e-6);
    CHECK(rt::max_abs_diff(before.narrow(1, 6, 4), after.narrow(1, 6, 4)) > 1e-4);
  }
}

TEST_CASE("attention: global causal attention equals the explicit reference") {
  auto rope = rt::make_positional(kModel, "rope");
  auto mixer = rt::make_mixer(kModel, "attention", {{"qkv_bias", true}});
  // Non-zero biases, so that their use is checked too.
  for (auto& p : mixer->parameters()) p.data().add_(0.01);
  const auto x = random({2, 12, 64}, 4);
  CHECK(relative_diff(run(*mixer, *rope, x), reference(*mixer, *rope, x, kCausal)) < 1e-5);
}

TEST_CASE("attention: sliding window equals a masked-softmax reference") {
  auto rope = rt::make_positional(kModel, "rope");
  for (const char* mode : {"standard", "sliding"}) {
    auto mixer = rt::make_mixer(kModel, "attention", {{"window", 4}, {"window_mode", mode}});
    const auto x = random({2, 13, 64}, 5);
    const Visible window = [](std::int64_t i, std::int64_t j) { return j <= i && i - j < 4; };
    const auto out = run(*mixer, *rope, x);
    CHECK(relative_diff(out, reference(*mixer, *rope, x, window)) < 1e-5);
    CHECK(relative_diff(out, reference(*mixer, *rope, x, kCausal)) > 1e-3);  // the window matters
  }
}

TEST_CASE("attention: a window wider than the prompt is plain causal attention, with or without a cache") {
  auto rope = rt::make_positional(kModel, "rope");
  for (const char* mode : {"standard", "sliding", "nsa"}) {
    auto mixer = rt::make_mixer(kModel, "attention", {{"window", 13}, {"window_mode", mode}});
    const auto x = random({2, 13, 64}, 5);
    const auto expected = reference(*mixer, *rope, x, kCausal);
    CHECK(relative_diff(run(*mixer, *rope, x), expected) < 1e-5);
    auto cache = mixer->new_cache();
    CHECK(relative_diff(run(*mixer, *rope, x, 0, cache.get()), expected) < 1e-5);
  }
}

TEST_CASE("attention: dilated window equals its reference") {
  auto rope = rt::make_positional(kModel, "rope");
  auto mixer = rt::make_mixer(kModel, "attention", {{"window", 7}, {"window_mode", "dilated"}, {"window_dilation", 2}});
  const auto x = random({1, 16, 64}, 6);
  const Visible dilated = [](std::int64_t i, std::int64_t j) { return j <= i && i - j < 7 && (i - j) % 2 == 0; };
  CHECK(relative_diff(run(*mixer, *rope, x), reference(*mixer, *rope, x, dilated)) < 1e-5);
}

TEST_CASE("attention: nsa sees its window plus every stride-th distant key") {
  auto rope = rt::make_positional(kModel, "rope");
  const auto x = random({1, 20, 64}, 7);
  auto strided = rt::make_mixer(kModel, "attention", {{"window", 3}, {"window_mode", "nsa"}, {"window_dilation", 5}});
  const Visible nsa5 = [](std::int64_t i, std::int64_t j) { return j <= i && (i - j < 3 || (i - j) % 5 == 0); };
  CHECK(relative_diff(run(*strided, *rope, x), reference(*strided, *rope, x, nsa5)) < 1e-5);
  // default stride 4
  auto plain = rt::make_mixer(kModel, "attention", {{"window", 3}, {"window_mode", "nsa"}});
  const Visible nsa4 = [](std::int64_t i, std::int64_t j) { return j <= i && (i - j < 3 || (i - j) % 4 == 0); };
  CHECK(relative_diff(run(*plain, *rope, x), reference(*plain, *rope, x, nsa4)) < 1e-5);
}

TEST_CASE("attention: alibi bias equals its reference") {
  auto alibi = rt::make_positional(kModel, "alibi");
  auto mixer = rt::make_mixer(kModel, "attention");
  const auto x = random({2, 11, 64}, 8);
  CHECK(relative_diff(run(*mixer, *alibi, x), reference(*mixer, *alibi, x, kCausal)) < 1e-5);
  auto none = rt::make_positional(kModel, "none");
  CHECK(relative_diff(run(*mixer, *alibi, x), run(*mixer, *none, x)) > 1e-3);  // the bias matters
}

TEST_CASE("attention: GQA equals MHA whose k/v weights are the GQA weights repeated per head") {
  auto rope = rt::make_positional(kModel, "rope");
  for (const std::int64_t kv : {2, 1}) {
    const Json grouped_model = rt::model_section({{"n_kv_heads", kv}});
    auto gqa = rt::make_mixer(grouped_model, "attention", {{"qkv_bias", true}});
    auto mha = rt::make_mixer(rt::model_section({{"n_kv_heads", 4}}), "attention", {{"qkv_bias", true}});
    auto g = gqa->named_parameters();
    auto m = mha->named_parameters();
    at::NoGradGuard no_grad;
    for (auto& t : g.values()) t.add_(0.01);
    m["q_proj.weight"].copy_(g["q_proj.weight"]);
    m["q_proj.bias"].copy_(g["q_proj.bias"]);
    m["o_proj.weight"].copy_(g["o_proj.weight"]);
    for (const char* name : {"k_proj", "v_proj"}) {
      const std::string w = std::string(name) + ".weight", b = std::string(name) + ".bias";
      m[w].copy_(g[w].view({kv, 16, 64}).repeat_interleave(4 / kv, 0).reshape({64, 64}));
      m[b].copy_(g[b].view({kv, 16}).repeat_interleave(4 / kv, 0).reshape({64}));
    }
    const auto x = random({2, 9, 64}, 9);
    CHECK(relative_diff(run(*gqa, *rope, x), run(*mha, *rope, x)) < 1e-5);
  }
}

TEST_CASE("attention: MLA runs, matches its reference and decodes") {
  auto rope = rt::make_positional(kModel, "rope");
  auto mixer = rt::make_mixer(kModel, "attention", {{"latent_dim", 32}, {"qkv_bias", true}});
  const auto x = random({2, 10, 64}, 10);
  CHECK(relative_diff(run(*mixer, *rope, x), reference(*mixer, *rope, x, kCausal)) < 1e-5);
  check_decoding(*mixer, *rope, 12, 5);
}

TEST_CASE("attention: prefill + single steps equal the full forward (global, rope)") {
  auto rope = rt::make_positional(kModel, "rope");
  auto mixer = rt::make_mixer(kModel, "attention");
  auto cache = check_decoding(*mixer, *rope, 14, 6);
  CHECK(cache_length(*cache) == 14);  // global attention keeps every key
  check_decoding(*mixer, *rope, 14, 1);
  check_decoding(*mixer, *rope, 15, 4, 3);  // chunked prefill
}

TEST_CASE("attention: prefill + steps equal the full forward with a window, and the cache is trimmed") {
  auto rope = rt::make_positional(kModel, "rope");
  for (const char* mode : {"standard", "sliding"}) {
    auto mixer = rt::make_mixer(kModel, "attention", {{"window", 4}, {"window_mode", mode}});
    auto cache = check_decoding(*mixer, *rope, 16, 9);
    CHECK(cache_length(*cache) == 3);  // window - 1: all a later query can see
    cache = check_decoding(*mixer, *rope, 16, 2, 3);  // multi-token calls over a trimmed cache
    CHECK(cache_length(*cache) == 3);
  }
  auto one = rt::make_mixer(kModel, "attention", {{"window", 1}});
  CHECK(cache_length(*check_decoding(*one, *rope, 6, 3)) == 0);
  auto dilated = rt::make_mixer(kModel, "attention", {{"window", 6}, {"window_mode", "dilated"}, {"window_dilation", 2}});
  CHECK(cache_length(*check_decoding(*dilated, *rope, 16, 7)) == 5);
  check_decoding(*dilated, *rope, 16, 3, 4);
  auto nsa = rt::make_mixer(kModel, "attention", {{"window", 3}, {"window_mode", "nsa"}, {"window_dilation", 4}});
  CHECK(cache_length(*check_decoding(*nsa, *rope, 16, 5)) == 16);  // distant keys stay reachable
}

TEST_CASE("attention: long decoding, through the cache's growth, sliding and release, equals the full forward") {
  auto rope = rt::make_positional(kModel, "rope");
  auto global = rt::make_mixer(kModel, "attention");
  CHECK(cache_length(*check_decoding(*global, *rope, 70, 1)) == 70);  // the buffers grow several times
  auto windowed = rt::make_mixer(kModel, "attention", {{"window", 4}, {"window_mode", "sliding"}});
  CHECK(cache_length(*check_decoding(*windowed, *rope, 70, 1)) == 3);   // slides far past its buffers
  CHECK(cache_length(*check_decoding(*windowed, *rope, 70, 40)) == 3);  // a long prompt's keys released first
  auto alibi = rt::make_positional(kModel, "alibi");
  auto mqa = rt::make_mixer(rt::model_section({{"n_kv_heads", 1}}), "attention", {{"window", 6}});
  check_decoding(*mqa, *alibi, 40, 3);  // one key head shared by four query heads, with a per-head bias
}

TEST_CASE("attention: prefill + steps equal the full forward with alibi and with no positional signal") {
  auto mixer = rt::make_mixer(kModel, "attention");
  auto alibi = rt::make_positional(kModel, "alibi");
  check_decoding(*mixer, *alibi, 13, 5);
  auto windowed = rt::make_mixer(kModel, "attention", {{"window", 5}});
  check_decoding(*windowed, *alibi, 13, 5);
  auto none = rt::make_positional(kModel, "none");
  check_decoding(*mixer, *none, 10, 4);
}

TEST_CASE("attention: backward gives finite gradients to every parameter") {
  auto rope = rt::make_positional(kModel, "rope");
  for (const Json& params : {Json{{"qkv_bias", true}, {"attn_drop", 0.1}}, Json{{"latent_dim", 32}, {"qkv_bias", true}},
                             Json{{"window", 3}, {"window_mode", "dilated"}}}) {
    auto mixer = rt::make_mixer(kModel, "attention", params);
    mixer->train();
    const auto x = random({2, 7, 64}, 12).requires_grad_(true);
    run(*mixer, *rope, x).pow(2).sum().backward();
    for (const auto& item : mixer->named_parameters()) {
      const auto& grad = item.value().grad();
      REQUIRE_MESSAGE(grad.defined(), item.key());
      CHECK_MESSAGE(at::isfinite(grad).all().item<bool>(), item.key());
      CHECK_MESSAGE(grad.abs().sum().item<double>() > 0.0, item.key());
    }
    CHECK(at::isfinite(x.grad()).all().item<bool>());
  }
}

TEST_CASE("attention: dropout on the attention probabilities only while training") {
  auto rope = rt::make_positional(kModel, "rope");
  auto dropped = rt::make_mixer(kModel, "attention", {{"attn_drop", 0.5}});
  auto plain = rt::make_mixer(kModel, "attention");
  const auto x = random({2, 8, 64}, 13);
  dropped->eval();
  CHECK(rt::max_abs_diff(run(*dropped, *rope, x), run(*plain, *rope, x)) == 0.0);
  dropped->train();
  CHECK(rt::max_abs_diff(run(*dropped, *rope, x), run(*plain, *rope, x)) > 1e-4);
}

// ------------------------------------------------------------------ padding (docs/PADDING.md)

TEST_CASE("attention: left, right and middle padding change nothing at the real tokens, prefill and decode") {
  struct Case {
    const char* positional;
    Json params;
    Json model;
  };
  const std::vector<Case> cases = {
      {"rope", Json::object(), kModel},
      {"rope", {{"window", 3}}, kModel},
      {"rope", {{"window", 4}, {"window_mode", "dilated"}, {"window_dilation", 2}}, kModel},
      {"rope", {{"window", 3}, {"window_mode", "nsa"}, {"window_dilation", 3}}, kModel},
      {"rope", {{"latent_dim", 32}}, kModel},
      {"alibi", Json::object(), kModel},
      {"alibi", {{"window", 4}}, kModel},
      {"none", Json::object(), rt::model_section({{"n_kv_heads", 1}})},  // MQA: the grouped decode path
      {"rope", {{"attention_sinks", {{"n_per_head", 2}, {"learnable", true}}}}, kModel},
      {"alibi", {{"window", 4}, {"attention_sinks", {{"n_per_head", 1}, {"learnable", false}}}}, kModel},
  };
  for (const auto& c : cases) {
    CAPTURE(c.positional);
    CAPTURE(c.params.dump());
    auto positional = rt::make_positional(c.model, c.positional);
    auto mixer = rt::make_mixer(c.model, "attention", c.params);
    mixer->eval();
    const auto diffs = rt::mixer_padding_diffs(*mixer, *positional, random({3, 10, 64}, 21));
    CHECK(diffs.forward < 1e-5);
    CHECK(diffs.decode < 1e-5);
  }
}

TEST_CASE("attention: a padding token's output is finite, even where a row is all padding") {
  auto rope = rt::make_positional(kModel, "rope");
  auto mixer = rt::make_mixer(kModel, "attention", {{"window", 2}});
  at::NoGradGuard no_grad;
  auto input = rt::mixer_input(*rope, 0, 4);
  input.padding_mask = at::tensor({0, 0, 0, 0, 1, 0, 1, 1}).to(at::kBool).view({2, 4});
  input.positions = at::tensor({1, 1, 1, 1, 0, 1, 1, 2}, at::TensorOptions().dtype(at::kLong)).view({2, 4});
  CHECK(at::isfinite(mixer->forward(random({2, 4, 64}, 3), input)).all().item<bool>());
}

TEST_CASE("attention: a windowed cache keeps the oldest slot any row can still see") {
  auto rope = rt::make_positional(kModel, "rope");
  auto mixer = rt::make_mixer(kModel, "attention", {{"window", 3}});
  at::NoGradGuard no_grad;
  // Row 1 always has 8 real tokens (newest position 7): a later query sees its positions 6
  // and 7 (>= newest + 2 - window), slots 6 and 7. Row 0 has 2 real tokens at `slots`.
  auto cached_after = [&](std::int64_t first_real) {
    auto cache = mixer->new_cache();
    auto input = rt::mixer_input(*rope, 0, 8, cache.get());
    const auto real = at::ones({2, 8}, at::TensorOptions().dtype(at::kBool));
    real[0].fill_(false);
    real[0].narrow(0, first_real, 2).fill_(true);
    input.padding_mask = real;
    input.positions = (real.to(at::kLong).cumsum(1) - 1).masked_fill(real.logical_not(), 1);
    mixer->forward(random({2, 8, 64}, 4), input);
    return cache_length(*cache);
  };
  CHECK(cached_after(6) == 2);  // left padding: row 0 sees slots 6 and 7 too
  CHECK(cached_after(0) == 8);  // right padding: row 0 still sees slots 0 and 1, which hold the cache back
}

TEST_CASE("attention sinks: learnable sinks are a zero-initialised [H, n] parameter counted by the formula") {
  const Json params = {{"attention_sinks", {{"n_per_head", 3}, {"learnable", true}}}};
  auto mixer = rt::make_mixer(kModel, "attention", params);
  const auto p = mixer->named_parameters();
  REQUIRE(p.contains("sinks"));
  CHECK(p["sinks"].sizes().vec() == std::vector<std::int64_t>{4, 3});
  eulerstack::initialize_parameters(*mixer, 7);
  CHECK(p["sinks"].abs().max().item<double>() == 0.0);
  auto count = [](const Json& block_params) {
    return rt::formula_count(BlockKind::Mixer, kModel, rt::block_ir(BlockKind::Mixer, "attention", block_params));
  };
  CHECK(rt::parameter_count(*mixer) == count(params));
  CHECK(rt::parameter_count(*mixer) == rt::parameter_count(*rt::make_mixer(kModel, "attention")) + 4 * 3);
  // Fixed sinks add no parameter.
  const Json fixed = {{"attention_sinks", {{"n_per_head", 3}, {"learnable", false}}}};
  CHECK_FALSE(rt::make_mixer(kModel, "attention", fixed)->named_parameters().contains("sinks"));
  CHECK(count(fixed) == count(Json::object()));
}

TEST_CASE("attention sinks: the sink logits join the softmax (reference), for every positional scheme") {
  for (const char* scheme : {"rope", "alibi", "none"}) {
    CAPTURE(scheme);
    auto positional = rt::make_positional(kModel, scheme);
    auto learnable = rt::make_mixer(kModel, "attention", {{"attention_sinks", {{"n_per_head", 2}, {"learnable", true}}}});
    auto sinks = learnable->named_parameters()["sinks"];
    sinks.data().copy_(random({4, 2}, 5));
    const auto x = random({2, 9, 64}, 6);
    CHECK(relative_diff(run(*learnable, *positional, x), reference(*learnable, *positional, x, kCausal, 4, 2, sinks)) <
          1e-5);
    auto fixed = rt::make_mixer(kModel, "attention", {{"attention_sinks", {{"n_per_head", 3}, {"learnable", false}}}});
    CHECK(relative_diff(run(*fixed, *positional, x),
                        reference(*fixed, *positional, x, kCausal, 4, 2, at::zeros({4, 3}, at::kDouble))) < 1e-5);
  }
}

TEST_CASE("attention sinks: a dominant sink lets a query attend to nothing; a vanishing one changes nothing") {
  auto rope = rt::make_positional(kModel, "rope");
  auto mixer = rt::make_mixer(kModel, "attention", {{"attention_sinks", {{"n_per_head", 1}, {"learnable", true}}}});
  auto plain = rt::make_mixer(kModel, "attention");
  for (const auto& item : plain->named_parameters()) item.value().data().copy_(mixer->named_parameters()[item.key()]);
  const auto x = random({1, 6, 64}, 8);
  auto sinks = mixer->named_parameters()["sinks"];
  sinks.data().fill_(-1e4);
  CHECK(relative_diff(run(*mixer, *rope, x), run(*plain, *rope, x)) < 1e-6);
  sinks.data().fill_(1e4);
  CHECK(run(*mixer, *rope, x).abs().max().item<double>() < 1e-6);
}

TEST_CASE("attention sinks: prefill + steps equal the full forward, global and windowed") {
  auto rope = rt::make_positional(kModel, "rope");
  for (const Json& extra : {Json::object(), Json{{"window", 4}}}) {
    Json params = extra;
    params["attention_sinks"] = {{"n_per_head", 2}, {"learnable", true}};
    auto mixer = rt::make_mixer(kModel, "attention", params);
    mixer->named_parameters()["sinks"].data().copy_(random({4, 2}, 9));
    check_decoding(*mixer, *rope, 13, 5);
    check_decoding(*mixer, *rope, 13, 4, 3);
  }
}
