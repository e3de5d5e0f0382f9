#include "mamba1.hpp"

#include <cmath>

#include <ATen/ATen.h>

#include "causal_conv.hpp"
#include "mamba_cache.hpp"
#include "mamba_init.hpp"
#include "selective_scan.hpp"

namespace eulerstack::mamba {

namespace {

class Mamba1 : public MixerModule {
 public:
  explicit Mamba1(const ModuleContext& ctx) {
    const std::int64_t d = ctx.block.model_int("d_model");
    inner_ = ctx.block.param<std::int64_t>("expand") * d;
    state_ = ctx.block.param<std::int64_t>("d_state");
    rank_ = (d + 15) / 16;
    const auto& o = ctx.options;

    in_proj_ = add_linear(*this, "in_proj", d, 2 * inner_, false, o, init::normal(ctx.init_std));
    conv1d_ = register_module(
        "conv1d", std::make_shared<CausalConv1d>(inner_, ctx.block.param<std::int64_t>("d_conv"), o));
    x_proj_ = add_linear(*this, "x_proj", inner_, rank_ + 2 * state_, false, o, init::normal(ctx.init_std));
    const double dt_bound = 1.0 / std::sqrt(static_cast<double>(rank_));
    dt_proj_ = add_linear(*this, "dt_proj", rank_, inner_, true, o, init::uniform(-dt_bound, dt_bound),
                          inverse_softplus_dt());
    A_log_ = add_parameter("A_log", {inner_, state_}, o, s4d_real_log());
    D_ = add_parameter("D", {inner_}, o, init::ones());
    out_proj_ = add_linear(*this, "out_proj", inner_, d, false, o,
                           init::normal(ctx.init_std / std::sqrt(2.0 * static_cast<double>(ctx.n_layers))));
  }

  at::Tensor forward(const at::Tensor& x, const MixerInput& input) override {
    MambaCache* cache = mamba_cache(input.cache);
    const auto xz = in_proj_->forward(x).chunk(2, -1);
    const at::Tensor& real = input.padding_mask;
    auto [conv, conv_history] = conv1d_->forward(xz[0], cache ? cache->conv_state : at::Tensor(), real);
    const at::Tensor xs = at::silu(conv);  // [b, T, di]
    const auto dbc = x_proj_->forward(xs).split_with_sizes({rank_, state_, state_}, -1);
    at::Tensor dt = at::softplus(dt_proj_->forward(dbc[0]).to(at::kFloat));
    if (real.defined()) dt = dt * real.unsqueeze(-1).to(at::kFloat);  // dt 0: the state passes a padding token unchanged
    const at::Tensor A = -at::exp(A_log_.to(at::kFloat));

    ScanResult scan = selective_scan(xs, dt, A, dbc[1], dbc[2], cache ? cache->ssm_state : at::Tensor());
    const at::Tensor y = (scan.y + D_.to(at::kFloat) * xs.to(at::kFloat)) * at::silu(xz[1].to(at::kFloat));

    if (cache) {
      cache->conv_state = conv_history;
      cache->ssm_state = scan.state;
    }
    return out_proj_->forward(y.to(x.scalar_type()));
  }

  std::unique_ptr<LayerCache> new_cache() const override { return std::make_unique<MambaCache>(); }

 private:
  std::int64_t inner_, state_, rank_;
  std::shared_ptr<Linear> in_proj_, x_proj_, out_proj_;
  std::shared_ptr<CausalConv1d> conv1d_;
  std::shared_ptr<Linear> dt_proj_;
  at::Tensor A_log_, D_;
};

}  // namespace

std::shared_ptr<MixerModule> make_mamba1(const ModuleContext& context) { return std::make_shared<Mamba1>(context); }

}  // namespace eulerstack::mamba
