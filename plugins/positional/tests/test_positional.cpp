// The positional plugin's modules: rope (and its scalings), alibi, learned, none.

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "support.hpp"

namespace {

using eulerstack::BlockKind;
using rt::Json;

constexpr double kPi = 3.14159265358979323846;

// Model: d_model 64, 4 heads -> head_dim 16, max_seq_len 256.
const Json kModel = rt::model_section();
constexpr std::int64_t kHeadDim = 16;

at::Tensor positions_of(std::vector<std::int64_t> values) {
  return at::tensor(values, at::TensorOptions().dtype(at::kLong));
}

at::Tensor random(std::vector<std::int64_t> shape, std::uint64_t seed, at::ScalarType dtype = at::kFloat) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randn(shape, generator, at::TensorOptions().dtype(at::kFloat)).to(dtype);
}

// Rotate-half RoPE on the first `rot` dims, in double, from explicit inverse
// frequencies and (possibly fractional) positions.
at::Tensor reference_rope(const at::Tensor& x, const std::vector<double>& inv_freq,
                          const std::vector<double>& positions, double scale = 1.0) {
  const auto half = static_cast<std::int64_t>(inv_freq.size());
  auto out = x.to(at::kDouble).clone();
  auto in = x.to(at::kDouble);
  for (std::size_t t = 0; t < positions.size(); ++t) {
    for (std::int64_t i = 0; i < half; ++i) {
      const double angle = positions[t] * inv_freq[static_cast<std::size_t>(i)];
      const double c = std::cos(angle) * scale, s = std::sin(angle) * scale;
      const auto ti = static_cast<std::int64_t>(t);
      auto x1 = in.select(-2, ti).select(-1, i), x2 = in.select(-2, ti).select(-1, i + half);
      out.select(-2, ti).select(-1, i).copy_(x1 * c - x2 * s);
      out.select(-2, ti).select(-1, i + half).copy_(x2 * c + x1 * s);
    }
  }
  return out;
}

std::vector<double> plain_inv_freq(double base, std::int64_t rot) {
  std::vector<double> inv;
  for (std::int64_t i = 0; i < rot; i += 2) inv.push_back(std::pow(base, -static_cast<double>(i) / static_cast<double>(rot)));
  return inv;
}

Json scaling(const std::string& type, double factor) {
  return {{"rope_scaling", {{"type", type}, {"factor", factor}}}};
}

// q [1, 4, T, 16] and k [1, 2, T, 16] rotated at `positions` by `rope`.
std::pair<at::Tensor, at::Tensor> rotate(eulerstack::PositionalModule& rope, const std::vector<std::int64_t>& positions,
                                         at::ScalarType dtype = at::kFloat) {
  const auto t = static_cast<std::int64_t>(positions.size());
  const auto q = random({1, 4, t, kHeadDim}, 1, dtype), k = random({1, 2, t, kHeadDim}, 2, dtype);
  return rope.rotate(q, k, positions_of(positions));
}

// The module's rotation at `positions` equals the reference with `inv_freq` at
// `angles_at` (default: the positions themselves) and cos/sin scaled by `scale`.
void check_against_reference(eulerstack::PositionalModule& rope, const std::vector<std::int64_t>& positions,
                             const std::vector<double>& inv_freq, double scale = 1.0,
                             std::vector<double> angles_at = {}) {
  const auto t = static_cast<std::int64_t>(positions.size());
  const auto q = random({1, 4, t, kHeadDim}, 1), k = random({1, 2, t, kHeadDim}, 2);
  const auto [rq, rk] = rope.rotate(q, k, positions_of(positions));
  if (angles_at.empty()) angles_at.assign(positions.begin(), positions.end());
  CHECK(rt::max_abs_diff(rq, reference_rope(q, inv_freq, angles_at, scale)) < 2e-4);
  CHECK(rt::max_abs_diff(rk, reference_rope(k, inv_freq, angles_at, scale)) < 2e-4);
}

}  // namespace

TEST_CASE("positional: rope, alibi and none have no parameters; learned has max_seq_len * d_model") {
  for (const char* type : {"rope", "alibi", "none", "learned"}) {
    for (const auto& model : {kModel, rt::model_section({{"max_seq_len", 100}, {"d_model", 32}})}) {
      auto module = rt::make_positional(model, type);
      CHECK_MESSAGE(rt::parameter_count(*module) ==
                        rt::formula_count(BlockKind::Positional, model, rt::block_ir(BlockKind::Positional, type)),
                    type);
    }
  }
  auto learned = rt::make_positional(kModel, "learned");
  const auto names = learned->named_parameters().keys();
  REQUIRE(names.size() == 1);
  CHECK(names[0] == "weight");
  CHECK(learned->named_parameters()["weight"].sizes() == at::IntArrayRef({256, 64}));
}

TEST_CASE("positional: none adds nothing and leaves queries and keys alone") {
  auto none = rt::make_positional(kModel, "none");
  const auto [q, k] = rotate(*none, {0, 1, 2});
  const auto original = rotate(*rt::make_positional(kModel, "none"), {0, 1, 2});
  CHECK(at::equal(q, original.first));
  CHECK(at::equal(k, original.second));
  CHECK_FALSE(none->embed(positions_of({0, 1})).defined());
  CHECK_FALSE(none->attention_bias(4, positions_of({0}), positions_of({0})).defined());
}

TEST_CASE("rope: q.k after rotation depends only on the distance") {
  auto rope = rt::make_positional(kModel, "rope");
  const auto q = random({1, 1, 1, kHeadDim}, 3), k = random({1, 1, 1, kHeadDim}, 4);
  auto score = [&](std::int64_t m, std::int64_t n) {
    const auto qm = rope->rotate(q, k, positions_of({m})).first;
    const auto kn = rope->rotate(q, k, positions_of({n})).second;
    return (qm * kn).sum().item<double>();
  };
  CHECK(score(5, 2) == doctest::Approx(score(13, 10)).epsilon(1e-5));
  CHECK(score(40, 40) == doctest::Approx(score(0, 0)).epsilon(1e-5));
  CHECK(score(100, 37) == doctest::Approx(score(63, 0)).epsilon(1e-4));
  CHECK(std::abs(score(5, 2) - score(5, 3)) > 1e-3);  // and the distance does matter
  CHECK(score(0, 0) == doctest::Approx((q * k).sum().item<double>()).epsilon(1e-6));
}

TEST_CASE("rope: plain rope matches the rotate_half reference with theta^(-2i/rot)") {
  auto rope = rt::make_positional(kModel, "rope", {{"rope_theta", 500000.0}});
  check_against_reference(*rope, {0, 1, 7, 255}, plain_inv_freq(500000.0, kHeadDim));
}

TEST_CASE("rope: partial rotary rotates only the first head_dim * factor dims") {
  auto rope = rt::make_positional(kModel, "rope", {{"partial_rotary_factor", 0.5}});
  const auto q = random({1, 4, 5, kHeadDim}, 5), k = random({1, 2, 5, kHeadDim}, 6);
  const auto [rq, rk] = rope->rotate(q, k, positions_of({3, 4, 5, 6, 7}));
  CHECK(at::equal(rq.narrow(-1, 8, 8), q.narrow(-1, 8, 8)));
  CHECK(at::equal(rk.narrow(-1, 8, 8), k.narrow(-1, 8, 8)));
  CHECK(rt::max_abs_diff(rq.narrow(-1, 0, 8), q.narrow(-1, 0, 8)) > 1e-2);
  const auto expected = reference_rope(q.narrow(-1, 0, 8), plain_inv_freq(10000.0, 8), {3, 4, 5, 6, 7});
  CHECK(rt::max_abs_diff(rq.narrow(-1, 0, 8), expected) < 1e-5);
}

TEST_CASE("rope: linear scaling equals plain rope at positions / factor") {
  auto linear = rt::make_positional(kModel, "rope", scaling("linear", 4.0));
  auto plain = rt::make_positional(kModel, "rope");
  const auto scaled = rotate(*linear, {0, 4, 8, 400, 1020});
  const auto reference = rotate(*plain, {0, 1, 2, 100, 255});
  CHECK(rt::max_abs_diff(scaled.first, reference.first) < 1e-5);
  CHECK(rt::max_abs_diff(scaled.second, reference.second) < 1e-5);
  // Between the grid points it interpolates: positions 2 and 7 under factor 4 are 0.5 and 1.75.
  check_against_reference(*linear, {2, 7}, plain_inv_freq(10000.0, kHeadDim), 1.0, {0.5, 1.75});
}

// max_seq_len 256 is the extended context; factor 4 -> trained context 64.
TEST_CASE("rope: ntk scaling raises the base to theta * factor^(rot/(rot-2))") {
  auto ntk = rt::make_positional(kModel, "rope", scaling("ntk", 4.0));
  const double base = 10000.0 * std::pow(4.0, 16.0 / 14.0);
  check_against_reference(*ntk, {0, 1, 63, 200, 255}, plain_inv_freq(base, kHeadDim));
  // and is not plain rope
  auto plain = rt::make_positional(kModel, "rope");
  CHECK(rt::max_abs_diff(rotate(*ntk, {200}).first, rotate(*plain, {200}).first) > 1e-2);
}

TEST_CASE("rope: dynamic scaling is plain inside the trained context and NTK-stretched beyond it") {
  auto dynamic = rt::make_positional(kModel, "rope", scaling("dynamic", 4.0));
  // max position 63: seq_len 64 = trained context -> theta unchanged.
  check_against_reference(*dynamic, {0, 10, 63}, plain_inv_freq(10000.0, kHeadDim));
  // max position 127: seq_len 128 -> base = theta * (4 * 128/64 - 3)^(16/14), for every position of the call.
  const double base = 10000.0 * std::pow(4.0 * 128.0 / 64.0 - 3.0, 16.0 / 14.0);
  check_against_reference(*dynamic, {0, 10, 63, 127}, plain_inv_freq(base, kHeadDim));
  const double longest = 10000.0 * std::pow(4.0 * 256.0 / 64.0 - 3.0, 16.0 / 14.0);
  check_against_reference(*dynamic, {5, 255}, plain_inv_freq(longest, kHeadDim));
}

TEST_CASE("rope: yarn blends interpolated and extrapolated frequencies and scales cos/sin") {
  const double factor = 4.0, theta = 10000.0, dim = 16.0, original = 64.0;
  // HF's correction range: dims whose wavelength makes more than beta_fast (32)
  // rotations over the trained context keep their frequency, fewer than
  // beta_slow (1) get interpolated, a linear ramp between.
  auto correction = [&](double rotations) {
    return dim * std::log(original / (rotations * 2.0 * kPi)) / (2.0 * std::log(theta));
  };
  const double low = std::max(std::floor(correction(32.0)), 0.0);
  const double high = std::min(std::ceil(correction(1.0)), dim - 1.0);
  REQUIRE(low == 0.0);  // the numbers this test was written for: a ramp over dims 0..3
  REQUIRE(high == 3.0);
  std::vector<double> inv_freq;
  for (const double extrapolated : plain_inv_freq(theta, 16)) {
    const auto i = static_cast<double>(inv_freq.size());
    const double ramp = std::clamp((i - low) / (high - low), 0.0, 1.0);
    inv_freq.push_back(extrapolated / factor * ramp + extrapolated * (1.0 - ramp));
  }
  CHECK(inv_freq[0] == 1.0);                                  // fully extrapolated
  CHECK(inv_freq[7] == doctest::Approx(std::pow(theta, -14.0 / 16.0) / 4.0));  // fully interpolated
  const double attention_factor = 0.1 * std::log(factor) + 1.0;
  auto yarn = rt::make_positional(kModel, "rope", scaling("yarn", factor));
  check_against_reference(*yarn, {0, 1, 17, 64, 255}, inv_freq, attention_factor);
}

TEST_CASE("rope: bfloat16 in, bfloat16 out, close to the float32 rotation") {
  auto rope = rt::make_positional(kModel, "rope", scaling("yarn", 2.0));
  const auto [q16, k16] = rotate(*rope, {0, 9, 130}, at::kBFloat16);
  const auto [q32, k32] = rotate(*rope, {0, 9, 130}, at::kFloat);
  CHECK((q16.scalar_type() == at::kBFloat16));
  CHECK((k16.scalar_type() == at::kBFloat16));
  CHECK(rt::max_abs_diff(q16, q32) < 0.05);
  CHECK(rt::max_abs_diff(k16, k32) < 0.05);
}

TEST_CASE("alibi: 8 heads get the slopes 2^-1 .. 2^-8") {
  auto alibi = rt::make_positional(kModel, "alibi");
  const auto bias = alibi->attention_bias(8, positions_of({1}), positions_of({0}));
  REQUIRE(bias.sizes() == at::IntArrayRef({8, 1, 1}));
  CHECK((bias.scalar_type() == at::kFloat));
  for (std::int64_t h = 0; h < 8; ++h)
    CHECK(-bias[h][0][0].item<double>() == doctest::Approx(std::pow(2.0, -static_cast<double>(h + 1))));
}

namespace {

// The ALiBi paper's reference code (ofirpress/attention_with_linear_biases).
std::vector<double> paper_slopes(std::int64_t n) {
  auto power_of_2 = [](std::int64_t m) {
    const double start = std::pow(2.0, -std::pow(2.0, -(std::log2(static_cast<double>(m)) - 3.0)));
    std::vector<double> slopes;
    for (std::int64_t i = 0; i < m; ++i) slopes.push_back(start * std::pow(start, static_cast<double>(i)));
    return slopes;
  };
  if (std::log2(static_cast<double>(n)) == std::floor(std::log2(static_cast<double>(n)))) return power_of_2(n);
  const auto closest = static_cast<std::int64_t>(std::pow(2.0, std::floor(std::log2(static_cast<double>(n)))));
  auto slopes = power_of_2(closest);
  const auto extra = paper_slopes(2 * closest);
  for (std::size_t i = 0; i < extra.size() && static_cast<std::int64_t>(slopes.size()) < n; i += 2)
    slopes.push_back(extra[i]);
  return slopes;
}

}  // namespace

TEST_CASE("alibi: non-power-of-two head counts follow the paper's interleaved extension") {
  auto alibi = rt::make_positional(kModel, "alibi");
  for (std::int64_t heads : {6, 12, 5}) {
    const auto expected = paper_slopes(heads);
    REQUIRE(static_cast<std::int64_t>(expected.size()) == heads);
    const auto bias = alibi->attention_bias(heads, positions_of({1}), positions_of({0}));
    for (std::int64_t h = 0; h < heads; ++h)
      CHECK(-bias[h][0][0].item<double>() == doctest::Approx(expected[static_cast<std::size_t>(h)]).epsilon(1e-6));
  }
  // 6 heads: 2^-2, 2^-4, 2^-6, 2^-8, then 2^-1, 2^-3.
  const auto six = alibi->attention_bias(6, positions_of({1}), positions_of({0}));
  CHECK(-six[4][0][0].item<double>() == 0.5);
  CHECK(-six[5][0][0].item<double>() == 0.125);
}

TEST_CASE("alibi: the bias is -slope * (q_pos - k_pos) over every query and key") {
  auto alibi = rt::make_positional(kModel, "alibi");
  const auto bias = alibi->attention_bias(4, positions_of({10, 11, 12}), positions_of({8, 9, 10, 11, 12}));
  REQUIRE(bias.sizes() == at::IntArrayRef({4, 3, 5}));
  for (std::int64_t h = 0; h < 4; ++h)
    for (std::int64_t i = 0; i < 3; ++i)
      for (std::int64_t j = 0; j < 5; ++j) {
        const double slope = std::pow(2.0, -2.0 * static_cast<double>(h + 1));
        CHECK(bias[h][i][j].item<double>() == doctest::Approx(-slope * static_cast<double>((10 + i) - (8 + j))));
      }
}

TEST_CASE("learned: embed returns the table's rows for the positions") {
  auto learned = rt::make_positional(kModel, "learned");
  const auto weight = learned->named_parameters()["weight"];
  const auto rows = learned->embed(positions_of({0, 5, 255}));
  REQUIRE(rows.sizes() == at::IntArrayRef({3, 64}));
  CHECK(at::equal(rows[1], weight[5]));
  CHECK(at::equal(rows[2], weight[255]));
  const double std = weight.std().item<double>();
  CHECK(std == doctest::Approx(0.02).epsilon(0.05));  // init normal(init_std)
}

TEST_CASE("learned: positions at or beyond max_seq_len are rejected with the limit in the message") {
  auto learned = rt::make_positional(kModel, "learned");
  CHECK_NOTHROW(learned->embed(positions_of({255})));
  std::string message;
  try {
    learned->embed(positions_of({254, 255, 256}));
  } catch (const std::exception& e) {
    message = e.what();
  }
  CHECK(message.find("max_seq_len 256") != std::string::npos);
  CHECK(message.find("position 256") != std::string::npos);
}

// ------------------------------------------------------------------ per-row positions (docs/PADDING.md)

TEST_CASE("positional: per-row positions [B, T] give each row what its own positions [T] give") {
  const auto per_row = at::tensor({0, 1, 2, 3, 1, 1, 0, 1}, at::TensorOptions().dtype(at::kLong)).view({2, 4});
  const auto q = random({2, 4, 4, kHeadDim}, 1), k = random({2, 2, 4, kHeadDim}, 2);
  for (const char* name : {"rope", "alibi", "learned", "none"}) {
    CAPTURE(name);
    auto positional = rt::make_positional(kModel, name);
    const auto [rq, rk] = positional->rotate(q, k, per_row);
    const auto table = positional->embed(per_row);
    const auto keys = at::tensor({0, 1, 2, 3, 4}, at::TensorOptions().dtype(at::kLong));
    const auto bias = positional->attention_bias(4, per_row, keys);
    for (std::int64_t row = 0; row < 2; ++row) {
      const auto own = per_row[row];
      const auto [oq, ok] = positional->rotate(q.narrow(0, row, 1), k.narrow(0, row, 1), own);
      CHECK(rt::max_abs_diff(rq.narrow(0, row, 1), oq) < 1e-6);
      CHECK(rt::max_abs_diff(rk.narrow(0, row, 1), ok) < 1e-6);
      if (table.defined()) CHECK(at::equal(table[row], positional->embed(own)));
      if (bias.defined()) CHECK(at::equal(bias[row], positional->attention_bias(4, own, keys)));
    }
    if (bias.defined()) CHECK(bias.sizes() == at::IntArrayRef({2, 4, 4, 5}));
  }
}
