// The conformance suite (eulerstack/testing/conformance.hpp, also run by
// `eulerstack plugins test`) over every builtin plugin, and a block that
// breaks the contract to show that the suite can fail.

#include <algorithm>

#include <ATen/ATen.h>

#include "eulerstack/messages.hpp"
#include "eulerstack/plugin_host.hpp"
#include "eulerstack/testing/conformance.hpp"
#include "support.hpp"
#include "test_paths.hpp"

namespace {

using eulerstack::BlockKind;
namespace testing = eulerstack::testing;

// A stateless mixer (one linear map per token) whose count formula is off by one.
class LinearMixer : public eulerstack::MixerModule {
 public:
  explicit LinearMixer(const eulerstack::ModuleContext& c) {
    const auto d = c.block.model_int("d_model");
    proj_ = eulerstack::add_linear(*this, "proj", d, d, false, c.options, eulerstack::init::normal(0.02));
  }
  at::Tensor forward(const at::Tensor& x, const eulerstack::MixerInput&) override { return proj_->forward(x); }
  std::unique_ptr<eulerstack::LayerCache> new_cache() const override {
    return std::make_unique<eulerstack::LayerCache>();
  }

 private:
  std::shared_ptr<eulerstack::Linear> proj_;
};

}  // namespace

TEST_CASE("conformance: every block of every builtin plugin passes") {
  testing::BlockBench bench(rt::registry());
  const auto results = testing::run_conformance(bench);
  for (BlockKind kind : eulerstack::kAllBlockKinds) {
    CAPTURE(eulerstack::to_string(kind));
    CHECK(std::any_of(results.begin(), results.end(), [&](const auto& r) { return r.kind == kind; }));
  }
  for (const auto& r : results) {
    CAPTURE(r.block);
    CAPTURE(r.check);
    if (r.failure) FAIL_CHECK(eulerstack::render(*r.failure, "en"));
  }
  // Only the named plugins' blocks when plugins are named.
  for (const auto& r : testing::run_conformance(bench, {"retnet"})) CHECK(r.plugin == "retnet");
}

TEST_CASE("conformance: a wrong count formula fails the count check and nothing else") {
  eulerstack::Registry registry;
  eulerstack::load_plugins(registry, {{EULERSTACK_TEST_BUILTIN_PLUGIN_DIR, "tests"}});  // the `none` positional
  eulerstack::Registrar staged;
  eulerstack::MixerDefinition mixer;
  mixer.schema.name = "off_by_one";
  mixer.schema.summary = "a linear map whose count formula is one too many";
  mixer.schema.count_params = [](const eulerstack::BlockContext& c) {
    return c.model_int("d_model") * c.model_int("d_model") + 1;
  };
  staged.add(std::move(mixer));
  registry.commit({"broken", "0.0.1", "tests", "", {}, {}, {}, ""}, std::move(staged));
  testing::BlockBench bench(registry);
  eulerstack::ModuleRegistrar modules;
  modules.mixer("off_by_one", [](const eulerstack::ModuleContext& c) { return std::make_shared<LinearMixer>(c); });
  bench.catalog().add("broken", std::move(modules));

  const auto results = testing::run_conformance(bench, {"broken"});
  REQUIRE(results.size() == 7);  // cross_check, count, forward, gradients, cache, padding, reload
  for (const auto& r : results) {
    CAPTURE(r.check);
    CHECK(r.plugin == "broken");
    CHECK(r.failure.has_value() == (r.check == "plugins.check_count"));
  }
  const auto failed = std::find_if(results.begin(), results.end(), [](const auto& r) { return r.failure.has_value(); });
  REQUIRE(failed != results.end());
  CHECK(failed->failure->id == "conformance.count_mismatch");
  CHECK(failed->failure->args.at("module") == "4096");
  CHECK(failed->failure->args.at("formula") == "4097");
}
