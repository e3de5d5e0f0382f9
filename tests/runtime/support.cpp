#include "support.hpp"

#include <algorithm>
#include <filesystem>

#include <ATen/ATen.h>

#include "eulerstack/messages.hpp"
#include "eulerstack/plugin_host.hpp"
#include "eulerstack/spec/frontend.hpp"
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

const ModuleCatalog& catalog() {
  static ModuleCatalog* instance = new ModuleCatalog(registry());
  return *instance;
}

Json model_section(const Json& changes) {
  Json model = {{"name", "test"}, {"d_model", 64}, {"vocab_size", 97}, {"max_seq_len", 256}, {"n_heads", 4},
                {"n_kv_heads", 2}, {"mlp_ratio", 2}, {"dtype", "float32"}};
  for (const auto& [key, value] : changes.items()) model[key] = value;
  return model;
}

namespace {

void merge(Json& into, const Json& changes) {
  for (const auto& [key, value] : changes.items()) {
    if (value.is_object() && into.contains(key) && into[key].is_object()) merge(into[key], value);
    else into[key] = value;
  }
}

Json entry_ir(const BlockEntry& entry, const Json& params) {
  Json ir = {{"type", entry.schema->name}, {"plugin", entry.plugin->name}, {"plugin_version", entry.plugin->version}};
  Json p = defaults_of(entry.schema->params);
  merge(p, defaults_of(entry.schema->inline_params));
  merge(p, params);
  ir["params"] = p;
  return ir;
}

BlockKind kind_named(const std::string& kind) {
  for (BlockKind k : kAllBlockKinds)
    if (kind == to_string(k)) return k;
  throw std::logic_error("no block kind " + kind);
}

template <class Module, class Make>
std::shared_ptr<Module> make_block(BlockKind kind, const Json& model, const std::string& type, const Json& params,
                                   std::uint64_t seed, Make make) {
  auto module = make(block_ir(kind, type, params), module_context(model));
  REQUIRE(module);
  initialize_parameters(*module, seed);
  return module;
}

}  // namespace

Json block_ir(BlockKind kind, const std::string& type, const Json& params) {
  const BlockEntry* entry = registry().find(kind, type);
  REQUIRE_MESSAGE(entry, "no " << to_string(kind) << " block named " << type);
  Json ir = entry_ir(*entry, params);
  Json refs = Json::object();
  for (const auto& spec : entry->schema->params) {
    if (spec.refers_to.empty()) continue;
    const auto ref_type = ir["params"][spec.name].get<std::string>();
    const BlockEntry* ref = registry().find(kind_named(spec.refers_to), ref_type);
    REQUIRE_MESSAGE(ref, "no " << spec.refers_to << " block named " << ref_type);
    refs[spec.name] = entry_ir(*ref, Json::object());
    refs[spec.name]["kind"] = spec.refers_to;
  }
  if (!refs.empty()) ir["refs"] = refs;
  return ir;
}

ModuleContext module_context(const Json& model, std::int64_t n_layers, at::ScalarType dtype) {
  ModuleContext context;
  context.block.model = model;
  context.n_layers = n_layers;
  context.options = at::TensorOptions().dtype(dtype);
  context.builder = &catalog();
  return context;
}

std::shared_ptr<MixerModule> make_mixer(const Json& model, const std::string& type, const Json& params,
                                        std::uint64_t seed) {
  return make_block<MixerModule>(BlockKind::Mixer, model, type, params, seed,
                                 [](const Json& ir, const ModuleContext& c) { return catalog().make_mixer(ir, c); });
}

std::shared_ptr<FfnModule> make_ffn(const Json& model, const std::string& type, const Json& params,
                                    std::uint64_t seed) {
  return make_block<FfnModule>(BlockKind::Ffn, model, type, params, seed,
                               [](const Json& ir, const ModuleContext& c) { return catalog().make_ffn(ir, c); });
}

std::shared_ptr<PositionalModule> make_positional(const Json& model, const std::string& type, const Json& params,
                                                  std::uint64_t seed) {
  return make_block<PositionalModule>(
      BlockKind::Positional, model, type, params, seed,
      [](const Json& ir, const ModuleContext& c) { return catalog().make_positional(ir, c); });
}

std::int64_t formula_count(BlockKind kind, const Json& model, const Json& block) {
  auto context = [&](const Json& ir) {
    BlockContext c;
    c.model = model;
    c.params = ir.at("params");
    return c;
  };
  std::int64_t total = registry().find(kind, block.at("type").get<std::string>())->schema->count_params(context(block));
  const Json refs = block.value("refs", Json::object());  // the loop below must not iterate a temporary
  for (const auto& [name, ref] : refs.items()) {
    Json merged = ref;
    for (const auto& [key, value] : block.at("params").items()) merged["params"][key] = value;
    total += registry().find(kind_named(ref.at("kind")), ref.at("type").get<std::string>())->schema->count_params(context(merged));
  }
  return total;
}

std::int64_t parameter_count(torch::nn::Module& module) {
  std::int64_t total = 0;
  for (const auto& p : module.parameters()) total += p.numel();
  return total;
}

MixerInput mixer_input(PositionalModule& positional, std::int64_t offset, std::int64_t length, LayerCache* cache) {
  MixerInput input;
  input.positions = at::arange(offset, offset + length, at::TensorOptions().dtype(at::kLong));
  input.positional = &positional;
  input.cache = cache;
  return input;
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

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kFloat) - b.to(at::kFloat)).abs().max().item<double>();
}

}  // namespace rt
