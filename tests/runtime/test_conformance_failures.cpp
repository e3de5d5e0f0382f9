// Every way the conformance suite can fail a block, each shown by a block
// built to have exactly that flaw: the suite names the right check and the
// right message id, so `eulerstack plugins test` tells a plugin author what
// is wrong.

#include <limits>
#include <stdexcept>

#include <ATen/ATen.h>

#include "eulerstack/plugin_host.hpp"
#include "eulerstack/testing/conformance.hpp"
#include "support.hpp"
#include "test_paths.hpp"

namespace {

namespace testing = eulerstack::testing;
using eulerstack::ModuleContext;

// The decoding state of the running-sum flaw.
struct RunningSum : eulerstack::LayerCache {
  at::Tensor sum;  // [B, 1, d]: the sum of every output so far
};

// One d x d projection, then the flaw named by the block type.
class FlawedMixer : public eulerstack::MixerModule {
 public:
  FlawedMixer(const ModuleContext& c, std::string flaw) : flaw_(std::move(flaw)) {
    const auto d = c.block.model_int("d_model");
    proj_ = eulerstack::add_linear(*this, "proj", d, d, false, c.options, eulerstack::init::normal(0.02));
    if (flaw_ == "unused_parameter") add_parameter("unused", {d}, c.options, eulerstack::init::zeros());
    if (flaw_ == "unsaved_state") offset_ = at::randn({d});  // not a parameter: a reloaded copy differs
  }
  at::Tensor forward(const at::Tensor& x, const eulerstack::MixerInput& input) override {
    at::Tensor y = proj_->forward(x);
    if (flaw_ == "ignores_padding") return running_sum(y, input);
    if (flaw_ == "wrong_shape") return y.narrow(-1, 0, y.size(-1) - 1);
    if (flaw_ == "nan_output") return y * std::numeric_limits<float>::quiet_NaN();
    if (flaw_ == "ignores_cache") return y * static_cast<double>(x.size(1));  // depends on the chunk length
    if (flaw_ == "unsaved_state") return y + offset_;
    if (flaw_ == "throws") throw std::runtime_error("this block always throws");
    return y;
  }
  std::unique_ptr<eulerstack::LayerCache> new_cache() const override { return std::make_unique<RunningSum>(); }

 private:
  // A causal sum over time with a correct cache, blind to padding_mask: padding enters every later sum.
  static at::Tensor running_sum(const at::Tensor& y, const eulerstack::MixerInput& input) {
    auto* cache = dynamic_cast<RunningSum*>(input.cache);
    at::Tensor sums = y.cumsum(1);
    if (cache && cache->sum.defined()) sums = sums + cache->sum;
    if (cache) cache->sum = sums.narrow(1, sums.size(1) - 1, 1);
    return sums;
  }

  std::string flaw_;
  std::shared_ptr<eulerstack::Linear> proj_;
  at::Tensor offset_;
};

// Routes every token to an expert that does not exist.
class StrayRouter : public eulerstack::RouterModule {
 public:
  eulerstack::Routing route(const at::Tensor& x, const eulerstack::RoutingRequest& request) override {
    const auto n = x.size(0);
    const auto experts = at::full({n, request.top_k}, 1'000'000, at::TensorOptions().dtype(at::kLong));
    const auto weights = at::ones({n, request.top_k}, x.options());
    return {weights, experts, at::full({n, 4}, 0.25), at::zeros({n, 4})};
  }
};

eulerstack::MixerDefinition flawed_mixer(const std::string& flaw) {
  eulerstack::MixerDefinition mixer;
  mixer.schema.name = flaw;
  mixer.schema.summary = "a mixer with one flaw";
  mixer.schema.count_params = [flaw](const eulerstack::BlockContext& c) {
    const auto d = c.model_int("d_model");
    return d * d + (flaw == "unused_parameter" ? d : 0);
  };
  if (flaw == "rejects_defaults")
    mixer.schema.cross_check = [](const eulerstack::BlockContext&) {
      return std::vector<eulerstack::BlockIssue>{{"", "flawed.never_valid", {}, false}};
    };
  return mixer;
}

eulerstack::RouterDefinition stray_router() {
  eulerstack::RouterDefinition router;
  router.schema.name = "stray";
  router.schema.summary = "routes to an expert that does not exist";
  router.schema.count_params = [](const eulerstack::BlockContext&) { return std::int64_t{0}; };
  return router;
}

const std::vector<std::string> kFlaws = {"wrong_shape",   "nan_output", "unused_parameter", "ignores_cache",
                                         "ignores_padding", "unsaved_state", "throws", "rejects_defaults"};

// The first failed check of `block`: {check id, failure id}.
std::pair<std::string, std::string> first_failure(const std::vector<testing::ConformanceResult>& results,
                                                  const std::string& block) {
  for (const auto& r : results)
    if (r.block == block && r.failure) return {r.check, r.failure->id};
  return {"", ""};
}

}  // namespace

TEST_CASE("conformance: each flaw fails its own check with its own message") {
  eulerstack::Registry registry;
  eulerstack::load_plugins(registry, {{EULERSTACK_TEST_BUILTIN_PLUGIN_DIR, "tests"}});  // `none`, and moe for routers
  eulerstack::Registrar staged;
  for (const auto& flaw : kFlaws) staged.add(flawed_mixer(flaw));
  staged.add(stray_router());
  registry.commit({"flawed", "0.0.1", "tests", "", {}, {}, {}, ""}, std::move(staged));
  testing::BlockBench bench(registry);
  eulerstack::ModuleRegistrar modules;
  for (const auto& flaw : kFlaws)
    modules.mixer(flaw, [flaw](const ModuleContext& c) { return std::make_shared<FlawedMixer>(c, flaw); });
  modules.router("stray", [](const ModuleContext&) { return std::make_shared<StrayRouter>(); });
  bench.catalog().add("flawed", std::move(modules));

  const auto results = testing::run_conformance(bench, {"flawed"});
  using Failure = std::pair<std::string, std::string>;
  CHECK(first_failure(results, "wrong_shape") == Failure{"plugins.check_forward", "conformance.bad_shape"});
  CHECK(first_failure(results, "nan_output") == Failure{"plugins.check_forward", "conformance.not_finite"});
  CHECK(first_failure(results, "unused_parameter") == Failure{"plugins.check_gradients", "conformance.no_gradient"});
  CHECK(first_failure(results, "ignores_cache") == Failure{"plugins.check_cache", "conformance.cache_mismatch"});
  CHECK(first_failure(results, "ignores_padding") == Failure{"plugins.check_padding", "conformance.padding_mismatch"});
  CHECK(first_failure(results, "unsaved_state") == Failure{"plugins.check_reload", "conformance.reload_mismatch"});
  CHECK(first_failure(results, "throws") == Failure{"plugins.check_forward", "conformance.threw"});
  CHECK(first_failure(results, "rejects_defaults") ==
        Failure{"plugins.check_cross_check", "conformance.defaults_rejected"});
  CHECK(first_failure(results, "stray") == Failure{"plugins.check_routing", "conformance.routing_invalid"});

  // A block that threw skips its remaining checks.
  int throws_checks = 0;
  for (const auto& r : results) throws_checks += r.block == "throws";
  CHECK(throws_checks == 3);  // cross_check, count, forward
}

TEST_CASE("conformance: a router without any FFN that references routers cannot be checked") {
  eulerstack::Registry registry;
  eulerstack::Registrar staged;
  staged.add(stray_router());
  registry.commit({"flawed", "0.0.1", "tests", "", {}, {}, {}, ""}, std::move(staged));
  testing::BlockBench bench(registry);
  const auto results = testing::run_conformance(bench);
  REQUIRE(results.size() == 1);
  CHECK(first_failure(results, "stray") == std::pair<std::string, std::string>{"plugins.check_routing",
                                                                                "conformance.no_router_parent"});
}
