#include "eulerstack/testing/conformance.hpp"

#include <algorithm>
#include <functional>
#include <sstream>

#include <ATen/ATen.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include "eulerstack/messages.hpp"

namespace eulerstack::testing {
namespace {

constexpr double kCacheTolerance = 1e-4;

std::string check_id(const char* name) { return std::string("plugins.check_") + name; }

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

std::string shape_of(const at::Tensor& t) {
  std::ostringstream out;
  out << t.sizes();
  return out.str();
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

at::Tensor random_input(std::int64_t batch, std::int64_t length, std::int64_t d, std::uint64_t seed) {
  at::Generator g = at::detail::createCPUGenerator(seed);
  return at::randn({batch, length, d}, g, at::TensorOptions().dtype(at::kFloat));
}

bool finite(const at::Tensor& t) { return at::isfinite(t).all().item<bool>(); }

// Three rows of 10 slots with padding in every place a collator or a generator
// puts it: on the left (3 slots), on the right (2) and one in the middle. The
// inputs at padding slots are random too: a block must ignore them.
struct PaddedBatch {
  at::Tensor x;          // [3, 10, d]
  at::Tensor ids;        // [3, 10] token ids
  at::Tensor real;       // [3, 10] bool
  at::Tensor positions;  // [3, 10]: real tokens counted, padding at 1
  std::vector<at::Tensor> slots;  // per row: the slots of its real tokens, in order

  static PaddedBatch make(std::int64_t d, std::uint64_t seed) {
    PaddedBatch batch;
    const std::int64_t T = 10;
    batch.x = random_input(3, T, d, seed);
    at::Generator g = at::detail::createCPUGenerator(seed + 1);
    batch.ids = at::randint(97, {3, T}, g, at::TensorOptions().dtype(at::kLong));
    batch.real = at::ones({3, T}, at::TensorOptions().dtype(at::kBool));
    batch.real[0].narrow(0, 0, 3).fill_(false);
    batch.real[1].narrow(0, T - 2, 2).fill_(false);
    batch.real[2][4] = false;
    batch.positions = (batch.real.to(at::kLong).cumsum(1) - 1).masked_fill(batch.real.logical_not(), 1);
    for (std::int64_t r = 0; r < 3; ++r) batch.slots.push_back(batch.real[r].nonzero().squeeze(1));
    return batch;
  }
  std::int64_t rows() const { return 3; }
  std::int64_t length(std::int64_t row) const { return slots[row].size(0); }
  // Row `row`'s real tokens alone: [1, n, ...].
  at::Tensor alone(const at::Tensor& t, std::int64_t row) const { return t[row].index_select(0, slots[row]).unsqueeze(0); }
  MixerInput input(PositionalModule& positional, LayerCache* cache = nullptr) const {
    MixerInput in;
    in.positions = positions;
    in.positional = &positional;
    in.cache = cache;
    in.padding_mask = real;
    return in;
  }
};

// Collects the results of one block's checks; a check is a function returning
// its failure, if any. After a failed check that threw, the block's remaining
// checks are skipped (they would fail for the same reason).
class BlockChecks {
 public:
  BlockChecks(std::vector<ConformanceResult>& out, const BlockEntry& entry) : out_(out), entry_(entry) {}

  void run(const char* name, const std::function<std::optional<Diagnostic>()>& check) {
    if (stopped_) return;
    std::optional<Diagnostic> failure;
    try {
      failure = check();
    } catch (const Error& e) {
      failure = fail("conformance.threw", {{"check", name}, {"reason", message_text("en", e.first().id, "msg", e.first().args)}});
      stopped_ = true;
    } catch (const std::exception& e) {
      failure = fail("conformance.threw", {{"check", name}, {"reason", e.what()}});
      stopped_ = true;
    }
    out_.push_back({entry_.kind, entry_.schema->name, entry_.plugin->name, check_id(name), std::move(failure)});
  }

  Diagnostic fail(const char* id, MessageArgs args = {}) const {
    args["kind"] = to_string(entry_.kind);
    args["block"] = entry_.schema->name;
    args["plugin"] = entry_.plugin->name;
    return make_error("ConformanceError", id, std::move(args));
  }

  std::optional<Diagnostic> counts(std::int64_t module, std::int64_t formula) const {
    if (module == formula) return std::nullopt;
    return fail("conformance.count_mismatch", {{"module", std::to_string(module)}, {"formula", std::to_string(formula)}});
  }

  std::optional<Diagnostic> output(const at::Tensor& y, at::IntArrayRef expected) const {
    if (y.sizes() != expected) {
      std::ostringstream want;
      want << expected;
      return fail("conformance.bad_shape", {{"actual", shape_of(y)}, {"expected", want.str()}});
    }
    if (!finite(y)) return fail("conformance.not_finite");
    return std::nullopt;
  }

  std::optional<Diagnostic> padding(double diff, const char* part) const {
    if (diff < kCacheTolerance) return std::nullopt;
    return fail("conformance.padding_mismatch",
                {{"diff", std::to_string(diff)}, {"limit", std::to_string(kCacheTolerance)}, {"part", part}});
  }

  std::optional<Diagnostic> gradients(torch::nn::Module& module) const {
    for (const auto& p : module.named_parameters())
      if (!p.value().grad().defined() || !finite(p.value().grad()))
        return fail("conformance.no_gradient", {{"param", p.key()}});
    return std::nullopt;
  }

  std::optional<Diagnostic> defaults_accepted(const Json& model, const Json& block) const {
    if (!entry_.schema->cross_check) return std::nullopt;
    BlockContext context;
    context.model = model;
    context.params = block["params"];
    for (const auto& issue : entry_.schema->cross_check(context)) {
      if (issue.warning) continue;
      MessageArgs args = issue.args;  // the plugin's message, rendered in place of {reason}
      args["reason_id"] = issue.id;
      args["param"] = issue.param;
      return fail("conformance.defaults_rejected", std::move(args));
    }
    return std::nullopt;
  }

 private:
  std::vector<ConformanceResult>& out_;
  const BlockEntry& entry_;
  bool stopped_ = false;
};

// A padded batch against each row alone: the outputs at the real tokens, and
// one more token per row after a padded prefill into the cache.
std::optional<Diagnostic> mixer_padding(const BlockChecks& checks, MixerModule& mixer, PositionalModule& none,
                                        std::int64_t d) {
  at::NoGradGuard no_grad;
  mixer.eval();
  const PaddedBatch batch = PaddedBatch::make(d, 11);
  const at::Tensor next = random_input(batch.rows(), 1, d, 12);
  const at::Tensor y = mixer.forward(batch.x, batch.input(none));
  auto cache = mixer.new_cache();
  mixer.forward(batch.x, batch.input(none, cache.get()));
  MixerInput step;
  step.positions = batch.real.to(at::kLong).sum(1, /*keepdim=*/true);  // [3, 1]: each row's next position
  step.positional = &none;
  step.cache = cache.get();
  const at::Tensor continued = mixer.forward(next, step);
  double forward_diff = 0.0, cache_diff = 0.0;
  for (std::int64_t r = 0; r < batch.rows(); ++r) {
    const std::int64_t n = batch.length(r);
    const at::Tensor alone = mixer.forward(batch.alone(batch.x, r), BlockBench::mixer_input(none, 0, n));
    forward_diff = std::max(forward_diff, BlockBench::max_abs_diff(batch.alone(y, r), alone));
    auto own = mixer.new_cache();
    mixer.forward(batch.alone(batch.x, r), BlockBench::mixer_input(none, 0, n, own.get()));
    const at::Tensor own_next = mixer.forward(next.narrow(0, r, 1), BlockBench::mixer_input(none, n, 1, own.get()));
    cache_diff = std::max(cache_diff, BlockBench::max_abs_diff(continued.narrow(0, r, 1), own_next));
  }
  if (auto failure = checks.padding(forward_diff, "forward")) return failure;
  return checks.padding(cache_diff, "cache");
}

// A padded batch against each row alone: the outputs at the real tokens, and
// the aux loss of each padded row against the row alone.
std::optional<Diagnostic> ffn_padding(const BlockChecks& checks, FfnModule& ffn, std::int64_t d) {
  at::NoGradGuard no_grad;
  const PaddedBatch batch = PaddedBatch::make(d, 13);
  const at::Tensor y = ffn.forward(batch.x, {batch.ids, batch.real}).hidden;
  double forward_diff = 0.0, loss_diff = 0.0;
  for (std::int64_t r = 0; r < batch.rows(); ++r) {
    const FfnOutput alone = ffn.forward(batch.alone(batch.x, r), {batch.alone(batch.ids, r)});
    forward_diff = std::max(forward_diff, BlockBench::max_abs_diff(batch.alone(y, r), alone.hidden));
    const FfnOutput padded =
        ffn.forward(batch.x.narrow(0, r, 1), {batch.ids.narrow(0, r, 1), batch.real.narrow(0, r, 1)});
    if (alone.aux_loss.defined() != padded.aux_loss.defined()) return checks.padding(1.0, "aux_loss");
    if (alone.aux_loss.defined())
      loss_diff = std::max(loss_diff, BlockBench::max_abs_diff(padded.aux_loss, alone.aux_loss));
  }
  if (auto failure = checks.padding(forward_diff, "forward")) return failure;
  return checks.padding(loss_diff, "aux_loss");
}

void check_mixer(const BlockBench& bench, const BlockEntry& entry, std::vector<ConformanceResult>& out) {
  BlockChecks checks(out, entry);
  const auto model = BlockBench::model_section();
  const std::int64_t d = model["d_model"].get<std::int64_t>();
  const std::string name = entry.schema->name;
  const auto params = mandatory_examples(entry);
  const auto block = bench.block_ir(BlockKind::Mixer, name, params);
  std::shared_ptr<PositionalModule> none;
  std::shared_ptr<MixerModule> mixer;
  checks.run("cross_check", [&] { return checks.defaults_accepted(model, block); });
  checks.run("count", [&] {
    none = bench.make_positional(model, "none");
    mixer = bench.make_mixer(model, name, params, 1);
    return checks.counts(BlockBench::parameter_count(*mixer), bench.formula_count(BlockKind::Mixer, model, block));
  });
  const auto x = random_input(2, 12, d, 3).requires_grad_(true);
  checks.run("forward", [&] {
    const auto y = mixer->forward(x, BlockBench::mixer_input(*none, 0, 12));
    auto failure = checks.output(y, x.sizes());
    if (!failure) y.pow(2).mean().backward();
    return failure;
  });
  checks.run("gradients", [&] { return checks.gradients(*mixer); });
  at::Tensor full;
  checks.run("cache", [&] {
    at::NoGradGuard no_grad;
    mixer->eval();
    full = mixer->forward(x, BlockBench::mixer_input(*none, 0, 12));
    auto cache = mixer->new_cache();
    std::vector<at::Tensor> pieces{mixer->forward(x.narrow(1, 0, 7), BlockBench::mixer_input(*none, 0, 7, cache.get()))};
    for (std::int64_t t = 7; t < 12; ++t)
      pieces.push_back(mixer->forward(x.narrow(1, t, 1), BlockBench::mixer_input(*none, t, 1, cache.get())));
    const double diff = BlockBench::max_abs_diff(full, at::cat(pieces, 1));
    if (diff < kCacheTolerance) return std::optional<Diagnostic>();
    return std::optional<Diagnostic>(checks.fail("conformance.cache_mismatch",
                                                 {{"diff", std::to_string(diff)}, {"limit", std::to_string(kCacheTolerance)}}));
  });
  checks.run("padding", [&] { return mixer_padding(checks, *mixer, *none, d); });
  checks.run("reload", [&] {
    at::NoGradGuard no_grad;
    auto copy = bench.make_mixer(model, name, params, 99);
    load_serialized(*copy, serialized(*mixer));
    copy->eval();
    if (at::equal(copy->forward(x, BlockBench::mixer_input(*none, 0, 12)), full)) return std::optional<Diagnostic>();
    return std::optional<Diagnostic>(checks.fail("conformance.reload_mismatch"));
  });
}

void check_ffn(const BlockBench& bench, const BlockEntry& entry, std::vector<ConformanceResult>& out) {
  BlockChecks checks(out, entry);
  const auto model = BlockBench::model_section();
  const std::int64_t d = model["d_model"].get<std::int64_t>();
  const std::string name = entry.schema->name;
  const auto params = mandatory_examples(entry);
  const auto block = bench.block_ir(BlockKind::Ffn, name, params);
  std::shared_ptr<FfnModule> ffn;
  checks.run("cross_check", [&] { return checks.defaults_accepted(model, block); });
  checks.run("count", [&] {
    ffn = bench.make_ffn(model, name, params, 1);
    return checks.counts(BlockBench::parameter_count(*ffn), bench.formula_count(BlockKind::Ffn, model, block));
  });
  const auto x = random_input(2, 12, d, 4).requires_grad_(true);
  const auto ids = at::zeros({2, 12}, at::TensorOptions().dtype(at::kLong));
  checks.run("forward", [&] {
    const auto result = ffn->forward(x, {ids});
    auto failure = checks.output(result.hidden, x.sizes());
    if (failure) return failure;
    auto loss = result.hidden.pow(2).mean();
    if (result.aux_loss.defined()) {
      if (result.aux_loss.dim() != 0) return std::optional<Diagnostic>(checks.output(result.aux_loss, {}));
      loss = loss + result.aux_loss;
    }
    loss.backward();
    return std::optional<Diagnostic>();
  });
  checks.run("padding", [&] {
    ffn->eval();
    return ffn_padding(checks, *ffn, d);
  });
  checks.run("reload", [&] {
    at::NoGradGuard no_grad;
    ffn->eval();
    auto copy = bench.make_ffn(model, name, params, 99);
    load_serialized(*copy, serialized(*ffn));
    copy->eval();
    if (at::equal(copy->forward(x, {ids}).hidden, ffn->forward(x, {ids}).hidden)) return std::optional<Diagnostic>();
    return std::optional<Diagnostic>(checks.fail("conformance.reload_mismatch"));
  });
}

// Routers are built through an FFN block that references routers (the first one loaded).
void check_router(const BlockBench& bench, const BlockEntry& entry, std::vector<ConformanceResult>& out) {
  BlockChecks checks(out, entry);
  const auto model = BlockBench::model_section();
  const std::int64_t d = model["d_model"].get<std::int64_t>();
  checks.run("routing", [&]() -> std::optional<Diagnostic> {
    const BlockEntry* parent = nullptr;
    std::string ref_param;
    for (const auto& ffn : bench.registry().entries(BlockKind::Ffn))
      for (const auto& spec : ffn.schema->params)
        if (spec.refers_to == "router" && !parent) parent = bench.registry().find(BlockKind::Ffn, ffn.schema->name), ref_param = spec.name;
    if (!parent) return checks.fail("conformance.no_router_parent");
    Json params = mandatory_examples(*parent);
    params[ref_param] = entry.schema->name;
    const auto block = bench.block_ir(BlockKind::Ffn, parent->schema->name, params);
    auto context = bench.module_context(model);
    context.block.params = block["params"];
    auto router = bench.catalog().make_router(block["refs"][ref_param], context);
    initialize_parameters(*router, 5);
    Json merged = block["refs"][ref_param];
    for (const auto& [key, value] : block["params"].items()) merged["params"][key] = value;
    BlockContext counted;
    counted.model = model;
    counted.params = merged["params"];
    if (auto failure = checks.counts(BlockBench::parameter_count(*router), entry.schema->count_params(counted)))
      return failure;

    const std::int64_t experts = block["params"]["experts"].get<std::int64_t>();
    const auto x = random_input(1, 10, d, 6).reshape({10, d});
    RoutingRequest request;
    request.top_k = 1;
    request.token_ids = at::arange(10, at::TensorOptions().dtype(at::kLong));
    const auto routing = router->route(x, request);
    auto invalid = [&](const char* reason) { return checks.fail("conformance.routing_invalid", {{"reason", reason}}); };
    if (routing.weights.sizes() != at::IntArrayRef({10, 1}) || routing.experts.sizes() != at::IntArrayRef({10, 1}))
      return invalid("weights and experts must be [N, top_k]");
    if (routing.experts.min().item<std::int64_t>() < 0 || routing.experts.max().item<std::int64_t>() >= experts)
      return invalid("expert indices outside [0, experts)");
    if (routing.probs.sizes() != at::IntArrayRef({10, experts})) return invalid("probs must be [N, experts]");
    if (BlockBench::max_abs_diff(routing.probs.sum(-1), at::ones({10})) >= 1e-5)
      return invalid("each row of probs must sum to 1");
    routing.weights.sum().backward();
    return checks.gradients(*router);
  });
}

void check_positional(const BlockBench& bench, const BlockEntry& entry, std::vector<ConformanceResult>& out) {
  BlockChecks checks(out, entry);
  const auto model = BlockBench::model_section();
  const std::int64_t d = model["d_model"].get<std::int64_t>();
  const std::int64_t heads = model["n_heads"].get<std::int64_t>();
  const std::int64_t head_dim = d / heads;
  const std::string name = entry.schema->name;
  const auto params = mandatory_examples(entry);
  const auto block = bench.block_ir(BlockKind::Positional, name, params);
  std::shared_ptr<PositionalModule> positional;
  checks.run("cross_check", [&] { return checks.defaults_accepted(model, block); });
  checks.run("count", [&] {
    positional = bench.make_positional(model, name, params);
    return checks.counts(BlockBench::parameter_count(*positional),
                         bench.formula_count(BlockKind::Positional, model, block));
  });
  checks.run("shapes", [&]() -> std::optional<Diagnostic> {
    const auto positions = at::arange(3, 11, at::TensorOptions().dtype(at::kLong));
    if (auto table = positional->embed(positions); table.defined())
      if (auto failure = checks.output(table, {8, d})) return failure;
    const auto q = random_input(2 * heads, 8, head_dim, 1).reshape({2, heads, 8, head_dim});
    const auto k = random_input(2 * 2, 8, head_dim, 2).reshape({2, 2, 8, head_dim});
    const auto [rq, rk] = positional->rotate(q, k, positions);
    if (auto failure = checks.output(rq, q.sizes())) return failure;
    if (auto failure = checks.output(rk, k.sizes())) return failure;
    if (auto bias = positional->attention_bias(heads, positions, positions); bias.defined())
      return checks.output(bias, {heads, 8, 8});
    return std::nullopt;
  });
}

}  // namespace

std::vector<ConformanceResult> run_conformance(const BlockBench& bench, const std::vector<std::string>& plugins) {
  std::vector<ConformanceResult> out;
  auto chosen = [&](const BlockEntry& entry) {
    return plugins.empty() || std::find(plugins.begin(), plugins.end(), entry.plugin->name) != plugins.end();
  };
  const std::pair<BlockKind, void (*)(const BlockBench&, const BlockEntry&, std::vector<ConformanceResult>&)> suites[] = {
      {BlockKind::Mixer, check_mixer},
      {BlockKind::Ffn, check_ffn},
      {BlockKind::Router, check_router},
      {BlockKind::Positional, check_positional},
  };
  for (const auto& [kind, suite] : suites)
    for (const auto& listed : bench.registry().entries(kind))
      if (chosen(listed)) suite(bench, *bench.registry().find(kind, listed.schema->name), out);
  return out;
}

}  // namespace eulerstack::testing
