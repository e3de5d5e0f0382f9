#pragma once
// Test helpers for plugin authors (SDK, libeulerstack_testing): build one block
// from a registry the way a model would, with its schema defaults, seeded
// weights and the plugin's own count formula beside it.
//
//   eulerstack::Registry registry;
//   eulerstack::load_plugins(registry, {{"build", "tests"}});   // plugin_host.hpp, or add blocks in-process
//   eulerstack::testing::BlockBench bench(registry);
//   auto model = bench.model_section();
//   auto mixer = bench.make_mixer(model, "my_mixer", {{"width", 3}});
//   CHECK(bench.parameter_count(*mixer) == bench.formula_count(BlockKind::Mixer, model,
//                                                               bench.block_ir(BlockKind::Mixer, "my_mixer", {{"width", 3}})));

#include <cstdint>
#include <memory>
#include <string>

#include "eulerstack/registry.hpp"
#include "eulerstack/runtime/initialize.hpp"
#include "eulerstack/runtime/interfaces.hpp"
#include "eulerstack/runtime/module_catalog.hpp"

namespace eulerstack::testing {

class BlockBench {
 public:
  // Blocks come from `registry`; module libraries are opened on first use.
  explicit BlockBench(const Registry& registry);

  const Registry& registry() const { return registry_; }
  const ModuleCatalog& catalog() const { return catalog_; }
  ModuleCatalog& catalog() { return catalog_; }

  // A small model section (d_model 64, 4 heads, 2 KV heads, vocab 97,
  // max_seq_len 256, mlp_ratio 2, float32) with `changes` merged in.
  static Json model_section(const Json& changes = Json::object());

  // The IR entry of one block: {"type", "plugin", "plugin_version", "params", "refs"},
  // its schema's defaults overridden by `params`; referenced blocks (a router)
  // get entries under "refs". Throws std::invalid_argument for an unknown block.
  Json block_ir(BlockKind kind, const std::string& type, const Json& params = Json::object()) const;

  // What a model passes to a block's factory.
  ModuleContext module_context(const Json& model, std::int64_t n_layers = 2, at::ScalarType dtype = at::kFloat) const;

  // Built from block_ir(...) and initialised from `seed`.
  std::shared_ptr<MixerModule> make_mixer(const Json& model, const std::string& type,
                                          const Json& params = Json::object(), std::uint64_t seed = 7) const;
  std::shared_ptr<FfnModule> make_ffn(const Json& model, const std::string& type, const Json& params = Json::object(),
                                      std::uint64_t seed = 7) const;
  std::shared_ptr<PositionalModule> make_positional(const Json& model, const std::string& type,
                                                    const Json& params = Json::object(), std::uint64_t seed = 7) const;

  // The plugin's count formula for a block IR entry, its referenced blocks included.
  std::int64_t formula_count(BlockKind kind, const Json& model, const Json& block) const;

  // Elements of every parameter of a module (shared ones once).
  static std::int64_t parameter_count(torch::nn::Module& module);

  // MixerInput for tokens [offset, offset + length).
  static MixerInput mixer_input(PositionalModule& positional, std::int64_t offset, std::int64_t length,
                                LayerCache* cache = nullptr);

  // max |a - b| in float32.
  static double max_abs_diff(const at::Tensor& a, const at::Tensor& b);

 private:
  const Registry& registry_;
  ModuleCatalog catalog_;
};

}  // namespace eulerstack::testing
