// The retnet mixer: parameter layout and count, the agreement of its parallel,
// chunkwise and recurrent forms, decoding with a cache, causality, its own
// position rotation, per-head decays, dtypes and gradients.

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>

#include "padding_support.hpp"
#include "support.hpp"

namespace {

using eulerstack::BlockKind;
using eulerstack::LayerCache;
using eulerstack::MixerModule;
using rt::Json;

// The model's positional scheme; retnet must not use it (it rotates by itself).
struct SpyPositional : eulerstack::PositionalModule {
  int calls = 0;
  at::Tensor embed(const at::Tensor&) override { ++calls; return {}; }
  std::pair<at::Tensor, at::Tensor> rotate(const at::Tensor& q, const at::Tensor& k, const at::Tensor&) override {
    ++calls;
    return {q, k};
  }
  at::Tensor attention_bias(std::int64_t, const at::Tensor&, const at::Tensor&) override { ++calls; return {}; }
};

at::Tensor inputs(std::int64_t batch, std::int64_t tokens, std::int64_t d, std::uint64_t seed = 3) {
  auto generator = at::detail::createCPUGenerator(seed);
  return at::randn({batch, tokens, d}, generator, at::TensorOptions().dtype(at::kFloat));
}

// Scales every weight so that q.k is of order one (init_std 0.02 leaves the
// retention scores near zero, which would hide differences between forms).
void sharpen(MixerModule& module, double factor = 5.0) {
  at::NoGradGuard no_grad;
  for (auto& p : module.parameters()) p.mul_(factor);
}

std::shared_ptr<MixerModule> retnet(const Json& params, const Json& model = rt::model_section()) {
  auto module = rt::make_mixer(model, "retnet", params);
  sharpen(*module);
  return module;
}

at::Tensor full(MixerModule& module, const at::Tensor& x, std::int64_t offset = 0) {
  SpyPositional positional;
  return module.forward(x, rt::mixer_input(positional, offset, x.size(1)));
}

// Feeds x through one cache in calls of `pieces` tokens, then one token at a time.
at::Tensor cached(MixerModule& module, const at::Tensor& x, const std::vector<std::int64_t>& pieces = {}) {
  SpyPositional positional;
  auto cache = module.new_cache();
  std::vector<at::Tensor> outputs;
  std::int64_t done = 0;
  auto feed = [&](std::int64_t length) {
    outputs.push_back(
        module.forward(x.narrow(1, done, length), rt::mixer_input(positional, done, length, cache.get())));
    done += length;
  };
  for (auto length : pieces) feed(length);
  while (done < x.size(1)) feed(1);
  return at::cat(outputs, 1);
}

// max |a - b| relative to max |reference|.
double relative_diff(const at::Tensor& a, const at::Tensor& reference) {
  return rt::max_abs_diff(a, reference) / reference.to(at::kFloat).abs().max().item<double>();
}

at::Tensor parameter(MixerModule& module, const std::string& name) {
  for (const auto& item : module.named_parameters())
    if (item.key() == name) return item.value();
  FAIL("no parameter " << name);
  return {};
}

double silu(double x) { return x / (1.0 + std::exp(-x)); }

// The block written out token by token in double precision: the rotation pair
// by pair, retention as a sum over earlier tokens, then the per-head layer
// norm, the gate and o_proj. x [1, T, d], positions start at `offset`.
at::Tensor naive_retnet(MixerModule& module, const at::Tensor& x, std::int64_t heads, bool rope, std::int64_t offset) {
  auto weight = [&](const char* name) { return parameter(module, name).detach().to(at::kDouble); };
  const at::Tensor xd = x[0].to(at::kDouble);  // [T, d]
  const std::int64_t T = xd.size(0), d = xd.size(1);
  const at::Tensor q = at::matmul(xd, weight("q_proj.weight").t());
  const at::Tensor k = at::matmul(xd, weight("k_proj.weight").t());
  const at::Tensor v = at::matmul(xd, weight("v_proj.weight").t());
  const at::Tensor g = at::matmul(xd, weight("g_proj.weight").t());
  const at::Tensor wo = weight("o_proj.weight");
  const std::int64_t dk = d / heads, dv = v.size(1) / heads;

  auto head = [&](const at::Tensor& t, std::int64_t h, std::int64_t n, std::int64_t width) {
    const auto a = t.accessor<double, 2>();
    std::vector<double> out(width);
    for (std::int64_t c = 0; c < width; ++c) out[c] = a[n][h * width + c];
    return out;
  };
  auto rotated = [&](std::vector<double> u, std::int64_t n) {
    if (!rope) return u;
    const double p = static_cast<double>(offset + n);
    for (std::int64_t i = 0; i < dk / 2; ++i) {
      const double angle = p * std::pow(10000.0, -2.0 * static_cast<double>(i) / static_cast<double>(dk));
      const double a = u[2 * i], b = u[2 * i + 1];
      u[2 * i] = a * std::cos(angle) - b * std::sin(angle);
      u[2 * i + 1] = b * std::cos(angle) + a * std::sin(angle);
    }
    return u;
  };

  at::Tensor gated = at::zeros({T, v.size(1)}, at::TensorOptions().dtype(at::kDouble));
  auto gated_a = gated.accessor<double, 2>();
  const auto g_a = g.accessor<double, 2>();
  for (std::int64_t h = 0; h < heads; ++h) {
    const double gamma = 1.0 - std::pow(2.0, -5.0 - static_cast<double>(h));
    for (std::int64_t n = 0; n < T; ++n) {
      const auto qn = rotated(head(q, h, n, dk), n);
      std::vector<double> o(dv, 0.0);
      for (std::int64_t m = 0; m <= n; ++m) {
        const auto km = rotated(head(k, h, m, dk), m);
        double score = 0;
        for (std::int64_t c = 0; c < dk; ++c) score += qn[c] * km[c];
        score *= std::pow(gamma, static_cast<double>(n - m)) / std::sqrt(static_cast<double>(dk));
        const auto vm = head(v, h, m, dv);
        for (std::int64_t c = 0; c < dv; ++c) o[c] += score * vm[c];
      }
      double mean = 0, var = 0;
      for (double value : o) mean += value / static_cast<double>(dv);
      for (double value : o) var += (value - mean) * (value - mean) / static_cast<double>(dv);
      for (std::int64_t c = 0; c < dv; ++c)
        gated_a[n][h * dv + c] = silu(g_a[n][h * dv + c]) * (o[c] - mean) / std::sqrt(var + 1e-5);
    }
  }
  return at::matmul(gated, wo.t()).unsqueeze(0);
}

}  // namespace

TEST_CASE("retnet: parameters are named as documented and counted by the plugin formula") {
  struct Case {
    Json model;
    std::int64_t value_factor;
  };
  const std::vector<Case> cases = {{rt::model_section(), 1},
                                   {rt::model_section(), 2},
                                   {rt::model_section({{"d_model", 48}, {"n_heads", 3}, {"n_kv_heads", 3}}), 2},
                                   {rt::model_section({{"d_model", 32}, {"n_heads", 8}, {"n_kv_heads", 8}}), 3}};
  for (const auto& c : cases) {
    const Json params = {{"value_factor", c.value_factor}};
    auto module = rt::make_mixer(c.model, "retnet", params);
    const auto d = c.model["d_model"].get<std::int64_t>(), value = c.value_factor * d;
    std::map<std::string, std::vector<std::int64_t>> shapes;
    for (const auto& item : module->named_parameters())
      shapes[item.key()] = std::vector<std::int64_t>(item.value().sizes().begin(), item.value().sizes().end());
    const std::map<std::string, std::vector<std::int64_t>> expected = {{"q_proj.weight", {d, d}},
                                                                       {"k_proj.weight", {d, d}},
                                                                       {"v_proj.weight", {value, d}},
                                                                       {"g_proj.weight", {value, d}},
                                                                       {"o_proj.weight", {d, value}}};
    CHECK(shapes == expected);
    CHECK(rt::parameter_count(*module) == rt::formula_count(BlockKind::Mixer, c.model, rt::block_ir(BlockKind::Mixer, "retnet", params)));
  }
}

TEST_CASE("retnet: parallel, chunkwise and recurrent forms give the same outputs") {
  const at::Tensor x = inputs(2, 19, 64);
  for (bool rope : {true, false}) {
    CAPTURE(rope);
    const at::Tensor parallel = full(*retnet({{"chunkwise", false}, {"rope", rope}}), x);
    for (std::int64_t chunk : {1, 2, 4, 5, 7, 8, 16, 18}) {
      CAPTURE(chunk);
      auto module = retnet({{"chunkwise", true}, {"chunk_size", chunk}, {"rope", rope}});
      CHECK(relative_diff(full(*module, x), parallel) < 2e-5);
    }
    // A cache fed one token at a time runs the recurrent form.
    CHECK(relative_diff(cached(*retnet({{"chunkwise", false}, {"rope", rope}}), x), parallel) < 2e-5);
  }
}

TEST_CASE("retnet: full forward equals prefill plus single steps") {
  const at::Tensor x = inputs(2, 23, 64, 5);
  for (bool rope : {true, false}) {
    for (std::int64_t chunk : {4, 64}) {
      CAPTURE(rope);
      CAPTURE(chunk);
      auto module = retnet({{"chunk_size", chunk}, {"rope", rope}});
      const at::Tensor reference = full(*module, x);
      CHECK(relative_diff(cached(*module, x, {9}), reference) < 2e-5);
      CHECK(relative_diff(cached(*module, x, {1}), reference) < 2e-5);
      // Chunked prefill: multi-token calls that continue a state.
      CHECK(relative_diff(cached(*module, x, {6, 7, 5}), reference) < 2e-5);
    }
  }
}

TEST_CASE("retnet: a token affects only itself and later tokens") {
  const at::Tensor x = inputs(1, 16, 64);
  at::Tensor changed = x.clone();
  changed.narrow(1, 9, 1).add_(1.0);
  for (bool chunkwise : {false, true}) {
    CAPTURE(chunkwise);
    auto module = retnet({{"chunkwise", chunkwise}, {"chunk_size", 4}});
    const at::Tensor a = full(*module, x), b = full(*module, changed);
    CHECK(rt::max_abs_diff(a.narrow(1, 0, 9), b.narrow(1, 0, 9)) == 0.0);
    for (std::int64_t t = 9; t < 16; ++t) {
      CAPTURE(t);
      CHECK(rt::max_abs_diff(a.narrow(1, t, 1), b.narrow(1, t, 1)) > 1e-4);
    }
  }
}

TEST_CASE("retnet: matches a naive token-by-token reference, with its own rotation") {
  const at::Tensor x = inputs(1, 12, 64, 11);
  for (bool rope : {true, false}) {
    CAPTURE(rope);
    auto module = retnet({{"rope", rope}, {"value_factor", 2}, {"chunk_size", 5}});
    SpyPositional positional;
    const at::Tensor out = module->forward(x, rt::mixer_input(positional, 3, 12));
    CHECK(positional.calls == 0);
    CHECK(relative_diff(out, naive_retnet(*module, x, 4, rope, 3)) < 1e-5);
  }
}

TEST_CASE("retnet: rope depends on relative positions only, and matters") {
  const at::Tensor x = inputs(1, 12, 64);
  auto module = retnet({{"rope", true}});
  const at::Tensor at_zero = full(*module, x);
  CHECK(relative_diff(full(*module, x, 100), at_zero) < 1e-4);
  CHECK(relative_diff(full(*retnet({{"rope", false}}), x), at_zero) > 1e-2);
}

TEST_CASE("retnet: the decay of head h is 1 - 2^(-5-h)") {
  // Weights that make every head retain the constant 1 in channel 0 and a
  // first-token marker in channel 1: o_t = (sum_{j<=t} gamma^j, gamma^t, 0, ...).
  // The layer norm and the gate are affine per head, so the ratio
  // (out_0 - out_2) / (out_1 - out_2) = o_0 / o_1 survives them.
  const std::int64_t heads = 8, d = 128, dk = d / heads, T = 6;
  const Json model = rt::model_section({{"d_model", d}, {"n_heads", heads}, {"n_kv_heads", heads}});
  auto module = rt::make_mixer(model, "retnet", {{"rope", false}, {"value_factor", 1}});
  {
    at::NoGradGuard no_grad;
    for (auto& p : module->parameters()) p.zero_();
    at::Tensor q = parameter(*module, "q_proj.weight"), k = parameter(*module, "k_proj.weight");
    at::Tensor v = parameter(*module, "v_proj.weight"), g = parameter(*module, "g_proj.weight");
    for (std::int64_t h = 0; h < heads; ++h) {
      q[h * dk][0].fill_(1.0);
      k[h * dk][0].fill_(std::sqrt(static_cast<double>(dk)));  // cancels the dk^-0.5 scale
      v[h * dk][0].fill_(1.0);
      v[h * dk + 1][1].fill_(1.0);
    }
    g.select(1, 0).fill_(1.0);
    parameter(*module, "o_proj.weight").copy_(at::eye(d));
  }
  at::Tensor x = at::zeros({1, T, d});
  x.select(2, 0).fill_(1.0);
  x[0][0][1].fill_(1.0);
  const at::Tensor out = full(*module, x).to(at::kDouble)[0];  // [T, d]
  for (std::int64_t h = 0; h < heads; ++h) {
    CAPTURE(h);
    const double expected = 1.0 - std::pow(2.0, -5.0 - static_cast<double>(h));
    auto ratio = [&](std::int64_t t) {
      const double zero = out[t][h * dk + 2].item<double>();
      return (out[t][h * dk].item<double>() - zero) / (out[t][h * dk + 1].item<double>() - zero);
    };
    // At t = 1 the ratio is (1 + gamma) / gamma.
    CHECK(1.0 / (ratio(1) - 1.0) == doctest::Approx(expected).epsilon(1e-5));
    double sum = 0;
    for (std::int64_t j = 0; j < T; ++j) sum += std::pow(expected, -static_cast<double>(j));
    CHECK(ratio(T - 1) == doctest::Approx(sum).epsilon(1e-5));
  }
}

TEST_CASE("retnet: bfloat16 runs and stays close to float32") {
  const Json model = rt::model_section();
  const Json params = {{"chunk_size", 4}, {"value_factor", 2}};
  const Json ir = rt::block_ir(BlockKind::Mixer, "retnet", params);
  auto half = rt::catalog().make_mixer(ir, rt::module_context(model, 2, at::kBFloat16));
  eulerstack::initialize_parameters(*half, 7);
  sharpen(*half);
  auto single = retnet(params, model);
  const at::Tensor x = inputs(2, 13, 64);
  const at::Tensor out = full(*half, x.to(at::kBFloat16));
  CHECK((out.scalar_type() == at::kBFloat16));
  CHECK(out.isfinite().all().item<bool>());
  CHECK(relative_diff(out, full(*single, x)) < 5e-2);
  const at::Tensor decoded = cached(*half, x.to(at::kBFloat16), {5});
  CHECK((decoded.scalar_type() == at::kBFloat16));
  CHECK(relative_diff(decoded, out) < 5e-2);
}

TEST_CASE("retnet: backward gives finite gradients to every parameter") {
  for (bool chunkwise : {false, true}) {
    CAPTURE(chunkwise);
    auto module = retnet({{"chunkwise", chunkwise}, {"chunk_size", 3}, {"value_factor", 2}});
    module->train();
    const at::Tensor x = inputs(2, 10, 64);
    full(*module, x).pow(2).sum().backward();
    for (const auto& item : module->named_parameters()) {
      CAPTURE(item.key());
      const at::Tensor grad = item.value().grad();
      REQUIRE(grad.defined());
      CHECK(grad.isfinite().all().item<bool>());
      CHECK(grad.abs().max().item<double>() > 0.0);
    }
  }
}

// ------------------------------------------------------------------ padding (docs/PADDING.md)

TEST_CASE("retnet: left, right and middle padding change nothing at the real tokens, in every form") {
  SpyPositional positional;
  const at::Tensor x = inputs(3, 10, 64, 8);
  for (const Json& params : {Json{{"chunkwise", false}}, Json{{"chunkwise", true}, {"chunk_size", 3}},
                             Json{{"rope", false}, {"chunk_size", 4}}}) {
    CAPTURE(params.dump());
    auto module = retnet(params);
    const auto diffs = rt::mixer_padding_diffs(*module, positional, x);
    CHECK(diffs.forward < 1e-4);
    CHECK(diffs.decode < 1e-4);  // the recurrent form after a padded prefill
  }
}

TEST_CASE("retnet: a recurrent step whose token is padding leaves that row's state unchanged") {
  SpyPositional positional;
  auto module = retnet({{"chunkwise", false}});
  at::NoGradGuard no_grad;
  const at::Tensor x = inputs(2, 5, 64, 9), steps = inputs(2, 2, 64, 10);
  auto padded = module->new_cache(), plain = module->new_cache();
  module->forward(x, rt::mixer_input(positional, 0, 5, padded.get()));
  module->forward(x, rt::mixer_input(positional, 0, 5, plain.get()));
  auto input = rt::mixer_input(positional, 5, 1, padded.get());
  input.padding_mask = at::tensor({0, 1}).to(at::kBool).view({2, 1});
  module->forward(steps.narrow(1, 0, 1), input);
  auto next = rt::mixer_input(positional, 5, 1, padded.get());
  next.positions = at::tensor({5, 6}, at::TensorOptions().dtype(at::kLong)).view({2, 1});
  const at::Tensor after = module->forward(steps.narrow(1, 1, 1), next);
  const at::Tensor expected = module->forward(steps.narrow(1, 1, 1), rt::mixer_input(positional, 5, 1, plain.get()));
  CHECK(rt::max_abs_diff(after[0], expected[0]) < 1e-5);
}
