// The ttt plugin's LibTorch module (semantics in ttt_plugin.cpp).

#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include <ATen/ATen.h>

#include "eulerstack/runtime/module_catalog.hpp"

namespace {

using namespace eulerstack;

constexpr double kBeta1 = 0.9, kBeta2 = 0.999, kEps = 1e-8, kDecay = 0.01, kNormEps = 1e-5;

// Each row's fast weights (the inner model's tensors, [B, ...] float32), and for adamw their moments and
// the row's step count [B] float32. Empty before the first token.
struct TttCache : LayerCache {
  std::vector<at::Tensor> weights, first_moment, second_moment;
  at::Tensor steps;
};

class LayerNormWeights : public BlockModule {
 public:
  LayerNormWeights(std::int64_t d, const at::TensorOptions& options)
      : weight(add_parameter("weight", {d}, options, init::ones())),
        bias(add_parameter("bias", {d}, options, init::zeros())) {}
  at::Tensor weight, bias;
};

// The inner model's initial weights: linear [W, b]; mlp [W1, b1, W2, b2].
class InnerModel : public BlockModule {
 public:
  InnerModel(std::int64_t d, bool mlp, std::int64_t hidden, const ModuleContext& c) {
    if (mlp) {
      layers_ = {add_linear(*this, "fc1", d, hidden, true, c.options, init::normal(c.init_std)),
                 add_linear(*this, "fc2", hidden, d, true, c.options, init::normal(c.init_std))};
    } else {
      const auto w = add_parameter("weight", {d, d}, c.options, init::normal(c.init_std));
      const auto b = add_parameter("bias", {d}, c.options, init::zeros());
      own_ = {w, b};
    }
  }
  // The weights every row starts from, in order.
  std::vector<at::Tensor> initial() const {
    if (!own_.empty()) return own_;
    std::vector<at::Tensor> out;
    for (const auto& layer : layers_) out.insert(out.end(), {layer->weight(), layer->bias()});
    return out;
  }

 private:
  std::vector<std::shared_ptr<Linear>> layers_;
  std::vector<at::Tensor> own_;
};

at::Tensor gelu_derivative(const at::Tensor& z) {
  return 0.5 * (1.0 + at::erf(z / std::sqrt(2.0))) + z * at::exp(-0.5 * z * z) / std::sqrt(2.0 * M_PI);
}

// One row-batched inner model: forward, and the gradients of mean((f(u) - target)^2).
struct Inner {
  bool mlp;
  at::Tensor predict(const std::vector<at::Tensor>& w, const at::Tensor& u, at::Tensor* hidden = nullptr) const {
    if (!mlp) return at::einsum("bij,bj->bi", {w[0], u}) + w[1];
    const at::Tensor z = at::einsum("bhj,bj->bh", {w[0], u}) + w[1];
    if (hidden) *hidden = z;
    return at::einsum("bdh,bh->bd", {w[2], at::gelu(z)}) + w[3];
  }
  std::vector<at::Tensor> gradients(const std::vector<at::Tensor>& w, const at::Tensor& u, const at::Tensor& target) const {
    at::Tensor z;
    const at::Tensor dy = (predict(w, u, &z) - target) * (2.0 / static_cast<double>(target.size(1)));
    if (!mlp) return {dy.unsqueeze(2) * u.unsqueeze(1), dy};
    const at::Tensor dz = at::einsum("bdh,bd->bh", {w[2], dy}) * gelu_derivative(z);
    return {dz.unsqueeze(2) * u.unsqueeze(1), dz, dy.unsqueeze(2) * at::gelu(z).unsqueeze(1), dy};
  }
};

at::Tensor per_row(const at::Tensor& row_values, const at::Tensor& like) {
  std::vector<std::int64_t> shape(like.dim(), 1);
  shape[0] = like.size(0);
  return row_values.view(shape);
}

class Ttt : public MixerModule {
 public:
  explicit Ttt(const ModuleContext& c)
      : d_(c.block.model_int("d_model")),
        adamw_(c.block.param<std::string>("inner_optimizer") == "adamw"),
        lr_(c.block.param<double>("inner_lr")),
        steps_(c.block.param<std::int64_t>("inner_steps_per_token")),
        inner_{c.block.params.at("inner_model").at("type") == "mlp"} {
    norm_ = register_module("norm", std::make_shared<LayerNormWeights>(d_, c.options));
    in_proj_ = add_linear(*this, "in_proj", d_, d_, false, c.options, init::normal(c.init_std));
    target_proj_ = add_linear(*this, "target_proj", d_, d_, false, c.options, init::normal(c.init_std));
    const double layers = static_cast<double>(c.n_layers > 0 ? c.n_layers : 1);
    out_proj_ = add_linear(*this, "out_proj", d_, d_, false, c.options, init::normal(c.init_std / std::sqrt(2.0 * layers)));
    inner_model_ = register_module(
        "inner", std::make_shared<InnerModel>(d_, inner_.mlp, c.block.params.at("inner_model").at("hidden").get<std::int64_t>(), c));
  }

  at::Tensor forward(const at::Tensor& x, const MixerInput& input) override {
    const std::int64_t B = x.size(0), T = x.size(1);
    const at::Tensor h = at::layer_norm(x.to(at::kFloat), {d_}, norm_->weight.to(at::kFloat), norm_->bias.to(at::kFloat), kNormEps);
    const at::Tensor q = at::linear(h, in_proj_->weight().to(at::kFloat));
    const at::Tensor target = at::linear(h, target_proj_->weight().to(at::kFloat));
    const at::Tensor real = input.padding_mask.defined()
                                ? input.padding_mask.to(x.device(), at::kBool)
                                : at::ones({B, T}, at::TensorOptions().dtype(at::kBool).device(x.device()));
    TttCache fresh;
    TttCache& state = input.cache ? dynamic_cast<TttCache&>(*input.cache) : fresh;
    if (state.weights.empty()) start(state, B, x.device());
    TORCH_CHECK(state.weights.front().size(0) == B, "ttt_layer: the cache holds ", state.weights.front().size(0),
                " rows, this call ", B);
    std::vector<at::Tensor> outputs;
    for (std::int64_t t = 0; t < T; ++t) {
      const at::Tensor u = q.select(1, t), goal = target.select(1, t), keep = real.select(1, t);
      for (std::int64_t s = 0; s < steps_; ++s) step(state, u, goal, keep);
      outputs.push_back(inner_.predict(state.weights, u));
    }
    return out_proj_->forward(at::stack(outputs, 1).to(x.scalar_type()));
  }

  std::unique_ptr<LayerCache> new_cache() const override { return std::make_unique<TttCache>(); }

 private:
  void start(TttCache& state, std::int64_t B, const at::Device& device) const {
    for (const auto& w : inner_model_->initial()) {
      std::vector<std::int64_t> shape{B};
      shape.insert(shape.end(), w.sizes().begin(), w.sizes().end());
      state.weights.push_back(w.to(at::kFloat).unsqueeze(0).expand(shape));
      if (adamw_) {
        state.first_moment.push_back(at::zeros(shape, w.options().dtype(at::kFloat)));
        state.second_moment.push_back(at::zeros(shape, w.options().dtype(at::kFloat)));
      }
    }
    if (adamw_) state.steps = at::zeros({B}, at::TensorOptions().dtype(at::kFloat).device(device));
  }

  // One inner step of the rows where `keep` is true.
  void step(TttCache& state, const at::Tensor& u, const at::Tensor& goal, const at::Tensor& keep) const {
    const auto grads = inner_.gradients(state.weights, u, goal);
    at::Tensor n;
    if (adamw_) n = at::where(keep, state.steps + 1.0, state.steps);
    for (std::size_t i = 0; i < grads.size(); ++i) {
      const at::Tensor& w = state.weights[i];
      const at::Tensor on = per_row(keep, w);
      at::Tensor updated;
      if (adamw_) {
        const at::Tensor m = kBeta1 * state.first_moment[i] + (1.0 - kBeta1) * grads[i];
        const at::Tensor v = kBeta2 * state.second_moment[i] + (1.0 - kBeta2) * grads[i] * grads[i];
        const at::Tensor count = per_row(n, w);
        const at::Tensor m_hat = m / (1.0 - at::pow(kBeta1, count));
        const at::Tensor v_hat = v / (1.0 - at::pow(kBeta2, count));
        updated = w - lr_ * m_hat / (at::sqrt(v_hat) + kEps) - lr_ * kDecay * w;
        state.first_moment[i] = at::where(on, m, state.first_moment[i]);
        state.second_moment[i] = at::where(on, v, state.second_moment[i]);
      } else {
        updated = w - lr_ * grads[i];
      }
      state.weights[i] = at::where(on, updated, w);
    }
    if (adamw_) state.steps = n;
  }

  std::int64_t d_;
  bool adamw_;
  double lr_;
  std::int64_t steps_;
  Inner inner_;
  std::shared_ptr<LayerNormWeights> norm_;
  std::shared_ptr<Linear> in_proj_, target_proj_, out_proj_;
  std::shared_ptr<InnerModel> inner_model_;
};

void register_modules(ModuleRegistrar& registrar) {
  registrar.mixer("ttt_layer", [](const ModuleContext& c) { return std::make_shared<Ttt>(c); });
}

}  // namespace

EULERSTACK_PLUGIN_MODULES(register_modules)
