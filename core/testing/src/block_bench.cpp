#include "eulerstack/testing/block_bench.hpp"

#include <stdexcept>

#include <ATen/ATen.h>

namespace eulerstack::testing {
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
  throw std::invalid_argument("no block kind " + kind);
}

const BlockEntry& entry_of(const Registry& registry, BlockKind kind, const std::string& type) {
  const BlockEntry* entry = registry.find(kind, type);
  if (!entry) throw std::invalid_argument(std::string("no ") + to_string(kind) + " block named " + type);
  return *entry;
}

}  // namespace

BlockBench::BlockBench(const Registry& registry) : registry_(registry), catalog_(registry) {}

Json BlockBench::model_section(const Json& changes) {
  Json model = {{"name", "test"}, {"d_model", 64}, {"vocab_size", 97}, {"max_seq_len", 256}, {"n_heads", 4},
                {"n_kv_heads", 2}, {"mlp_ratio", 2}, {"dtype", "float32"}};
  for (const auto& [key, value] : changes.items()) model[key] = value;
  return model;
}

Json BlockBench::block_ir(BlockKind kind, const std::string& type, const Json& params) const {
  const BlockEntry& entry = entry_of(registry_, kind, type);
  Json ir = entry_ir(entry, params);
  Json refs = Json::object();
  for (const auto& spec : entry.schema->params) {
    if (spec.refers_to.empty()) continue;
    const auto ref_type = ir["params"][spec.name].get<std::string>();
    refs[spec.name] = entry_ir(entry_of(registry_, kind_named(spec.refers_to), ref_type), Json::object());
    refs[spec.name]["kind"] = spec.refers_to;
  }
  if (!refs.empty()) ir["refs"] = refs;
  return ir;
}

ModuleContext BlockBench::module_context(const Json& model, std::int64_t n_layers, at::ScalarType dtype) const {
  ModuleContext context;
  context.block.model = model;
  context.n_layers = n_layers;
  context.options = at::TensorOptions().dtype(dtype);
  context.builder = &catalog_;
  return context;
}

std::shared_ptr<MixerModule> BlockBench::make_mixer(const Json& model, const std::string& type, const Json& params,
                                                    std::uint64_t seed) const {
  auto module = catalog_.make_mixer(block_ir(BlockKind::Mixer, type, params), module_context(model));
  if (!module) throw std::logic_error("the factory of mixer " + type + " returned no module");
  initialize_parameters(*module, seed);
  return module;
}

std::shared_ptr<FfnModule> BlockBench::make_ffn(const Json& model, const std::string& type, const Json& params,
                                                std::uint64_t seed) const {
  auto module = catalog_.make_ffn(block_ir(BlockKind::Ffn, type, params), module_context(model));
  if (!module) throw std::logic_error("the factory of ffn " + type + " returned no module");
  initialize_parameters(*module, seed);
  return module;
}

std::shared_ptr<PositionalModule> BlockBench::make_positional(const Json& model, const std::string& type,
                                                              const Json& params, std::uint64_t seed) const {
  auto module = catalog_.make_positional(block_ir(BlockKind::Positional, type, params), module_context(model));
  if (!module) throw std::logic_error("the factory of positional " + type + " returned no module");
  initialize_parameters(*module, seed);
  return module;
}

std::int64_t BlockBench::formula_count(BlockKind kind, const Json& model, const Json& block) const {
  auto context = [&](const Json& ir) {
    BlockContext c;
    c.model = model;
    c.params = ir.at("params");
    return c;
  };
  std::int64_t total = entry_of(registry_, kind, block.at("type").get<std::string>()).schema->count_params(context(block));
  const Json refs = block.value("refs", Json::object());  // the loop below must not iterate a temporary
  for (const auto& [name, ref] : refs.items()) {
    Json merged = ref;
    for (const auto& [key, value] : block.at("params").items()) merged["params"][key] = value;
    total += entry_of(registry_, kind_named(ref.at("kind")), ref.at("type").get<std::string>())
                 .schema->count_params(context(merged));
  }
  return total;
}

std::int64_t BlockBench::parameter_count(torch::nn::Module& module) {
  std::int64_t total = 0;
  for (const auto& p : module.parameters()) total += p.numel();
  return total;
}

MixerInput BlockBench::mixer_input(PositionalModule& positional, std::int64_t offset, std::int64_t length,
                                   LayerCache* cache) {
  MixerInput input;
  input.positions = at::arange(offset, offset + length, at::TensorOptions().dtype(at::kLong));
  input.positional = &positional;
  input.cache = cache;
  return input;
}

double BlockBench::max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kFloat) - b.to(at::kFloat)).abs().max().item<double>();
}

}  // namespace eulerstack::testing
