// The mamba mixer modules (plugins/mixers/mamba): Mamba2 (chunked SSD) and
// Mamba1 (selective scan), checked against naive float64 references written
// here from the HF / mamba_ssm definitions.

#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include "padding_support.hpp"
#include "support.hpp"

namespace {

using eulerstack::LayerCache;
using eulerstack::MixerModule;
using rt::Json;

// Mamba ignores positions; the interface still wants a scheme.
struct NoPositional : eulerstack::PositionalModule {};

at::Tensor run(MixerModule& m, const at::Tensor& x, std::int64_t offset, LayerCache* cache = nullptr) {
  static NoPositional positional;
  return m.forward(x, rt::mixer_input(positional, offset, x.size(1), cache));
}

// max |a - ref| relative to max |ref|.
double rel_diff(const at::Tensor& a, const at::Tensor& ref) {
  return rt::max_abs_diff(a, ref) / ref.to(at::kFloat).abs().max().item<double>();
}

at::Tensor param(MixerModule& m, const std::string& name) {
  return m.named_parameters()[name].detach().to(at::kDouble);
}

at::Tensor random_input(std::int64_t batch, std::int64_t tokens, std::int64_t d, std::uint64_t seed) {
  at::manual_seed(seed);
  return 3.0 * at::randn({batch, tokens, d});
}

// With the initial dt (1e-3..1e-1) and D = 1 the skip term dominates the
// output; larger steps and smaller skips make the scan visible in every test.
void stress_scan(MixerModule& m) {
  at::NoGradGuard no_grad;
  at::manual_seed(1234);
  for (auto& p : m.named_parameters()) {
    if (p.key() == "dt_bias" || p.key() == "dt_proj.bias") p.value().uniform_(-3.0, 1.0);
    if (p.key() == "D") p.value().uniform_(-0.2, 0.2);
  }
}

std::shared_ptr<MixerModule> make_stressed(const Json& model, const Json& params) {
  auto m = rt::make_mixer(model, "mamba", params);
  stress_scan(*m);
  return m;
}

Json mamba2(std::int64_t groups, std::int64_t chunk, std::int64_t head_dim = 32) {
  return {{"variant", "mamba2"}, {"head_dim", head_dim}, {"n_groups", groups}, {"d_state", 16}, {"chunk_size", chunk}};
}

Json mamba1() { return {{"variant", "mamba1"}, {"d_state", 8}}; }

// out[t] = bias + sum_k w[k] x[t - (K-1) + k], by index.
at::Tensor naive_causal_conv(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias) {
  const std::int64_t T = x.size(1), K = w.size(2);
  at::Tensor out = bias.expand({x.size(0), T, x.size(2)}).clone();
  for (std::int64_t t = 0; t < T; ++t)
    for (std::int64_t k = 0; k < K; ++k) {
      const std::int64_t src = t - (K - 1) + k;
      if (src >= 0) out.select(1, t) += w.select(2, k).squeeze(1) * x.select(1, src);
    }
  return out;
}

// Mamba2 token by token, head by head: state = exp(dt A) state + dt x ⊗ B, y = state C + D x.
at::Tensor naive_mamba2(MixerModule& m, const at::Tensor& x, std::int64_t head_dim, std::int64_t groups,
                        std::int64_t n) {
  const std::int64_t b = x.size(0), T = x.size(1);
  const std::int64_t di = param(m, "out_proj.weight").size(1), h = di / head_dim, gn = groups * n;
  const at::Tensor proj = at::matmul(x.to(at::kDouble), param(m, "in_proj.weight").t());
  const at::Tensor z = proj.narrow(-1, 0, di);
  const at::Tensor xBC = at::silu(
      naive_causal_conv(proj.narrow(-1, di, di + 2 * gn), param(m, "conv1d.weight"), param(m, "conv1d.bias")));
  const at::Tensor xs = xBC.narrow(-1, 0, di), B = xBC.narrow(-1, di, gn), C = xBC.narrow(-1, di + gn, gn);
  const at::Tensor dt = at::softplus(proj.narrow(-1, 2 * di + 2 * gn, h) + param(m, "dt_bias"));
  const at::Tensor A = -at::exp(param(m, "A_log")), D = param(m, "D");

  at::Tensor y = at::zeros({b, T, di}, at::kDouble);
  for (std::int64_t head = 0; head < h; ++head) {
    const std::int64_t group = head / (h / groups);
    at::Tensor state = at::zeros({b, head_dim, n}, at::kDouble);
    for (std::int64_t t = 0; t < T; ++t) {
      const at::Tensor xt = xs.select(1, t).narrow(-1, head * head_dim, head_dim);  // [b, p]
      const at::Tensor Bt = B.select(1, t).narrow(-1, group * n, n);
      const at::Tensor Ct = C.select(1, t).narrow(-1, group * n, n);
      const at::Tensor dtt = dt.select(1, t).select(-1, head).unsqueeze(-1);       // [b, 1]
      state = at::exp(dtt * A[head]).unsqueeze(-1) * state + (dtt * xt).unsqueeze(-1) * Bt.unsqueeze(1);
      y.select(1, t).narrow(-1, head * head_dim, head_dim) += (state * Ct.unsqueeze(1)).sum(-1) + D[head] * xt;
    }
  }
  at::Tensor gated = (y * at::silu(z)).reshape({b, T, groups, di / groups});
  gated = (gated * at::rsqrt(gated.pow(2).mean(-1, true) + 1e-5)).reshape({b, T, di}) * param(m, "norm.weight");
  return at::matmul(gated, param(m, "out_proj.weight").t());
}

// Mamba1 in closed form, no recurrence:
// y_t[c] = sum_{s<=t} sum_n C_t[n] exp(A[c,n] sum_{s<j<=t} dt_j[c]) B_s[n] dt_s[c] x_s[c].
at::Tensor naive_mamba1(MixerModule& m, const at::Tensor& x) {
  const std::int64_t b = x.size(0), T = x.size(1);
  const std::int64_t di = param(m, "out_proj.weight").size(1), n = param(m, "A_log").size(1);
  const std::int64_t r = param(m, "dt_proj.weight").size(1);
  const at::Tensor proj = at::matmul(x.to(at::kDouble), param(m, "in_proj.weight").t());
  const at::Tensor z = proj.narrow(-1, di, di);
  const at::Tensor xs =
      at::silu(naive_causal_conv(proj.narrow(-1, 0, di), param(m, "conv1d.weight"), param(m, "conv1d.bias")));
  const at::Tensor dbc = at::matmul(xs, param(m, "x_proj.weight").t());
  const at::Tensor B = dbc.narrow(-1, r, n), C = dbc.narrow(-1, r + n, n);
  const at::Tensor dt = at::softplus(at::matmul(dbc.narrow(-1, 0, r), param(m, "dt_proj.weight").t()) +
                                     param(m, "dt_proj.bias"));
  const at::Tensor A = -at::exp(param(m, "A_log"));
  const at::Tensor cum = dt.cumsum(1);

  at::Tensor y = at::zeros({b, T, di}, at::kDouble);
  for (std::int64_t t = 0; t < T; ++t)
    for (std::int64_t s = 0; s <= t; ++s) {
      const at::Tensor decay = at::exp((cum.select(1, t) - cum.select(1, s)).unsqueeze(-1) * A);  // [b, di, N]
      const at::Tensor cb = (B.select(1, s) * C.select(1, t)).unsqueeze(1);                       // [b, 1, N]
      y.select(1, t) += (decay * cb).sum(-1) * dt.select(1, s) * xs.select(1, s);
    }
  y = (y + param(m, "D") * xs) * at::silu(z);
  return at::matmul(y, param(m, "out_proj.weight").t());
}

// Runs `x` through a fresh cache in the given call lengths (the rest one token at a time).
at::Tensor run_with_cache(MixerModule& m, const at::Tensor& x, const std::vector<std::int64_t>& calls) {
  auto cache = m.new_cache();
  std::vector<at::Tensor> outs;
  std::int64_t offset = 0;
  for (std::int64_t len : calls) {
    outs.push_back(run(m, x.narrow(1, offset, len), offset, cache.get()));
    offset += len;
  }
  for (; offset < x.size(1); ++offset) outs.push_back(run(m, x.narrow(1, offset, 1), offset, cache.get()));
  return at::cat(outs, 1);
}

}  // namespace

TEST_CASE("mamba: the parameter count equals the plugin's formula") {
  struct Case {
    std::int64_t d_model;
    Json params;
  };
  const std::vector<Case> cases = {
      {64, {{"variant", "mamba2"}}},
      {64, {{"variant", "mamba2"}, {"expand", 1}, {"head_dim", 16}, {"n_groups", 2}, {"d_state", 8}}},
      {64, {{"variant", "mamba2"}, {"expand", 3}, {"head_dim", 48}, {"n_groups", 4}, {"d_state", 32}, {"d_conv", 2}}},
      {48, {{"variant", "mamba2"}, {"expand", 2}, {"head_dim", 8}, {"n_groups", 3}, {"d_state", 5}, {"d_conv", 1}}},
      {64, {{"variant", "mamba1"}}},
      {40, {{"variant", "mamba1"}, {"expand", 1}, {"d_state", 4}, {"d_conv", 2}}},
      {17, {{"variant", "mamba1"}, {"expand", 3}, {"d_state", 16}}},
  };
  for (const auto& c : cases) {
    CAPTURE(c.d_model);
    CAPTURE(c.params.dump());
    const Json model = rt::model_section({{"d_model", c.d_model}});
    auto m = rt::make_mixer(model, "mamba", c.params);
    CHECK(rt::parameter_count(*m) ==
          rt::formula_count(rt::BlockKind::Mixer, model, rt::block_ir(rt::BlockKind::Mixer, "mamba", c.params)));
  }
}

TEST_CASE("mamba: parameters carry the HF Mamba / Mamba2 names and shapes") {
  const Json model = rt::model_section();  // d 64
  using Shapes = std::map<std::string, std::vector<std::int64_t>>;
  // di 128, h 4, g 2, N 16, K 4: conv channels 128 + 64.
  const Shapes m2 = {{"in_proj.weight", {2 * 128 + 64 + 4, 64}}, {"conv1d.weight", {192, 1, 4}},
                     {"conv1d.bias", {192}}, {"dt_bias", {4}}, {"A_log", {4}}, {"D", {4}},
                     {"norm.weight", {128}}, {"out_proj.weight", {64, 128}}};
  // di 128, N 8, r 4.
  const Shapes m1 = {{"in_proj.weight", {256, 64}}, {"conv1d.weight", {128, 1, 4}}, {"conv1d.bias", {128}},
                     {"x_proj.weight", {4 + 16, 128}}, {"dt_proj.weight", {128, 4}}, {"dt_proj.bias", {128}},
                     {"A_log", {128, 8}}, {"D", {128}}, {"out_proj.weight", {64, 128}}};
  for (const auto& [params, expected] : {std::pair{mamba2(2, 16), m2}, std::pair{mamba1(), m1}}) {
    auto m = rt::make_mixer(model, "mamba", params);
    Shapes actual;
    for (const auto& p : m->named_parameters()) actual[p.key()] = p.value().sizes().vec();
    CHECK((actual == expected));
  }
}

TEST_CASE("mamba: initialisation follows the documented rules") {
  const Json model = rt::model_section();
  auto m2 = rt::make_mixer(model, "mamba", mamba2(1, 16));
  const at::Tensor dt2 = at::softplus(param(*m2, "dt_bias"));
  CHECK(dt2.min().item<double>() >= 1e-3 * (1 - 1e-5));
  CHECK(dt2.max().item<double>() <= 1e-1 * (1 + 1e-5));
  const at::Tensor decay = at::exp(param(*m2, "A_log"));
  CHECK(decay.min().item<double>() >= 1.0 - 1e-6);
  CHECK(decay.max().item<double>() <= 16.0 + 1e-5);
  CHECK(param(*m2, "D").eq(1).all().item<bool>());
  CHECK(param(*m2, "norm.weight").eq(1).all().item<bool>());
  CHECK(param(*m2, "conv1d.bias").eq(0).all().item<bool>());
  CHECK(param(*m2, "conv1d.weight").abs().max().item<double>() <= 0.5);  // 1/sqrt(K), K = 4
  // 2 layers: out_proj std 0.02 / 2, in_proj 0.02.
  CHECK(param(*m2, "in_proj.weight").std().item<double>() == doctest::Approx(0.02).epsilon(0.05));
  CHECK(param(*m2, "out_proj.weight").std().item<double>() == doctest::Approx(0.01).epsilon(0.05));

  auto m1 = rt::make_mixer(model, "mamba", mamba1());
  const at::Tensor expected_a = at::arange(1, 9, at::kDouble).log().expand({128, 8});
  CHECK(rt::max_abs_diff(param(*m1, "A_log"), expected_a) < 1e-6);
  const at::Tensor dt1 = at::softplus(param(*m1, "dt_proj.bias"));
  CHECK(dt1.min().item<double>() >= 1e-3 * (1 - 1e-5));
  CHECK(dt1.max().item<double>() <= 1e-1 * (1 + 1e-5));
  CHECK(param(*m1, "dt_proj.weight").abs().max().item<double>() <= 0.5);  // r = 4
  CHECK(param(*m1, "D").eq(1).all().item<bool>());
}

TEST_CASE("mamba2: the chunked SSD equals the naive per-token recurrence") {
  const Json model = rt::model_section();
  for (std::int64_t groups : {1, 2, 4}) {
    for (std::int64_t tokens : {5, 16, 37}) {
      CAPTURE(groups);
      CAPTURE(tokens);
      auto m = make_stressed(model, mamba2(groups, 16));
      const at::Tensor x = random_input(2, tokens, 64, 11 + tokens);
      const at::Tensor ref = naive_mamba2(*m, x, 32, groups, 16);
      CHECK(rel_diff(run(*m, x, 0), ref) < 1e-5);
    }
  }
}

TEST_CASE("mamba2: the chunked SSD continues from a nonzero initial state") {
  // The second call (21 tokens, chunks of 8: a partial last chunk) starts from the state of the first.
  const Json model = rt::model_section();
  for (std::int64_t groups : {1, 2}) {
    CAPTURE(groups);
    auto m = make_stressed(model, mamba2(groups, 8));
    const at::Tensor x = random_input(2, 30, 64, 5);
    auto cache = m->new_cache();
    const at::Tensor first = run(*m, x.narrow(1, 0, 9), 0, cache.get());
    const at::Tensor second = run(*m, x.narrow(1, 9, 21), 9, cache.get());
    CHECK(rel_diff(at::cat({first, second}, 1), naive_mamba2(*m, x, 32, groups, 16)) < 1e-5);
  }
}

TEST_CASE("mamba2: a long prompt, scanned a few chunks at a time, equals the naive recurrence") {
  // Chunks of 256 with 16 heads at batch 2 hold 8 MiB of decay each; ssd.cpp's 16 MiB blocks take two
  // chunks, so 1100 tokens go through three blocks (the last one partial), the state carried between.
  auto m = make_stressed(rt::model_section(), mamba2(2, 256, 8));
  const at::Tensor x = random_input(2, 1100, 64, 9);
  CHECK(rel_diff(run(*m, x, 0), naive_mamba2(*m, x, 8, 2, 16)) < 1e-5);
}

TEST_CASE("mamba2: the output does not depend on chunk_size") {
  const Json model = rt::model_section();
  const at::Tensor x = random_input(2, 300, 64, 3);
  const at::Tensor ref = run(*make_stressed(model, mamba2(2, 256)), x, 0);
  for (std::int64_t chunk : {1, 7, 64}) {
    CAPTURE(chunk);
    CHECK(rel_diff(run(*make_stressed(model, mamba2(2, chunk)), x, 0), ref) < 1e-5);
  }
}

TEST_CASE("mamba: a full forward equals prefill plus single-token steps") {
  const Json model = rt::model_section();
  // Without autograd a Mamba2 step updates its cached state in place.
  for (bool grad : {true, false})
  for (const Json& params : {mamba2(1, 8), mamba2(2, 8), mamba1()}) {
    CAPTURE(grad);
    CAPTURE(params.dump());
    const at::AutoGradMode mode(grad);
    auto m = make_stressed(model, params);
    const at::Tensor x = random_input(2, 24, 64, 9);
    const at::Tensor full = run(*m, x, 0);
    CHECK(rel_diff(run_with_cache(*m, x, {11}), full) < 1e-5);     // prefill, then steps
    CHECK(rel_diff(run_with_cache(*m, x, {6, 10}), full) < 1e-5);  // chunked prefill of 2 calls, then steps
    CHECK(rel_diff(run_with_cache(*m, x, {1, 1, 2}), full) < 1e-5);  // steps before a multi-token call
  }
}

TEST_CASE("mamba: outputs depend only on earlier tokens") {
  const Json model = rt::model_section();
  for (const Json& params : {mamba2(2, 8), mamba1()}) {
    CAPTURE(params.dump());
    auto m = make_stressed(model, params);
    const at::Tensor x = random_input(1, 20, 64, 4);
    at::Tensor changed = x.clone();
    changed.narrow(1, 13, 7) += at::randn({1, 7, 64});
    const at::Tensor a = run(*m, x, 0), b = run(*m, changed, 0);
    CHECK(rt::max_abs_diff(a.narrow(1, 0, 13), b.narrow(1, 0, 13)) == 0.0);
    CHECK(rel_diff(b.narrow(1, 13, 7), a.narrow(1, 13, 7)) > 1e-2);
  }
}

TEST_CASE("mamba: a bfloat16 forward runs and is close to float32") {
  const Json model = rt::model_section();
  for (const Json& params : {mamba2(2, 8), mamba1()}) {
    CAPTURE(params.dump());
    const Json block = rt::block_ir(rt::BlockKind::Mixer, "mamba", params);
    auto f32 = rt::catalog().make_mixer(block, rt::module_context(model, 2, at::kFloat));
    auto bf16 = rt::catalog().make_mixer(block, rt::module_context(model, 2, at::kBFloat16));
    eulerstack::initialize_parameters(*f32, 7);
    stress_scan(*f32);
    {
      at::NoGradGuard no_grad;
      for (auto& p : bf16->named_parameters()) p.value().copy_(f32->named_parameters()[p.key()]);
    }
    const at::Tensor x = random_input(2, 19, 64, 2);
    const at::Tensor low = run(*bf16, x.to(at::kBFloat16), 0);
    CHECK((low.scalar_type() == at::kBFloat16));
    CHECK(rel_diff(low, run(*f32, x, 0)) < 3e-2);
    auto cache = bf16->new_cache();  // the cached path too
    run(*bf16, x.narrow(1, 0, 18).to(at::kBFloat16), 0, cache.get());
    CHECK((run(*bf16, x.narrow(1, 18, 1).to(at::kBFloat16), 18, cache.get()).scalar_type() == at::kBFloat16));
  }
}

TEST_CASE("mamba: backward gives finite gradients for every parameter") {
  const Json model = rt::model_section();
  for (const Json& params : {mamba2(2, 8), mamba1()}) {
    CAPTURE(params.dump());
    auto m = make_stressed(model, params);
    m->train();
    const at::Tensor x = random_input(2, 21, 64, 8).requires_grad_();
    const at::Tensor out = run(*m, x, 0);
    (out * at::randn_like(out)).sum().backward();
    for (const auto& p : m->named_parameters()) {
      CAPTURE(p.key());
      const at::Tensor g = p.value().grad();
      REQUIRE(g.defined());
      CHECK(at::isfinite(g).all().item<bool>());
      CHECK(g.abs().sum().item<double>() > 0.0);
    }
    CHECK(at::isfinite(x.grad()).all().item<bool>());
  }
}

TEST_CASE("mamba1: the selective scan equals a naive reference") {
  const Json model = rt::model_section();
  for (std::int64_t tokens : {1, 6, 20}) {
    CAPTURE(tokens);
    auto m = make_stressed(model, mamba1());
    const at::Tensor x = random_input(2, tokens, 64, 21 + tokens);
    CHECK(rel_diff(run(*m, x, 0), naive_mamba1(*m, x)) < 1e-5);
  }
}

// ------------------------------------------------------------------ padding (docs/PADDING.md)

TEST_CASE("mamba: left, right and middle padding change nothing at the real tokens, prefill and decode") {
  const Json model = rt::model_section();
  NoPositional positional;
  // Chunks of 4 put the padding at chunk edges and inside chunks; d_conv 4 spans the middle padding.
  for (const Json& params : {mamba2(1, 4), mamba2(2, 256), mamba1()}) {
    CAPTURE(params.dump());
    auto m = make_stressed(model, params);
    const auto diffs = rt::mixer_padding_diffs(*m, positional, random_input(3, 10, 64, 5));
    CHECK(diffs.forward < 1e-4);
    CHECK(diffs.decode < 1e-4);
  }
}

TEST_CASE("mamba: a decode step whose token is padding leaves that row's state unchanged") {
  const Json model = rt::model_section();
  for (const Json& params : {mamba2(1, 8), mamba1()}) {
    CAPTURE(params.dump());
    auto m = make_stressed(model, params);
    at::NoGradGuard no_grad;
    const at::Tensor x = random_input(2, 6, 64, 6), step = random_input(2, 2, 64, 7);
    auto padded = m->new_cache(), plain = m->new_cache();
    run(*m, x, 0, padded.get());
    run(*m, x, 0, plain.get());
    NoPositional positional;
    auto input = rt::mixer_input(positional, 6, 1, padded.get());
    input.padding_mask = at::tensor({1, 0}).to(at::kBool).view({2, 1});
    const at::Tensor during = m->forward(step.narrow(1, 0, 1), input);
    CHECK(at::isfinite(during).all().item<bool>());
    CHECK(rt::max_abs_diff(during[0], run(*m, step.narrow(1, 0, 1), 6, plain.get())[0]) < 1e-5);
    // Row 1 continues as if the padding step had not happened: its next token is its 7th.
    auto input_after = rt::mixer_input(positional, 7, 1, padded.get());
    input_after.positions = at::tensor({7, 6}, at::TensorOptions().dtype(at::kLong)).view({2, 1});
    const at::Tensor after = m->forward(step.narrow(1, 1, 1), input_after);
    auto own = m->new_cache();
    run(*m, x.narrow(0, 1, 1), 0, own.get());
    CHECK(rt::max_abs_diff(after[1], run(*m, step.narrow(0, 1, 1).narrow(1, 1, 1), 6, own.get())[0]) < 1e-5);
  }
}
