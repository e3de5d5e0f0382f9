#include "mamba2.hpp"

#include <cmath>

#include <ATen/ATen.h>

#include "causal_conv.hpp"
#include "gated_rms_norm.hpp"
#include "mamba_cache.hpp"
#include "mamba_init.hpp"
#include "ssd.hpp"

namespace eulerstack::mamba {

namespace {

class Mamba2 : public MixerModule {
 public:
  explicit Mamba2(const ModuleContext& ctx) {
    const std::int64_t d = ctx.block.model_int("d_model");
    inner_ = ctx.block.param<std::int64_t>("expand") * d;
    head_dim_ = ctx.block.param<std::int64_t>("head_dim");
    heads_ = inner_ / head_dim_;
    groups_ = ctx.block.param<std::int64_t>("n_groups");
    state_ = ctx.block.param<std::int64_t>("d_state");
    chunk_size_ = ctx.block.param<std::int64_t>("chunk_size");
    const std::int64_t conv_dim = inner_ + 2 * groups_ * state_;
    const auto& o = ctx.options;

    in_proj_ = add_linear(*this, "in_proj", d, inner_ + conv_dim + heads_, false, o, init::normal(ctx.init_std));
    conv1d_ = register_module(
        "conv1d", std::make_shared<CausalConv1d>(conv_dim, ctx.block.param<std::int64_t>("d_conv"), o));
    dt_bias_ = add_parameter("dt_bias", {heads_}, o, inverse_softplus_dt());
    A_log_ = add_parameter("A_log", {heads_}, o, log_uniform(1.0, 16.0));
    D_ = add_parameter("D", {heads_}, o, init::ones());
    norm_ = register_module("norm", std::make_shared<GatedRMSNorm>(inner_, inner_ / groups_, 1e-5, o));
    out_proj_ = add_linear(*this, "out_proj", inner_, d, false, o,
                           init::normal(ctx.init_std / std::sqrt(2.0 * static_cast<double>(ctx.n_layers))));
  }

  at::Tensor forward(const at::Tensor& x, const MixerInput& input) override {
    MambaCache* cache = mamba_cache(input.cache);
    const std::int64_t b = x.size(0), T = x.size(1), gn = groups_ * state_;
    const auto zxbcdt = in_proj_->forward(x).split_with_sizes({inner_, inner_ + 2 * gn, heads_}, -1);
    const at::Tensor& z = zxbcdt[0];

    const at::Tensor& real = input.padding_mask;
    auto [conv, conv_history] = conv1d_->forward(zxbcdt[1], cache ? cache->conv_state : at::Tensor(), real);
    const auto xBC = at::silu(conv).split_with_sizes({inner_, gn, gn}, -1);
    const at::Tensor xs = xBC[0].reshape({b, T, heads_, head_dim_});
    const at::Tensor B = xBC[1].reshape({b, T, groups_, state_});
    const at::Tensor C = xBC[2].reshape({b, T, groups_, state_});
    at::Tensor dt = at::softplus(zxbcdt[2].to(at::kFloat) + dt_bias_.to(at::kFloat));  // [b, T, h]
    if (real.defined()) dt = dt * real.unsqueeze(-1).to(at::kFloat);  // dt 0: the state passes a padding token unchanged
    const at::Tensor A = -at::exp(A_log_.to(at::kFloat));

    const at::Tensor initial = cache ? cache->ssm_state : at::Tensor();
    ScanResult scan;
    if (T == 1) {
      scan = ssd_step(xs.squeeze(1), dt.squeeze(1), A, B.squeeze(1), C.squeeze(1), initial);
      scan.y = scan.y.unsqueeze(1);
    } else {
      scan = ssd_chunked(xs, dt, A, B, C, chunk_size_, initial);
    }
    const at::Tensor y = scan.y + D_.to(at::kFloat).unsqueeze(-1) * xs.to(at::kFloat);  // [b, T, h, p]

    if (cache) {
      cache->conv_state = conv_history;
      cache->ssm_state = scan.state;
    }
    return out_proj_->forward(norm_->forward(y.reshape({b, T, inner_}), z));
  }

  std::unique_ptr<LayerCache> new_cache() const override { return std::make_unique<MambaCache>(); }

 private:
  std::int64_t inner_, head_dim_, heads_, groups_, state_, chunk_size_;
  std::shared_ptr<Linear> in_proj_, out_proj_;
  std::shared_ptr<CausalConv1d> conv1d_;
  std::shared_ptr<GatedRMSNorm> norm_;
  at::Tensor dt_bias_, A_log_, D_;
};

}  // namespace

std::shared_ptr<MixerModule> make_mamba2(const ModuleContext& context) { return std::make_shared<Mamba2>(context); }

}  // namespace eulerstack::mamba
