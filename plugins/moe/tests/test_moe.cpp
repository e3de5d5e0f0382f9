// The moe plugin's modules: the MoE FFN and its softmax / sigmoid routers.

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "eulerstack/diagnostics.hpp"
#include "support.hpp"

namespace {

using eulerstack::BlockKind;
using eulerstack::FfnInput;
using eulerstack::FfnModule;
using eulerstack::Json;
using eulerstack::Routing;
using eulerstack::RoutingRequest;
using eulerstack::RouterModule;

constexpr std::int64_t kD = 64;

// A MoE of 4 experts, top 2, with a router decisive enough that no scores tie.
Json moe_params(const Json& changes = Json::object()) {
  Json params = {{"experts", 4}, {"top_k", 2}, {"router_init_std", 0.5}};
  params.update(changes);
  return params;
}

std::shared_ptr<FfnModule> make_moe(const Json& changes = Json::object()) {
  return rt::make_ffn(rt::model_section(), "moe", moe_params(changes));
}

// A router built the way the MoE builds it: its parameters merged with the MoE's.
std::shared_ptr<RouterModule> make_router(const Json& changes = Json::object(), bool norm_topk_prob = true) {
  Json ir = rt::block_ir(BlockKind::Ffn, "moe", moe_params(changes));
  ir["refs"]["router"]["params"]["norm_topk_prob"] = norm_topk_prob;
  auto context = rt::module_context(rt::model_section());
  context.block.params = ir["params"];
  context.refs = ir["refs"];
  auto router = rt::catalog().make_router(ir["refs"]["router"], context);
  REQUIRE(router);
  eulerstack::initialize_parameters(*router, 7);
  return router;
}

at::Tensor param(torch::nn::Module& module, const std::string& name) {
  auto params = module.named_parameters();
  const at::Tensor* found = params.find(name);
  REQUIRE_MESSAGE(found, "no parameter " << name);
  return *found;
}

at::Tensor buffer(torch::nn::Module& module, const std::string& name) {
  auto buffers = module.named_buffers();
  const at::Tensor* found = buffers.find(name);
  REQUIRE_MESSAGE(found, "no buffer " << name);
  return *found;
}

bool has_param(torch::nn::Module& module, const std::string& name) {
  return module.named_parameters().find(name) != nullptr;
}

at::Tensor sample_input(std::int64_t batch, std::int64_t tokens, std::uint64_t seed = 11) {
  at::manual_seed(seed);
  return at::randn({batch, tokens, kD});
}

// --- per-token references -------------------------------------------------

at::Tensor activation(const std::string& name, const at::Tensor& h) {
  if (name == "gelu") return 0.5 * h * (1.0 + at::erf(h / std::sqrt(2.0)));
  if (name == "relu") return h.clamp_min(0.0);
  return h / (1.0 + at::exp(-h));
}

at::Tensor linear(torch::nn::Module& m, const std::string& name, const at::Tensor& x) {
  at::Tensor y = at::mv(param(m, name + ".weight"), x);
  if (has_param(m, name + ".bias")) y = y + param(m, name + ".bias");
  return y;
}

// One expert on one token x [d].
at::Tensor expert(torch::nn::Module& m, const std::string& prefix, const std::string& act, const at::Tensor& x) {
  if (has_param(m, prefix + ".gate_proj.weight"))
    return linear(m, prefix + ".down_proj",
                  activation(act, linear(m, prefix + ".gate_proj", x)) * linear(m, prefix + ".up_proj", x));
  return linear(m, prefix + ".down_proj", activation(act, linear(m, prefix + ".up_proj", x)));
}

std::vector<float> to_vector(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kFloat).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

// Indices of the k largest values.
std::vector<std::int64_t> top(const std::vector<float>& values, std::int64_t k) {
  std::vector<std::int64_t> order(values.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](auto a, auto b) { return values[a] > values[b]; });
  order.resize(k);
  return order;
}

std::vector<float> softmax(const std::vector<float>& logits) {
  const float peak = *std::max_element(logits.begin(), logits.end());
  std::vector<float> out;
  float sum = 0;
  for (float l : logits) sum += std::exp(l - peak);
  for (float l : logits) out.push_back(std::exp(l - peak) / sum);
  return out;
}

// The softmax router's choices for token x [d].
struct TokenRoute {
  std::vector<float> logits, probs;
  std::vector<std::int64_t> experts;
  std::vector<float> weights;
};

TokenRoute route_token(torch::nn::Module& moe, const at::Tensor& x, std::int64_t k) {
  TokenRoute r;
  r.logits = to_vector(at::mv(param(moe, "router.weight"), x));
  r.probs = softmax(r.logits);
  r.experts = top(r.probs, k);
  float sum = 0;
  for (auto e : r.experts) sum += r.probs[e];
  for (auto e : r.experts) r.weights.push_back(r.probs[e] / sum);
  return r;
}

// The MoE computed token by token.
at::Tensor moe_reference(torch::nn::Module& moe, const at::Tensor& x, std::int64_t k, std::int64_t shared,
                         const std::string& act) {
  const at::Tensor flat = x.reshape({-1, kD});
  std::vector<at::Tensor> rows;
  for (std::int64_t t = 0; t < flat.size(0); ++t) {
    const at::Tensor token = flat[t];
    const TokenRoute r = route_token(moe, token, k);
    at::Tensor y = at::zeros({kD});
    for (std::size_t j = 0; j < r.experts.size(); ++j)
      y = y + r.weights[j] * expert(moe, "experts." + std::to_string(r.experts[j]), act, token);
    for (std::int64_t s = 0; s < shared; ++s) y = y + expert(moe, "shared_experts." + std::to_string(s), act, token);
    rows.push_back(y);
  }
  return at::stack(rows).reshape(x.sizes());
}

// Zeroes every routed expert except experts.<e>.down_proj.bias = unit vector e
// (needs expert_type mlp, bias on): output column e of a token is then its
// combine weight on expert e, and zero when the assignment was dropped.
void mark_experts(torch::nn::Module& moe, std::int64_t experts) {
  at::NoGradGuard no_grad;
  for (auto& p : moe.named_parameters())
    if (p.key().rfind("experts.", 0) == 0) p.value().zero_();
  for (std::int64_t e = 0; e < experts; ++e) param(moe, "experts." + std::to_string(e) + ".down_proj.bias")[e].fill_(1.0);
}

Json marked(const Json& changes = Json::object()) {
  Json params = {{"expert_type", "mlp"}, {"bias", true}};
  params.update(changes);
  return params;
}

}  // namespace

TEST_CASE("moe: parameter count equals the formula (experts, shared experts, router)") {
  const Json model = rt::model_section();
  for (const std::string type : {"gated_mlp", "mlp"})
    for (const bool bias : {false, true})
      for (const int shared : {0, 2})
        for (const int experts : {1, 4})
          for (const std::string router : {"softmax", "sigmoid"}) {
            CAPTURE(type);
            CAPTURE(bias);
            CAPTURE(shared);
            CAPTURE(experts);
            CAPTURE(router);
            const Json params = moe_params({{"expert_type", type}, {"bias", bias}, {"shared_experts", shared},
                                            {"experts", experts}, {"top_k", 1}, {"router", router}});
            auto moe = rt::make_ffn(model, "moe", params);
            CHECK(rt::parameter_count(*moe) == rt::formula_count(BlockKind::Ffn, model, rt::block_ir(BlockKind::Ffn, "moe", params)));
          }
}

TEST_CASE("moe: parameter names, shapes and init") {
  auto moe = make_moe({{"experts", 16}, {"shared_experts", 2}, {"bias", true}});
  CHECK(param(*moe, "router.weight").sizes() == at::IntArrayRef({16, kD}));
  CHECK(param(*moe, "router.weight").std().item<double>() == doctest::Approx(0.5).epsilon(0.08));
  CHECK(param(*moe, "experts.15.gate_proj.weight").sizes() == at::IntArrayRef({128, kD}));
  CHECK(param(*moe, "experts.15.up_proj.bias").sizes() == at::IntArrayRef({128}));
  CHECK(param(*moe, "experts.0.down_proj.weight").sizes() == at::IntArrayRef({kD, 128}));
  CHECK(param(*moe, "shared_experts.1.down_proj.bias").sizes() == at::IntArrayRef({kD}));
  CHECK_FALSE(has_param(*moe, "experts.16.up_proj.weight"));
  // The bias-correction state is a buffer, never a trainable parameter.
  CHECK(buffer(*moe, "router.expert_bias").sizes() == at::IntArrayRef({16}));
  CHECK_FALSE(has_param(*moe, "router.expert_bias"));
  CHECK(at::cat({param(*moe, "experts.3.up_proj.weight").flatten(), param(*moe, "experts.4.up_proj.weight").flatten()})
            .std()
            .item<double>() == doctest::Approx(0.02).epsilon(0.05));
  CHECK(param(*moe, "experts.3.down_proj.weight").std().item<double>() == doctest::Approx(0.01).epsilon(0.08));

  auto plain = make_moe({{"router_init_std", nullptr}, {"experts", 16}});
  CHECK(param(*plain, "router.weight").std().item<double>() == doctest::Approx(0.02).epsilon(0.08));
  auto mlp = make_moe({{"expert_type", "mlp"}});
  CHECK_FALSE(has_param(*mlp, "experts.0.gate_proj.weight"));
  CHECK(has_param(*mlp, "experts.0.up_proj.weight"));
}

TEST_CASE("moe: output equals a token-by-token reference") {
  const at::Tensor x = sample_input(2, 3);
  SUBCASE("gated swiglu experts with a shared expert") {
    auto moe = make_moe({{"activation", "swiglu"}, {"shared_experts", 1}});
    CHECK(rt::max_abs_diff(moe->forward(x, {}).hidden, moe_reference(*moe, x, 2, 1, "swiglu")) < 1e-5);
  }
  SUBCASE("mlp gelu experts with biases, top 3 of 8") {
    auto moe = make_moe({{"expert_type", "mlp"}, {"bias", true}, {"experts", 8}, {"top_k", 3}});
    at::NoGradGuard no_grad;
    for (auto& p : moe->named_parameters())
      if (p.key().find(".bias") != std::string::npos) p.value().normal_(0.0, 0.3);
    CHECK(rt::max_abs_diff(moe->forward(x, {}).hidden, moe_reference(*moe, x, 3, 0, "gelu")) < 1e-5);
  }
}

TEST_CASE("moe: one expert with top_k 1 equals that expert as a dense ffn") {
  const at::Tensor x = sample_input(2, 4);
  for (const std::string type : {"gated_mlp", "mlp"}) {
    CAPTURE(type);
    auto moe = make_moe({{"experts", 1}, {"top_k", 1}, {"expert_type", type}, {"activation", "relu"}, {"bias", true}});
    auto dense = rt::make_ffn(rt::model_section(), type, {{"activation", "relu"}, {"bias", true}}, 99);
    {
      at::NoGradGuard no_grad;
      for (auto& p : moe->named_parameters())
        if (p.key().rfind("experts.0.", 0) == 0) p.value().normal_(0.0, 0.2);
      for (auto& p : dense->named_parameters()) p.value().copy_(param(*moe, "experts.0." + p.key()));
    }
    CHECK(rt::max_abs_diff(moe->forward(x, {}).hidden, dense->forward(x, {}).hidden) < 1e-6);
  }
}

TEST_CASE("moe: every token reaches exactly top_k experts with weights summing to 1") {
  const at::Tensor x = sample_input(2, 8);
  SUBCASE("router") {
    auto router = make_router({{"experts", 8}, {"top_k", 3}});
    RoutingRequest request;
    request.top_k = 3;
    const Routing r = router->route(x.reshape({-1, kD}), request);
    REQUIRE(r.experts.sizes() == at::IntArrayRef({16, 3}));
    CHECK((r.experts.scalar_type() == at::kLong));
    CHECK(r.probs.sizes() == at::IntArrayRef({16, 8}));
    CHECK(r.logits.sizes() == at::IntArrayRef({16, 8}));
    CHECK(rt::max_abs_diff(r.weights.sum(-1), at::ones({16})) < 1e-6);
    for (std::int64_t t = 0; t < 16; ++t) CHECK(std::get<0>(at::_unique(r.experts[t])).numel() == 3);
  }
  SUBCASE("module") {
    auto moe = make_moe(marked({{"experts", 8}, {"top_k", 3}}));
    mark_experts(*moe, 8);
    const at::Tensor y = moe->forward(x, {}).hidden.reshape({-1, kD}).slice(1, 0, 8);
    CHECK(((y > 0).sum(-1) == 3).all().item<bool>());
    CHECK(rt::max_abs_diff(y.sum(-1), at::ones({16})) < 1e-6);
  }
}

TEST_CASE("moe: capacity drops assignments in training only, first come first served") {
  // 32 tokens, top 1 of 4 experts, capacity_factor 0.5: capacity ceil(0.5 * 32 / 4) = 4.
  const std::int64_t capacity = 4;
  const at::Tensor x = sample_input(2, 16);
  for (const std::string policy : {"drop", "pad"}) {
    CAPTURE(policy);
    auto moe = make_moe(marked({{"top_k", 1}, {"capacity_factor", 0.5}, {"capacity_drop_policy", policy}}));
    mark_experts(*moe, 4);
    moe->eval();
    const at::Tensor routed = moe->forward(x, {}).hidden.reshape({-1, kD}).slice(1, 0, 4);
    moe->train();
    const at::Tensor kept = moe->forward(x, {}).hidden.reshape({-1, kD}).slice(1, 0, 4);

    // Inference keeps every token (some expert is over capacity by pigeonhole).
    CHECK(rt::max_abs_diff(routed.sum(-1), at::ones({32})) < 1e-6);
    CHECK((routed > 0).sum(0).max().item<std::int64_t>() > capacity);
    // Training keeps exactly the first `capacity` tokens of each expert.
    for (std::int64_t e = 0; e < 4; ++e) {
      CAPTURE(e);
      const at::Tensor tokens = at::nonzero(routed.select(1, e) > 0).flatten();
      const at::Tensor expected = tokens.slice(0, 0, std::min<std::int64_t>(tokens.numel(), capacity));
      const at::Tensor got = at::nonzero(kept.select(1, e) > 0).flatten();
      CHECK(got.numel() <= capacity);
      CHECK(at::equal(got, expected));
    }
  }
  SUBCASE("overflow never drops") {
    auto moe = make_moe(marked({{"top_k", 1}, {"capacity_factor", 0.5}, {"capacity_drop_policy", "overflow"}}));
    mark_experts(*moe, 4);
    moe->train();
    CHECK(rt::max_abs_diff(moe->forward(x, {}).hidden.reshape({-1, kD}).slice(1, 0, 4).sum(-1), at::ones({32})) <
          1e-6);
  }
}

TEST_CASE("moe: aux loss equals a manual computation") {
  const double lb = 0.1, z = 0.001, seq = 0.05;
  const std::int64_t E = 4, k = 2, B = 2, T = 6;
  auto moe = make_moe({{"load_balance_coef", lb}, {"z_loss", z}, {"balance", {{"sequence_aux_coef", seq}}}});
  const at::Tensor x = sample_input(B, T);
  const at::Tensor aux = moe->forward(x, {}).aux_loss;
  REQUIRE(aux.defined());
  CHECK(aux.dim() == 0);
  CHECK((aux.scalar_type() == at::kFloat));

  // balance(tokens) = E * sum_e f_e P_e over the given tokens.
  const at::Tensor flat = x.reshape({-1, kD});
  auto balance = [&](std::int64_t begin, std::int64_t end) {
    std::vector<double> f(E, 0.0), P(E, 0.0);
    for (std::int64_t t = begin; t < end; ++t) {
      const TokenRoute r = route_token(*moe, flat[t], k);
      for (auto e : r.experts) f[e] += 1.0 / static_cast<double>((end - begin) * k);
      for (std::int64_t e = 0; e < E; ++e) P[e] += r.probs[e] / static_cast<double>(end - begin);
    }
    double sum = 0;
    for (std::int64_t e = 0; e < E; ++e) sum += f[e] * P[e];
    return E * sum;
  };
  double z_term = 0;
  for (std::int64_t t = 0; t < B * T; ++t) {
    const TokenRoute r = route_token(*moe, flat[t], k);
    double s = 0;
    for (float l : r.logits) s += std::exp(static_cast<double>(l));
    z_term += std::pow(std::log(s), 2) / static_cast<double>(B * T);
  }
  const double sequences = (balance(0, T) + balance(T, 2 * T)) / 2.0;
  const double expected = lb * balance(0, B * T) + z * z_term + seq * sequences;
  CHECK(aux.item<double>() == doctest::Approx(expected).epsilon(1e-5));
}

TEST_CASE("moe: z-loss alone, and a zero aux loss without coefficients") {
  const at::Tensor x = sample_input(2, 5);
  auto moe = make_moe({{"load_balance_coef", 0.0}, {"z_loss", 0.01}});
  const at::Tensor logits = at::matmul(x.reshape({-1, kD}), param(*moe, "router.weight").t());
  const double expected = 0.01 * at::logsumexp(logits, {-1}).square().mean().item<double>();
  CHECK(moe->forward(x, {}).aux_loss.item<double>() == doctest::Approx(expected).epsilon(1e-5));

  auto free = make_moe({{"load_balance_coef", 0.0}});
  const at::Tensor aux = free->forward(x, {}).aux_loss;
  REQUIRE(aux.defined());
  CHECK(aux.item<double>() == 0.0);
}

TEST_CASE("moe: sigmoid router and affinities score as documented") {
  const at::Tensor x = sample_input(2, 6).reshape({-1, kD});
  RoutingRequest request;
  request.top_k = 2;
  auto check = [&](const std::string& router_type, const std::string& affinity, bool normalize,
                   const std::function<at::Tensor(const at::Tensor&)>& score) {
    CAPTURE(router_type);
    CAPTURE(affinity);
    CAPTURE(normalize);
    auto router = make_router({{"router", router_type}, {"affinity", affinity}}, normalize);
    const Routing r = router->route(x, request);
    const at::Tensor logits = at::matmul(x, param(*router, "weight").t());
    CHECK(rt::max_abs_diff(r.logits, logits) < 1e-5);
    const at::Tensor scores = score(logits);
    const auto [top_scores, top_experts] = scores.topk(2, -1);
    CHECK(at::equal(r.experts, top_experts));
    const at::Tensor weights = normalize ? top_scores / top_scores.sum(-1, true) : top_scores;
    CHECK(rt::max_abs_diff(r.weights, weights) < 1e-6);
    CHECK(rt::max_abs_diff(r.probs, scores / scores.sum(-1, true)) < 1e-6);
  };
  auto softplus_root = [](const at::Tensor& l) { return at::sqrt(at::log1p(at::exp(l))); };
  auto sigmoid = [](const at::Tensor& l) { return 1.0 / (1.0 + at::exp(-l)); };
  auto softmax = [](const at::Tensor& s) { return at::exp(s) / at::exp(s).sum(-1, true); };
  check("sigmoid", "sigmoid", true, sigmoid);
  check("sigmoid", "softmax", false, sigmoid);
  check("sigmoid", "sqrt_softplus", true, softplus_root);
  check("softmax", "softmax", true, softmax);
  check("softmax", "softmax", false, softmax);
  check("softmax", "sigmoid", true, [&](const at::Tensor& l) { return softmax(sigmoid(l)); });
  check("softmax", "sqrt_softplus", true, [&](const at::Tensor& l) { return softmax(softplus_root(l)); });
}

TEST_CASE("moe: router jitter perturbs the logits in training only") {
  const at::Tensor x = sample_input(1, 8).reshape({-1, kD});
  auto router = make_router({{"router_jitter", 0.5}});
  RoutingRequest request;
  request.top_k = 2;
  const at::Tensor clean = at::matmul(x, param(*router, "weight").t());
  router->eval();
  CHECK(rt::max_abs_diff(router->route(x, request).logits, clean) < 1e-5);
  router->train();
  CHECK(rt::max_abs_diff(router->route(x, request).logits, clean) > 1e-3);
}

TEST_CASE("moe: hash routing is deterministic, follows the documented hash and spreads tokens") {
  const std::int64_t E = 8, k = 2, salt = 982451653;
  const Json hashed = {{"experts", E}, {"top_k", k}, {"routing", {{"type", "hash"}, {"hash_salt", salt}}}};
  auto router = make_router(hashed);
  RoutingRequest request;
  request.top_k = k;
  request.token_ids = at::arange(200, at::kLong);
  const Routing first = router->route(sample_input(1, 200, 1).reshape({-1, kD}), request);
  const Routing again = router->route(sample_input(1, 200, 2).reshape({-1, kD}), request);
  CHECK(at::equal(first.experts, again.experts));  // independent of the hidden states
  CHECK(rt::max_abs_diff(first.weights, at::full({200, k}, 0.5)) == 0.0);

  // h = (((t mod P) * A + (salt mod P)) mod P) * A mod P; expert j = (h + j) mod E.
  const std::int64_t P = 2147483647, A = 48271;
  for (std::int64_t t : {0, 1, 57, 199}) {
    const std::int64_t h = (((t % P) * A + salt % P) % P) * A % P;
    for (std::int64_t j = 0; j < k; ++j) CHECK(first.experts[t][j].item<std::int64_t>() == (h + j) % E);
  }
  const at::Tensor counts = at::bincount(first.experts.select(1, 0), {}, E);
  CHECK(counts.min().item<std::int64_t>() >= 200 / E / 2);
  CHECK(counts.max().item<std::int64_t>() <= 2 * 200 / E);

  auto other = make_router({{"experts", E}, {"top_k", k}, {"routing", {{"type", "hash"}, {"hash_salt", 7}}}});
  CHECK_FALSE(at::equal(other->route(sample_input(1, 200).reshape({-1, kD}), request).experts, first.experts));

  SUBCASE("the module routes a token id the same wherever it appears") {
    auto moe = make_moe(marked(hashed));
    mark_experts(*moe, E);
    FfnInput input;
    input.token_ids = at::tensor({5, 9, 5, 40}, at::kLong).reshape({2, 2});
    const at::Tensor y = moe->forward(sample_input(2, 2), input).hidden.reshape({-1, kD}).slice(1, 0, E);
    CHECK(at::equal(y[0], y[2]));
    CHECK(((y > 0).sum(-1) == k).all().item<bool>());
    CHECK_THROWS(moe->forward(sample_input(2, 2), {}));
  }
}

TEST_CASE("moe: bias correction steers selection; forward never changes the bias") {
  const Json params = {{"experts", 4}, {"top_k", 2},
                       {"bias_correction", {{"enabled", true}, {"update_rate", 0.01}, {"target_imbalance", 0.5}}}};
  const at::Tensor x = sample_input(2, 8).reshape({-1, kD});
  RoutingRequest request;
  request.top_k = 2;

  SUBCASE("the bias picks the experts, the unbiased scores weigh them") {
    auto router = make_router(params);
    router->eval();
    {
      at::NoGradGuard no_grad;
      buffer(*router, "expert_bias")[3].fill_(10.0);
    }
    const Routing r = router->route(x, request);
    CHECK(((r.experts == 3).sum(-1) == 1).all().item<bool>());
    const at::Tensor scores = at::softmax(r.logits, -1).gather(1, r.experts);
    CHECK(rt::max_abs_diff(r.weights, scores / scores.sum(-1, true)) < 1e-6);
  }
  SUBCASE("a training forward leaves the bias as it was: a trainer updates it after the optimizer step") {
    auto moe = make_moe({{"bias_correction", {{"enabled", true}, {"update_rate", 0.01}}}});
    {
      at::NoGradGuard no_grad;
      buffer(*moe, "router.expert_bias").copy_(at::tensor({0.5, -0.25, 0.0, 0.125}));
    }
    const at::Tensor before = buffer(*moe, "router.expert_bias").clone();
    moe->train();
    moe->forward(sample_input(2, 8), {});
    moe->eval();
    moe->forward(sample_input(2, 8), {});
    CHECK(at::equal(buffer(*moe, "router.expert_bias"), before));
  }
}

TEST_CASE("moe: balance.group_limit is refused with runtime.unsupported_param") {
  const Json ir = rt::block_ir(BlockKind::Ffn, "moe", moe_params({{"balance", {{"group_limit", 2}}}}));
  try {
    rt::catalog().make_ffn(ir, rt::module_context(rt::model_section()));
    FAIL("group_limit was accepted");
  } catch (const eulerstack::Error& e) {
    CHECK(e.first().category == "RuntimeError");
    CHECK(e.first().id == "runtime.unsupported_param");
    CHECK(e.first().args.at("block") == "moe");
    CHECK(e.first().args.at("param") == "balance.group_limit");
    CHECK(e.first().args.at("value") == "2");
    CHECK(e.first().args.at("supported") == "null");
  }
}

TEST_CASE("moe: backward reaches the router weight and exactly the used experts") {
  // Two tokens, top 2 of 8: at most 4 experts get gradients.
  auto moe = make_moe({{"experts", 8}, {"top_k", 2}, {"shared_experts", 1}});
  const at::Tensor x = sample_input(1, 2);
  const auto out = moe->forward(x, {});
  (out.hidden.square().sum() + out.aux_loss).backward();

  const at::Tensor router_grad = param(*moe, "router.weight").grad();
  REQUIRE(router_grad.defined());
  CHECK(router_grad.abs().sum().item<double>() > 0.0);

  std::set<std::int64_t> used;
  for (std::int64_t t = 0; t < 2; ++t)
    for (auto e : route_token(*moe, x[0][t], 2).experts) used.insert(e);
  for (std::int64_t e = 0; e < 8; ++e) {
    CAPTURE(e);
    const at::Tensor grad = param(*moe, "experts." + std::to_string(e) + ".up_proj.weight").grad();
    const bool reached = grad.defined() && grad.abs().sum().item<double>() > 0.0;
    CHECK(reached == (used.count(e) == 1));
  }
  CHECK(param(*moe, "shared_experts.0.down_proj.weight").grad().abs().sum().item<double>() > 0.0);
}

TEST_CASE("moe: bfloat16 runs with a float32 aux loss") {
  const Json ir = rt::block_ir(BlockKind::Ffn, "moe", moe_params({{"shared_experts", 1}, {"z_loss", 0.001}}));
  auto moe = rt::catalog().make_ffn(ir, rt::module_context(rt::model_section(), 2, at::kBFloat16));
  eulerstack::initialize_parameters(*moe, 7);
  moe->train();
  const auto out = moe->forward(sample_input(2, 5).to(at::kBFloat16), {});
  CHECK((out.hidden.scalar_type() == at::kBFloat16));
  CHECK(out.hidden.sizes() == at::IntArrayRef({2, 5, kD}));
  CHECK(at::isfinite(out.hidden).all().item<bool>());
  CHECK((out.aux_loss.scalar_type() == at::kFloat));
  CHECK(std::isfinite(out.aux_loss.item<double>()));
  (out.hidden.to(at::kFloat).sum() + out.aux_loss).backward();
  CHECK(param(*moe, "router.weight").grad().defined());
}

// ------------------------------------------------------------------ padding (docs/PADDING.md)

namespace {

// Rows with padding on the left, on the right and in the middle; its inputs at padding slots are random too.
struct PaddedMoeBatch {
  at::Tensor x = sample_input(3, 10);
  at::Tensor ids = at::arange(30, at::TensorOptions().dtype(at::kLong)).view({3, 10}).remainder(97);
  at::Tensor real = [] {
    auto r = at::ones({3, 10}, at::TensorOptions().dtype(at::kBool));
    r[0].narrow(0, 0, 3).fill_(false);
    r[1].narrow(0, 8, 2).fill_(false);
    r[2][4] = false;
    return r;
  }();
  at::Tensor alone(const at::Tensor& t, std::int64_t row) const {
    return t[row].index_select(0, real[row].nonzero().squeeze(1)).unsqueeze(0);
  }
};

}  // namespace

TEST_CASE("moe: padding tokens are not routed and change nothing at the real tokens") {
  const PaddedMoeBatch batch;
  for (const Json& changes : {Json::object(), Json{{"shared_experts", 1}},
                              Json{{"routing", {{"type", "hash"}, {"hash_salt", 3}}}},
                              Json{{"bias_correction", {{"enabled", true}}}}}) {
    CAPTURE(changes.dump());
    auto moe = make_moe(changes);
    moe->eval();
    at::NoGradGuard no_grad;
    const auto padded = moe->forward(batch.x, {batch.ids, batch.real}).hidden;
    for (std::int64_t r = 0; r < 3; ++r) {
      const auto alone = moe->forward(batch.alone(batch.x, r), {batch.alone(batch.ids, r)}).hidden;
      CHECK(rt::max_abs_diff(batch.alone(padded, r), alone) < 1e-5);
    }
  }
}

TEST_CASE("moe: padding tokens stay out of the balance loss, the z-loss and the per-sequence loss") {
  const PaddedMoeBatch batch;
  auto moe = make_moe({{"load_balance_coef", 0.5}, {"z_loss", 0.25}, {"balance", {{"sequence_aux_coef", 2.0}}}});
  at::NoGradGuard no_grad;
  for (std::int64_t r = 0; r < 3; ++r) {
    const auto one = [&](const at::Tensor& t) { return t.narrow(0, r, 1); };
    const auto padded = moe->forward(one(batch.x), {one(batch.ids), one(batch.real)}).aux_loss;
    const auto alone = moe->forward(batch.alone(batch.x, r), {batch.alone(batch.ids, r)}).aux_loss;
    CHECK(padded.item<double>() == doctest::Approx(alone.item<double>()).epsilon(1e-6));
  }
  // The per-sequence term averages each row over its own real tokens.
  auto sequence_only = make_moe({{"load_balance_coef", 0.0}, {"balance", {{"sequence_aux_coef", 1.0}}}});
  double mean = 0.0;
  for (std::int64_t r = 0; r < 3; ++r)
    mean += sequence_only->forward(batch.alone(batch.x, r), {batch.alone(batch.ids, r)}).aux_loss.item<double>() / 3.0;
  const auto batched = sequence_only->forward(batch.x, {batch.ids, batch.real}).aux_loss.item<double>();
  CHECK(batched == doctest::Approx(mean).epsilon(1e-6));
}

TEST_CASE("moe: padding tokens take no capacity") {
  const PaddedMoeBatch batch;
  // Capacity ceil(1.0 * N * k / E): of the 27 real tokens' assignments, not the 30 slots'.
  auto moe = make_moe({{"capacity_factor", 1.0}, {"capacity_drop_policy", "drop"}});
  moe->train();
  at::NoGradGuard no_grad;
  const auto real_slots = batch.real.reshape({-1}).nonzero().squeeze(1);
  auto at_real = [&](const at::Tensor& t) { return t.reshape({-1, kD}).index_select(0, real_slots).unsqueeze(0); };
  const auto padded = moe->forward(batch.x, {batch.ids, batch.real}).hidden;
  const auto alone = moe->forward(at_real(batch.x), {}).hidden;
  CHECK(rt::max_abs_diff(at_real(padded), alone) < 1e-5);
}
