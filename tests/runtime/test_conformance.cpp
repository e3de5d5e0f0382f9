// The conformance suite: every block type any loaded plugin registers is
// built with its defaults and checked for what the model assembly relies on.
// A new plugin gets these checks without writing a test.

#include <sstream>

#include <ATen/ATen.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include "support.hpp"

namespace {

using eulerstack::BlockEntry;
using eulerstack::BlockKind;
using eulerstack::Json;
using eulerstack::ParamSpec;
using eulerstack::ParamType;

// A value for a mandatory parameter without a default: 2 (or the nearest
// allowed value) for numbers, the first choice for enums.
Json example_value(const ParamSpec& spec) {
  switch (spec.type) {
    case ParamType::Int:
    case ParamType::Float: {
      double v = 2.0;
      if (spec.min && v < *spec.min) v = *spec.min + (spec.min_exclusive ? 1.0 : 0.0);
      if (spec.max && v > *spec.max) v = *spec.max;
      return spec.type == ParamType::Int ? Json(static_cast<long long>(v)) : Json(v);
    }
    case ParamType::Enum: return spec.choices.front();
    case ParamType::Bool: return false;
    default: return "";
  }
}

Json mandatory_examples(const BlockEntry& entry) {
  Json params = Json::object();
  for (const auto* list : {&entry.schema->params, &entry.schema->inline_params})
    for (const auto& spec : *list)
      if (spec.required && spec.default_value.is_null()) params[spec.name] = example_value(spec);
  return params;
}

void check_cross_field(BlockKind kind, const Json& model, const Json& block) {
  const auto* entry = rt::registry().find(kind, block["type"].get<std::string>());
  if (!entry->schema->cross_check) return;
  eulerstack::BlockContext context;
  context.model = model;
  context.params = block["params"];
  for (const auto& issue : entry->schema->cross_check(context))
    CHECK_MESSAGE(issue.warning, "the defaults fail the plugin's own check: " << issue.param << ": " << issue.message);
}

std::string serialized(torch::nn::Module& module) {
  torch::serialize::OutputArchive archive;
  module.save(archive);
  std::ostringstream out;
  archive.save_to(out);
  return out.str();
}

void load_serialized(torch::nn::Module& module, const std::string& bytes) {
  torch::serialize::InputArchive archive;
  std::istringstream in(bytes);
  archive.load_from(in);
  module.load(archive);
}

void check_gradients(torch::nn::Module& module) {
  for (const auto& p : module.named_parameters()) {
    CAPTURE(p.key());
    REQUIRE(p.value().grad().defined());
    CHECK(at::isfinite(p.value().grad()).all().item<bool>());
  }
}

at::Tensor random_input(std::int64_t batch, std::int64_t length, std::int64_t d, std::uint64_t seed) {
  at::Generator g = at::detail::createCPUGenerator(seed);
  return at::randn({batch, length, d}, g, at::TensorOptions().dtype(at::kFloat));
}

std::vector<const BlockEntry*> entries(BlockKind kind) {
  std::vector<const BlockEntry*> out;
  for (const auto& entry : rt::registry().entries(kind)) out.push_back(rt::registry().find(kind, entry.schema->name));
  REQUIRE_FALSE(out.empty());
  return out;
}

}  // namespace

TEST_CASE("conformance: every mixer") {
  const auto model = rt::model_section();
  const std::int64_t d = model["d_model"].get<std::int64_t>();
  auto none = rt::make_positional(model, "none");
  for (const auto* entry : entries(BlockKind::Mixer)) {
    const std::string name = entry->schema->name;
    CAPTURE(name);
    const auto params = mandatory_examples(*entry);
    const auto block = rt::block_ir(BlockKind::Mixer, name, params);
    check_cross_field(BlockKind::Mixer, model, block);
    auto mixer = rt::make_mixer(model, name, params, 1);
    CHECK(rt::parameter_count(*mixer) == rt::formula_count(BlockKind::Mixer, model, block));

    const auto x = random_input(2, 12, d, 3).requires_grad_(true);
    const auto y = mixer->forward(x, rt::mixer_input(*none, 0, 12));
    REQUIRE(y.sizes() == x.sizes());
    CHECK(at::isfinite(y).all().item<bool>());
    y.pow(2).mean().backward();
    check_gradients(*mixer);

    at::NoGradGuard no_grad;
    mixer->eval();
    const auto full = mixer->forward(x, rt::mixer_input(*none, 0, 12));
    auto cache = mixer->new_cache();
    auto head = mixer->forward(x.narrow(1, 0, 7), rt::mixer_input(*none, 0, 7, cache.get()));
    std::vector<at::Tensor> pieces{head};
    for (std::int64_t t = 7; t < 12; ++t)
      pieces.push_back(mixer->forward(x.narrow(1, t, 1), rt::mixer_input(*none, t, 1, cache.get())));
    CHECK(rt::max_abs_diff(full, at::cat(pieces, 1)) < 1e-4);

    auto copy = rt::make_mixer(model, name, params, 99);
    load_serialized(*copy, serialized(*mixer));
    copy->eval();
    CHECK(at::equal(copy->forward(x, rt::mixer_input(*none, 0, 12)), full));
  }
}

TEST_CASE("conformance: every FFN") {
  const auto model = rt::model_section();
  const std::int64_t d = model["d_model"].get<std::int64_t>();
  for (const auto* entry : entries(BlockKind::Ffn)) {
    const std::string name = entry->schema->name;
    CAPTURE(name);
    const auto params = mandatory_examples(*entry);
    const auto block = rt::block_ir(BlockKind::Ffn, name, params);
    check_cross_field(BlockKind::Ffn, model, block);
    auto ffn = rt::make_ffn(model, name, params, 1);
    CHECK(rt::parameter_count(*ffn) == rt::formula_count(BlockKind::Ffn, model, block));

    const auto x = random_input(2, 12, d, 4).requires_grad_(true);
    const auto ids = at::zeros({2, 12}, at::TensorOptions().dtype(at::kLong));
    const auto out = ffn->forward(x, {ids});
    REQUIRE(out.hidden.sizes() == x.sizes());
    CHECK(at::isfinite(out.hidden).all().item<bool>());
    auto loss = out.hidden.pow(2).mean();
    if (out.aux_loss.defined()) {
      CHECK(out.aux_loss.dim() == 0);
      loss = loss + out.aux_loss;
    }
    loss.backward();
    CHECK(x.grad().defined());

    at::NoGradGuard no_grad;
    ffn->eval();
    auto copy = rt::make_ffn(model, name, params, 99);
    load_serialized(*copy, serialized(*ffn));
    copy->eval();
    CHECK(at::equal(copy->forward(x, {ids}).hidden, ffn->forward(x, {ids}).hidden));
  }
}

TEST_CASE("conformance: every router, through an FFN block that references routers") {
  const auto model = rt::model_section();
  const std::int64_t d = model["d_model"].get<std::int64_t>();
  // The first FFN whose schema names a router supplies the parent parameters.
  const BlockEntry* parent = nullptr;
  std::string ref_param;
  for (const auto* entry : entries(BlockKind::Ffn))
    for (const auto& spec : entry->schema->params)
      if (spec.refers_to == "router" && !parent) parent = entry, ref_param = spec.name;
  REQUIRE(parent);
  for (const auto* entry : entries(BlockKind::Router)) {
    const std::string name = entry->schema->name;
    CAPTURE(name);
    Json params = mandatory_examples(*parent);
    params[ref_param] = name;
    const auto block = rt::block_ir(BlockKind::Ffn, parent->schema->name, params);
    auto context = rt::module_context(model);
    context.block.params = block["params"];
    auto router = rt::catalog().make_router(block["refs"][ref_param], context);
    eulerstack::initialize_parameters(*router, 5);
    Json merged = block["refs"][ref_param];
    for (const auto& [key, value] : block["params"].items()) merged["params"][key] = value;
    eulerstack::BlockContext counted;
    counted.model = model;
    counted.params = merged["params"];
    CHECK(rt::parameter_count(*router) == entry->schema->count_params(counted));

    const std::int64_t experts = block["params"]["experts"].get<std::int64_t>();
    const auto x = random_input(1, 10, d, 6).reshape({10, d});
    eulerstack::RoutingRequest request;
    request.top_k = 1;
    request.token_ids = at::arange(10, at::TensorOptions().dtype(at::kLong));
    const auto routing = router->route(x, request);
    CHECK(routing.weights.sizes() == at::IntArrayRef({10, 1}));
    CHECK(routing.experts.sizes() == at::IntArrayRef({10, 1}));
    CHECK(routing.experts.min().item<std::int64_t>() >= 0);
    CHECK(routing.experts.max().item<std::int64_t>() < experts);
    CHECK(routing.probs.sizes() == at::IntArrayRef({10, experts}));
    CHECK(rt::max_abs_diff(routing.probs.sum(-1), at::ones({10})) < 1e-5);
    routing.weights.sum().backward();
    check_gradients(*router);
  }
}

TEST_CASE("conformance: every positional scheme") {
  const auto model = rt::model_section();
  const std::int64_t d = model["d_model"].get<std::int64_t>();
  const std::int64_t heads = model["n_heads"].get<std::int64_t>();
  const std::int64_t head_dim = d / heads;
  for (const auto* entry : entries(BlockKind::Positional)) {
    const std::string name = entry->schema->name;
    CAPTURE(name);
    const auto params = mandatory_examples(*entry);
    const auto block = rt::block_ir(BlockKind::Positional, name, params);
    check_cross_field(BlockKind::Positional, model, block);
    auto positional = rt::make_positional(model, name, params);
    CHECK(rt::parameter_count(*positional) == rt::formula_count(BlockKind::Positional, model, block));
    const auto positions = at::arange(3, 11, at::TensorOptions().dtype(at::kLong));
    if (auto table = positional->embed(positions); table.defined()) CHECK(table.sizes() == at::IntArrayRef({8, d}));
    const auto q = random_input(2 * heads, 8, head_dim, 1).reshape({2, heads, 8, head_dim});
    const auto k = random_input(2 * 2, 8, head_dim, 2).reshape({2, 2, 8, head_dim});
    const auto [rq, rk] = positional->rotate(q, k, positions);
    CHECK(rq.sizes() == q.sizes());
    CHECK(rk.sizes() == k.sizes());
    if (auto bias = positional->attention_bias(heads, positions, positions); bias.defined())
      CHECK(bias.sizes() == at::IntArrayRef({heads, 8, 8}));
  }
}
