#include "support.hpp"

#include <algorithm>
#include <filesystem>

#include <ATen/ATen.h>

#include "eulerstack/messages.hpp"
#include "eulerstack/plugin_host.hpp"
#include "eulerstack/spec/frontend.hpp"
#include "eulerstack/testing/block_bench.hpp"
#include "test_paths.hpp"

namespace rt {

using namespace eulerstack;

const Registry& registry() {
  static Registry* instance = [] {
    auto* r = new Registry();
    load_plugins(*r, {{EULERSTACK_TEST_BUILTIN_PLUGIN_DIR, "tests"}});
    for (const auto& failure : r->report().failures)
      FAIL_CHECK("plugin failed to load: " << failure.file << " " << failure.diagnostic.id);
    return r;
  }();
  return *instance;
}

namespace {
const testing::BlockBench& bench() {
  static auto* instance = new testing::BlockBench(registry());
  return *instance;
}
}  // namespace

const ModuleCatalog& catalog() { return bench().catalog(); }

Json model_section(const Json& changes) { return testing::BlockBench::model_section(changes); }

Json block_ir(BlockKind kind, const std::string& type, const Json& params) { return bench().block_ir(kind, type, params); }

ModuleContext module_context(const Json& model, std::int64_t n_layers, at::ScalarType dtype) {
  return bench().module_context(model, n_layers, dtype);
}

std::shared_ptr<MixerModule> make_mixer(const Json& model, const std::string& type, const Json& params,
                                        std::uint64_t seed) {
  return bench().make_mixer(model, type, params, seed);
}

std::shared_ptr<FfnModule> make_ffn(const Json& model, const std::string& type, const Json& params,
                                    std::uint64_t seed) {
  return bench().make_ffn(model, type, params, seed);
}

std::shared_ptr<PositionalModule> make_positional(const Json& model, const std::string& type, const Json& params,
                                                  std::uint64_t seed) {
  return bench().make_positional(model, type, params, seed);
}

std::int64_t formula_count(BlockKind kind, const Json& model, const Json& block) {
  return bench().formula_count(kind, model, block);
}

std::int64_t parameter_count(torch::nn::Module& module) { return testing::BlockBench::parameter_count(module); }

MixerInput mixer_input(PositionalModule& positional, std::int64_t offset, std::int64_t length, LayerCache* cache) {
  return testing::BlockBench::mixer_input(positional, offset, length, cache);
}

namespace {
Json compiled(spec::SpecDocument doc) {
  auto result = spec::compile_spec(std::move(doc), registry());
  for (const auto& d : result.diagnostics.errors) FAIL_CHECK(render(d, "en"));
  REQUIRE(result.ok());
  return result.ir;
}
}  // namespace

Json compile_ir(const std::string& yaml) { return compiled(spec::parse_spec(yaml, "test.yml")); }

Json compile_preset(const std::string& name) {
  return compiled(spec::load_spec_file(std::filesystem::path(EULERSTACK_TEST_PRESET_DIR) / (name + ".yml")));
}

std::vector<std::string> preset_names(bool mini) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(EULERSTACK_TEST_PRESET_DIR)) {
    if (entry.path().extension() != ".yml") continue;
    const std::string stem = entry.path().stem().string();
    const bool is_mini = stem.size() > 5 && stem.compare(stem.size() - 5, 5, "_mini") == 0;
    if (is_mini == mini) names.push_back(stem);
  }
  std::sort(names.begin(), names.end());
  return names;
}

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) { return testing::BlockBench::max_abs_diff(a, b); }

}  // namespace rt
