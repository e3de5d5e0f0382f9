#include "retnet_module.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

#include <ATen/ATen.h>

#include "retention.hpp"
#include "xpos.hpp"

namespace eulerstack::retnet {
namespace {

constexpr double kGroupNormEps = 1e-5;

struct RetentionCache : LayerCache {
  at::Tensor state;  // [B, H, dk, dv] float32; undefined before the first token
};

class Retnet : public MixerModule {
 public:
  explicit Retnet(const ModuleContext& c)
      : d_(c.block.model_int("d_model")),
        heads_(c.block.model_int("n_heads")),
        value_(c.block.param<std::int64_t>("value_factor") * d_),
        chunkwise_(c.block.param<bool>("chunkwise")),
        chunk_size_(c.block.param<std::int64_t>("chunk_size")),
        rope_(c.block.param<bool>("rope")) {
    if (d_ % heads_ != 0)
      throw std::invalid_argument("retnet: d_model " + std::to_string(d_) + " is not divisible by n_heads " +
                                  std::to_string(heads_));
    const auto weight = init::normal(c.init_std);
    q_proj_ = add_linear(*this, "q_proj", d_, d_, false, c.options, weight);
    k_proj_ = add_linear(*this, "k_proj", d_, d_, false, c.options, weight);
    v_proj_ = add_linear(*this, "v_proj", d_, value_, false, c.options, weight);
    g_proj_ = add_linear(*this, "g_proj", d_, value_, false, c.options, weight);
    o_proj_ = add_linear(*this, "o_proj", value_, d_, false, c.options,
                         init::normal(c.init_std / std::sqrt(2.0 * static_cast<double>(c.n_layers))));
  }

  at::Tensor forward(const at::Tensor& x, const MixerInput& input) override {
    const std::int64_t B = x.size(0), T = x.size(1);
    const std::int64_t dk = d_ / heads_, dv = value_ / heads_;
    auto split = [&](const at::Tensor& t, std::int64_t width) {  // [B, T, H*w] -> [B, H, T, w] float32
      return t.view({B, T, heads_, width}).transpose(1, 2).to(at::kFloat);
    };
    at::Tensor q = split(q_proj_->forward(x), dk);
    at::Tensor k = split(k_proj_->forward(x), dk) * (1.0 / std::sqrt(static_cast<double>(dk)));
    const at::Tensor v = split(v_proj_->forward(x), dv);
    if (rope_) {
      const at::Tensor positions = input.positions.to(x.device());
      q = rotate(q, positions);
      k = rotate(k, positions);
    }
    const at::Tensor log_decay = log_decays(heads_, x.options());

    auto* cache = input.cache ? &dynamic_cast<RetentionCache&>(*input.cache) : nullptr;
    const at::Tensor state = cache ? cache->state : at::Tensor();
    const at::Tensor& real = input.padding_mask;
    Retained r;
    if (cache && T == 1) r = recurrent(q, k, v, log_decay, state, real);
    else if (chunkwise_ && T > chunk_size_) r = chunkwise(q, k, v, log_decay, state, chunk_size_, real);
    else r = parallel(q, k, v, log_decay, state, real);
    if (cache) cache->state = r.state;

    // Group norm: a layer norm without affine weights over each head's dv channels.
    const at::Tensor normed = at::layer_norm(r.output, {dv}, {}, {}, kGroupNormEps)
                                  .transpose(1, 2)
                                  .reshape({B, T, value_})
                                  .to(x.scalar_type());
    return o_proj_->forward(at::silu(g_proj_->forward(x)) * normed);
  }

  std::unique_ptr<LayerCache> new_cache() const override { return std::make_unique<RetentionCache>(); }

 private:
  std::int64_t d_, heads_, value_;
  bool chunkwise_;
  std::int64_t chunk_size_;
  bool rope_;
  std::shared_ptr<Linear> q_proj_, k_proj_, v_proj_, g_proj_, o_proj_;
};

}  // namespace

std::shared_ptr<MixerModule> make_retnet(const ModuleContext& context) { return std::make_shared<Retnet>(context); }

}  // namespace eulerstack::retnet
