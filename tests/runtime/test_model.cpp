// The assembled model over the bundled presets: exact parameter counts
// (mini presets built, full presets on the meta device), the public parameter
// names, deterministic initialisation, incremental decoding equal to a full
// forward, greedy generation, and a short training run whose loss must fall.

#include <set>

#include <ATen/ATen.h>
#include <torch/optim/adam.h>

#include "eulerstack/runtime/model.hpp"
#include "support.hpp"

namespace {

using eulerstack::BuildOptions;
using eulerstack::CausalLM;

std::shared_ptr<CausalLM> build(const eulerstack::Json& ir, at::ScalarType dtype = at::kFloat) {
  BuildOptions options;
  options.dtype = dtype;
  auto model = std::make_shared<CausalLM>(ir, rt::catalog(), options);
  model->initialize();
  return model;
}

std::set<std::string> parameter_names(torch::nn::Module& module) {
  std::set<std::string> names;
  for (const auto& p : module.named_parameters()) names.insert(p.key());
  return names;
}

at::Tensor random_tokens(std::int64_t vocab, std::int64_t batch, std::int64_t length, std::uint64_t seed) {
  at::Generator g = at::detail::createCPUGenerator(seed);
  return at::randint(vocab, {batch, length}, g, at::TensorOptions().dtype(at::kLong));
}

}  // namespace

TEST_CASE("every full preset builds on the meta device with exactly explain's parameter count") {
  for (const auto& name : rt::preset_names(/*mini=*/false)) {
    CAPTURE(name);
    const auto ir = rt::compile_preset(name);
    BuildOptions options;
    options.device = at::kMeta;
    CausalLM model(ir, rt::catalog(), options);
    CHECK(model.parameter_count() == ir["params"]["total"].get<std::int64_t>());
  }
}

TEST_CASE("every mini preset: built count equals explain, layer by layer") {
  for (const auto& name : rt::preset_names(/*mini=*/true)) {
    CAPTURE(name);
    const auto ir = rt::compile_preset(name);
    auto model = build(ir);
    CHECK(model->parameter_count() == ir["params"]["total"].get<std::int64_t>());
    const auto& per_layer = ir["params"]["layers"];
    for (std::size_t i = 0; i < per_layer.size(); ++i) {
      CAPTURE(i);
      std::int64_t built = 0;
      for (const auto& p : model->named_parameters())
        if (p.key().rfind("model.layers." + std::to_string(i) + ".", 0) == 0) built += p.value().numel();
      CHECK(built == per_layer[i].get<std::int64_t>());
    }
  }
}

TEST_CASE("parameter names are the public contract") {
  SUBCASE("llama style: attention + gated MLP, RMSNorm, tied head") {
    auto model = build(rt::compile_preset("llama_style_mini"));
    const auto names = parameter_names(*model);
    for (const char* expected :
         {"model.embed_tokens.weight", "model.layers.0.mixer_norm.weight", "model.layers.0.mixer.q_proj.weight",
          "model.layers.0.mixer.k_proj.weight", "model.layers.0.mixer.v_proj.weight",
          "model.layers.0.mixer.o_proj.weight", "model.layers.0.ffn_norm.weight", "model.layers.0.ffn.gate_proj.weight",
          "model.layers.0.ffn.up_proj.weight", "model.layers.0.ffn.down_proj.weight", "model.norm.weight"})
      CHECK_MESSAGE(names.count(expected), expected);
    CHECK(names.count("lm_head.weight") == 0);
  }
  SUBCASE("mamba2 style: the HF Mamba2 mixer names") {
    const auto names = parameter_names(*build(rt::compile_preset("mamba2_style_mini")));
    for (const char* suffix : {"in_proj.weight", "conv1d.weight", "conv1d.bias", "dt_bias", "A_log", "D",
                               "norm.weight", "out_proj.weight"})
      CHECK_MESSAGE(names.count(std::string("model.layers.0.mixer.") + suffix), suffix);
  }
  SUBCASE("gpt2 style with learned positions: LayerNorm biases, the position table") {
    auto ir = rt::compile_preset("gpt2_style_mini");
    ir["embedding"]["positional"] = rt::block_ir(eulerstack::BlockKind::Positional, "learned");
    const auto names = parameter_names(*build(ir));
    CHECK(names.count("model.embed_positions.weight"));
    CHECK(names.count("model.layers.0.mixer_norm.bias"));
    CHECK(names.count("lm_head.weight") == !ir["head"]["tied"].get<bool>());
  }
  SUBCASE("mixtral style: router and experts under ffn") {
    const auto names = parameter_names(*build(rt::compile_preset("mixtral_style_moe_mini")));
    CHECK(names.count("model.layers.0.ffn.router.weight"));
    CHECK(names.count("model.layers.0.ffn.experts.0.gate_proj.weight"));
    CHECK(names.count("model.layers.0.ffn.experts.7.down_proj.weight"));
  }
}

TEST_CASE("initialisation is deterministic per seed and independent of build order") {
  const auto ir = rt::compile_preset("samba_style_mini");
  auto a = build(ir);
  auto b = build(ir);
  auto c = std::make_shared<CausalLM>(ir, rt::catalog(), BuildOptions{at::kFloat, at::kCPU});
  c->initialize(ir["training_hints"]["seed"].get<std::uint64_t>() + 1);
  auto pa = a->named_parameters();
  auto pb = b->named_parameters();
  auto pc = c->named_parameters();
  bool any_differs = false;
  for (const auto& p : pa) {
    CHECK_MESSAGE(at::equal(p.value(), pb[p.key()]), p.key());
    if (p.value().numel() > 1 && !at::equal(p.value(), pc[p.key()])) any_differs = true;
  }
  CHECK(any_differs);
  // The value of a parameter depends on its name and the seed only.
  const auto& embed = pa["model.embed_tokens.weight"];
  const auto rules = eulerstack::init_rules(*a);
  const auto expected = eulerstack::initial_value(*rules.at("model.embed_tokens.weight"),
                                                  ir["training_hints"]["seed"].get<std::uint64_t>(),
                                                  "model.embed_tokens.weight", embed.sizes());
  CHECK(at::equal(embed, expected));
}

TEST_CASE("a large parameter is drawn in independent pieces that together are its initial value") {
  using eulerstack::kInitPieceElements;
  const std::vector<std::int64_t> shape{3, kInitPieceElements / 2 + 5};  // 1.5 pieces and 15 elements: 2 pieces
  const auto rule = eulerstack::init::normal(0.02);
  const auto whole = eulerstack::initial_value(rule, 11, "model.embed_tokens.weight", shape);
  REQUIRE(eulerstack::initial_piece_count(rule, shape) == 2);
  std::vector<at::Tensor> pieces;
  for (std::int64_t k = 1; k >= 0; --k)  // any order
    pieces.insert(pieces.begin(), eulerstack::initial_piece(rule, 11, "model.embed_tokens.weight", shape, k));
  REQUIRE(pieces.size() == 2);
  CHECK(pieces[0].numel() == kInitPieceElements);
  CHECK(at::equal(at::cat(pieces), whole.flatten()));
  // Each piece has its own generator: the second does not repeat the first.
  CHECK_FALSE(at::equal(pieces[1].narrow(0, 0, 64), pieces[0].narrow(0, 0, 64)));
  // The first piece is what a one-piece tensor of that name gets.
  const auto small = eulerstack::initial_value(rule, 11, "model.embed_tokens.weight", {kInitPieceElements});
  CHECK(at::equal(small, pieces[0]));

  // A rule that looks at positions is never cut: one piece, the whole tensor.
  const eulerstack::InitRule positional = [](at::Tensor& t, at::Generator&) {
    t.copy_(at::arange(t.numel(), t.options()).view(t.sizes()));
  };
  REQUIRE(eulerstack::initial_piece_count(positional, shape) == 1);
  CHECK(at::equal(eulerstack::initial_piece(positional, 11, "w", shape, 0),
                  eulerstack::initial_value(positional, 11, "w", shape).flatten()));
}

TEST_CASE("every mini preset: cached incremental decoding equals the full forward") {
  for (const auto& name : rt::preset_names(/*mini=*/true)) {
    CAPTURE(name);
    const auto ir = rt::compile_preset(name);
    auto model = build(ir);
    model->eval();
    at::NoGradGuard no_grad;
    const std::int64_t vocab = ir["model"]["vocab_size"].get<std::int64_t>();
    const auto tokens = random_tokens(vocab, 2, 24, 11);
    const auto full = model->forward(tokens).logits;
    CHECK(full.sizes() == at::IntArrayRef({2, 24, vocab}));
    CHECK(at::isfinite(full).all().item<bool>());

    auto state = model->new_state();
    std::vector<at::Tensor> pieces{model->forward(tokens.narrow(1, 0, 9), &state).logits};
    pieces.push_back(model->forward(tokens.narrow(1, 9, 5), &state).logits);  // a chunked prefill
    for (std::int64_t t = 14; t < 24; ++t) pieces.push_back(model->forward(tokens.narrow(1, t, 1), &state).logits);
    CHECK(state.length() == 24);
    const auto incremental = at::cat(pieces, 1);
    const double scale = full.abs().max().item<double>();
    CHECK(rt::max_abs_diff(full, incremental) <= 1e-4 * std::max(1.0, scale));
  }
}

TEST_CASE("greedy generation follows the full forward's argmax") {
  const auto ir = rt::compile_preset("jamba_style_mini");
  auto model = build(ir);
  model->eval();
  const auto prompt = random_tokens(ir["model"]["vocab_size"].get<std::int64_t>(), 2, 5, 3);
  const auto generated = model->generate(prompt, 6);
  REQUIRE(generated.sizes() == at::IntArrayRef({2, 11}));
  CHECK(at::equal(generated.narrow(1, 0, 5), prompt));
  at::NoGradGuard no_grad;
  const auto logits = model->forward(generated.narrow(1, 0, 10)).logits;
  CHECK(at::equal(logits.narrow(1, 4, 6).argmax(-1), generated.narrow(1, 5, 6)));
}

TEST_CASE("bfloat16 presets build in their dtype and stay close to float32") {
  const auto ir = rt::compile_preset("retnet_attn_hybrid_mini");
  auto reference = build(ir, at::kFloat);
  auto half = build(ir, at::kBFloat16);
  for (const auto& p : half->parameters()) CHECK((p.scalar_type() == at::kBFloat16));
  at::NoGradGuard no_grad;
  reference->eval();
  half->eval();
  const auto tokens = random_tokens(ir["model"]["vocab_size"].get<std::int64_t>(), 1, 16, 5);
  const auto a = reference->forward(tokens).logits;
  const auto b = half->forward(tokens).logits;
  CHECK((b.scalar_type() == at::kBFloat16));
  CHECK(rt::max_abs_diff(a, b) < 0.1 * std::max(1.0, a.abs().max().item<double>()));
}

// Counting sequences (t, t+1, t+2, ... mod vocab) from random starts: every
// block type can learn the successor function, so the loss must fall clearly.
TEST_CASE("every mini preset trains: backward through every block and a falling loss") {
  for (const auto& name : rt::preset_names(/*mini=*/true)) {
    CAPTURE(name);
    const auto ir = rt::compile_preset(name);
    auto model = build(ir);
    model->train();
    const std::int64_t vocab = std::min<std::int64_t>(ir["model"]["vocab_size"].get<std::int64_t>(), 64);
    torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(3e-3));
    at::Generator g = at::detail::createCPUGenerator(17);
    double first = 0.0, last = 0.0;
    const int steps = 40;
    for (int step = 0; step < steps; ++step) {
      const auto starts = at::randint(vocab, {8, 1}, g, at::TensorOptions().dtype(at::kLong));
      const auto tokens = (starts + at::arange(17, at::TensorOptions().dtype(at::kLong))).remainder(vocab);
      const auto out = model->forward(tokens.narrow(1, 0, 16));
      const auto loss = at::cross_entropy_loss(out.logits.reshape({-1, out.logits.size(-1)}).to(at::kFloat),
                                               tokens.narrow(1, 1, 16).reshape({-1}));
      optimizer.zero_grad();
      (loss + out.aux_loss).backward();
      if (step == 0) {
        for (const auto& p : model->named_parameters()) {
          if (!p.value().grad().defined()) continue;  // experts no token reached
          CHECK_MESSAGE(at::isfinite(p.value().grad()).all().item<bool>(), p.key());
        }
        CHECK(model->named_parameters()["model.embed_tokens.weight"].grad().defined());
        first = loss.item<double>();
      }
      optimizer.step();
      last = loss.item<double>();
    }
    CHECK_MESSAGE(last < 0.5 * first, "loss " << first << " -> " << last);
  }
}
