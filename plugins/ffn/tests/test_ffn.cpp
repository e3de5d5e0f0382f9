// The ffn plugin's modules: mlp and gated_mlp.

#include <cmath>
#include <string>

#include <ATen/ATen.h>

#include "support.hpp"

namespace {

using eulerstack::BlockKind;
using eulerstack::FfnModule;
using eulerstack::Json;

at::Tensor param(torch::nn::Module& module, const std::string& name) {
  auto params = module.named_parameters();
  const at::Tensor* found = params.find(name);
  REQUIRE_MESSAGE(found, "no parameter " << name);
  return *found;
}

at::Tensor reference_activation(const std::string& name, const at::Tensor& h) {
  if (name == "gelu") return 0.5 * h * (1.0 + at::erf(h / std::sqrt(2.0)));
  if (name == "relu") return at::where(h > 0, h, at::zeros_like(h));
  return h / (1.0 + at::exp(-h));  // swiglu: SiLU
}

// y = x W^T + b from the module's parameters.
at::Tensor reference_linear(torch::nn::Module& module, const std::string& name, const at::Tensor& x) {
  at::Tensor y = at::matmul(x, param(module, name + ".weight").t());
  auto params = module.named_parameters();
  if (const at::Tensor* bias = params.find(name + ".bias")) y = y + *bias;
  return y;
}

// Biases start at zero; random ones make the reference check them too.
void randomize_biases(torch::nn::Module& module) {
  at::NoGradGuard no_grad;
  for (auto& p : module.named_parameters())
    if (p.key().size() >= 4 && p.key().substr(p.key().size() - 4) == "bias") p.value().normal_(0.0, 0.5);
}

at::Tensor sample_input(std::int64_t batch = 2, std::int64_t tokens = 5) {
  at::manual_seed(11);
  return at::randn({batch, tokens, 64});
}

}  // namespace

TEST_CASE("ffn: parameter counts equal the plugin's formula") {
  for (const std::string type : {"mlp", "gated_mlp"})
    for (const bool bias : {false, true})
      for (const int ratio : {2, 4}) {
        CAPTURE(type);
        CAPTURE(bias);
        CAPTURE(ratio);
        const Json model = rt::model_section({{"mlp_ratio", ratio}});
        const Json params = {{"bias", bias}};
        auto ffn = rt::make_ffn(model, type, params);
        CHECK(rt::parameter_count(*ffn) == rt::formula_count(BlockKind::Ffn, model, rt::block_ir(BlockKind::Ffn, type, params)));
      }
}

TEST_CASE("ffn: parameter names and shapes follow the HF convention") {
  auto mlp = rt::make_ffn(rt::model_section(), "mlp", {{"bias", true}});
  CHECK(param(*mlp, "up_proj.weight").sizes() == at::IntArrayRef({128, 64}));
  CHECK(param(*mlp, "up_proj.bias").sizes() == at::IntArrayRef({128}));
  CHECK(param(*mlp, "down_proj.weight").sizes() == at::IntArrayRef({64, 128}));
  CHECK(param(*mlp, "down_proj.bias").sizes() == at::IntArrayRef({64}));
  CHECK(mlp->named_parameters().size() == 4);

  auto gated = rt::make_ffn(rt::model_section(), "gated_mlp");
  CHECK(param(*gated, "gate_proj.weight").sizes() == at::IntArrayRef({128, 64}));
  CHECK(param(*gated, "up_proj.weight").sizes() == at::IntArrayRef({128, 64}));
  CHECK(param(*gated, "down_proj.weight").sizes() == at::IntArrayRef({64, 128}));
  CHECK(gated->named_parameters().size() == 3);
}

TEST_CASE("ffn: init draws projections from init_std and down_proj depth-scaled") {
  // 2 layers: down_proj std = 0.02 / sqrt(4) = 0.01.
  auto ffn = rt::make_ffn(rt::model_section(), "gated_mlp", {{"bias", true}});
  CHECK(param(*ffn, "gate_proj.weight").std().item<double>() == doctest::Approx(0.02).epsilon(0.05));
  CHECK(param(*ffn, "up_proj.weight").std().item<double>() == doctest::Approx(0.02).epsilon(0.05));
  CHECK(param(*ffn, "down_proj.weight").std().item<double>() == doctest::Approx(0.01).epsilon(0.05));
  CHECK(param(*ffn, "up_proj.bias").abs().max().item<double>() == 0.0);
  CHECK(param(*ffn, "down_proj.bias").abs().max().item<double>() == 0.0);
}

TEST_CASE("ffn: mlp applies each activation like its explicit formula") {
  const at::Tensor x = sample_input();
  for (const std::string activation : {"gelu", "relu", "swiglu"}) {
    CAPTURE(activation);
    auto ffn = rt::make_ffn(rt::model_section(), "mlp", {{"activation", activation}, {"bias", true}});
    randomize_biases(*ffn);
    const at::Tensor h = reference_activation(activation, reference_linear(*ffn, "up_proj", x));
    const at::Tensor expected = reference_linear(*ffn, "down_proj", h);
    const auto out = ffn->forward(x, {});
    CHECK(out.hidden.sizes() == x.sizes());
    CHECK(rt::max_abs_diff(out.hidden, expected) < 1e-5);
  }
}

TEST_CASE("ffn: gated_mlp is down(act(gate(x)) * up(x)): SwiGLU, GeGLU, ReGLU") {
  const at::Tensor x = sample_input();
  for (const std::string activation : {"swiglu", "gelu", "relu"}) {
    CAPTURE(activation);
    auto ffn = rt::make_ffn(rt::model_section(), "gated_mlp", {{"activation", activation}, {"bias", true}});
    randomize_biases(*ffn);
    const at::Tensor gate = reference_activation(activation, reference_linear(*ffn, "gate_proj", x));
    const at::Tensor expected = reference_linear(*ffn, "down_proj", gate * reference_linear(*ffn, "up_proj", x));
    CHECK(rt::max_abs_diff(ffn->forward(x, {}).hidden, expected) < 1e-5);
  }
}

TEST_CASE("ffn: gated swiglu equals silu(gate) * up") {
  const at::Tensor x = sample_input();
  auto ffn = rt::make_ffn(rt::model_section(), "gated_mlp");  // swiglu by default
  const at::Tensor gate = at::matmul(x, param(*ffn, "gate_proj.weight").t());
  const at::Tensor up = at::matmul(x, param(*ffn, "up_proj.weight").t());
  const at::Tensor expected = at::matmul(at::silu(gate) * up, param(*ffn, "down_proj.weight").t());
  CHECK(rt::max_abs_diff(ffn->forward(x, {}).hidden, expected) < 1e-6);
}

TEST_CASE("ffn: dense blocks report no aux loss") {
  for (const std::string type : {"mlp", "gated_mlp"}) {
    auto ffn = rt::make_ffn(rt::model_section(), type);
    CHECK_FALSE(ffn->forward(sample_input(), {}).aux_loss.defined());
  }
}

TEST_CASE("ffn: backward reaches every parameter") {
  auto ffn = rt::make_ffn(rt::model_section(), "gated_mlp", {{"bias", true}});
  ffn->forward(sample_input(), {}).hidden.square().sum().backward();
  for (const auto& p : ffn->named_parameters()) {
    CAPTURE(p.key());
    REQUIRE(p.value().grad().defined());
    CHECK(p.value().grad().abs().sum().item<double>() > 0.0);
  }
}

TEST_CASE("ffn: bfloat16 runs and stays close to float32") {
  for (const std::string type : {"mlp", "gated_mlp"}) {
    CAPTURE(type);
    const Json model = rt::model_section();
    const Json ir = rt::block_ir(BlockKind::Ffn, type);
    auto half = rt::catalog().make_ffn(ir, rt::module_context(model, 2, at::kBFloat16));
    eulerstack::initialize_parameters(*half, 7);
    auto full = rt::make_ffn(model, type, {}, 7);
    const at::Tensor x = sample_input();
    const at::Tensor y = half->forward(x.to(at::kBFloat16), {}).hidden;
    CHECK((y.scalar_type() == at::kBFloat16));
    const at::Tensor expected = full->forward(x, {}).hidden;
    CHECK(rt::max_abs_diff(y, expected) < 0.05 * expected.abs().max().item<double>());
  }
}
