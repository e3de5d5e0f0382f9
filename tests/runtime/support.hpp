#pragma once
// Helpers for the runtime tests: the builtin plugins and their module
// libraries from the build tree, block IR with schema defaults, contexts,
// seeded initialisation and parameter counting.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "eulerstack/registry.hpp"
#include "eulerstack/runtime/initialize.hpp"
#include "eulerstack/runtime/interfaces.hpp"
#include "eulerstack/runtime/module_catalog.hpp"

namespace rt {

using eulerstack::BlockKind;
using eulerstack::Json;

// The builtin plugins of the build tree, loaded once per process.
const eulerstack::Registry& registry();
// Their module libraries, opened on first use.
const eulerstack::ModuleCatalog& catalog();

// A small model section (d_model 64, 4 heads, 2 KV heads, vocab 97,
// max_seq_len 256, mlp_ratio 2, float32) with `changes` merged in.
Json model_section(const Json& changes = Json::object());

// The IR entry of one block: {"type", "plugin", "plugin_version", "params", "refs"},
// its schema's defaults overridden by `params`; referenced blocks (a MoE's
// router) get their own entries under "refs".
Json block_ir(BlockKind kind, const std::string& type, const Json& params = Json::object());

// What a model would pass to the block's factory.
eulerstack::ModuleContext module_context(const Json& model, std::int64_t n_layers = 2,
                                         at::ScalarType dtype = at::kFloat);

std::shared_ptr<eulerstack::MixerModule> make_mixer(const Json& model, const std::string& type,
                                                    const Json& params = Json::object(), std::uint64_t seed = 7);
std::shared_ptr<eulerstack::FfnModule> make_ffn(const Json& model, const std::string& type,
                                                const Json& params = Json::object(), std::uint64_t seed = 7);
std::shared_ptr<eulerstack::PositionalModule> make_positional(const Json& model, const std::string& type,
                                                              const Json& params = Json::object(),
                                                              std::uint64_t seed = 7);

// The plugin's exact count formula for a block.
std::int64_t formula_count(BlockKind kind, const Json& model, const Json& block);
// Elements of every parameter (shared ones once).
std::int64_t parameter_count(torch::nn::Module& module);

// MixerInput for tokens [offset, offset + length).
eulerstack::MixerInput mixer_input(eulerstack::PositionalModule& positional, std::int64_t offset,
                                   std::int64_t length, eulerstack::LayerCache* cache = nullptr);

// The IR of a spec given as YAML text; fails the test with the diagnostics when invalid.
Json compile_ir(const std::string& yaml);

// The IR of a bundled preset (presets/<name>.yml).
Json compile_preset(const std::string& name);
// Names of the bundled presets, sorted; `mini` selects the *_mini ones or the full ones.
std::vector<std::string> preset_names(bool mini);

// max |a - b|, in float32.
double max_abs_diff(const at::Tensor& a, const at::Tensor& b);

}  // namespace rt
