// The hyena plugin's LibTorch module (semantics in hyena_plugin.cpp).
//
// Decoding: the cache keeps, for each of the `depth` convolutions, its input
// stream so far ([B, t, d], float32). New tokens are appended and convolved
// against the whole history, so a step costs O(t) (one token: a weighted sum
// over the history) and equals the full forward.
//
// Padding (MixerInput.padding_mask): each row is convolved over its real tokens
// only, as if its padding were not there. The streams then hold each row's
// real inputs first (zeros after them) and the cache counts them per row.
//
// Init: in_proj normal(init_std), filter.fc1 normal(1) with biases uniform(-pi, pi)
// (varied phases for the sine), filter.fc2 normal(init_std),
// out_proj normal(init_std / sqrt(2 * n_layers)); other biases zero.

#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include <ATen/ATen.h>

#include "eulerstack/runtime/module_catalog.hpp"

namespace {

using namespace eulerstack;

constexpr double kPi = 3.14159265358979323846;

struct HyenaCache : LayerCache {
  std::vector<at::Tensor> history;  // per convolution: its inputs so far [B, t, d] float32; empty before the first token
  at::Tensor counts;                // [B] int64: real inputs per row, once a padding token was seen; else t for every row
};

// The filters for lags 0..length-1: [length, depth, d] float32.
class HyenaFilter : public BlockModule {
 public:
  HyenaFilter(const ModuleContext& c, std::int64_t d, std::int64_t depth)
      : d_(d),
        depth_(depth),
        bands_(c.block.param<std::int64_t>("filter_bands")),
        decay_(c.block.param<double>("filter_decay")),
        period_(static_cast<double>(c.block.model_int("max_seq_len"))) {
    const std::int64_t hidden = c.block.param<std::int64_t>("filter_hidden");
    fc1_ = add_linear(*this, "fc1", 1 + 2 * bands_, hidden, true, c.options, init::normal(1.0),
                      init::uniform(-kPi, kPi));
    fc2_ = add_linear(*this, "fc2", hidden, depth * d, false, c.options, init::normal(c.init_std));
  }

  at::Tensor forward(std::int64_t length, const at::Device& device) const {
    const auto f32 = at::TensorOptions().dtype(at::kFloat).device(device);
    const at::Tensor t = at::arange(length, f32).unsqueeze(1);                       // [L, 1]
    const at::Tensor freq = at::arange(1, bands_ + 1, f32) * (2.0 * kPi / period_);  // [K]
    const at::Tensor features = at::cat({t / period_, at::sin(t * freq), at::cos(t * freq)}, 1);
    const at::Tensor h = fc2_->forward(at::sin(fc1_->forward(features.to(fc1_->weight().scalar_type()))))
                             .to(at::kFloat)
                             .view({length, depth_, d_});
    return decay_ > 0 ? h * at::exp(t * -decay_).unsqueeze(2) : h;
  }

 private:
  std::int64_t d_, depth_, bands_;
  double decay_, period_;
  std::shared_ptr<Linear> fc1_, fc2_;
};

// Outputs at positions [start, start + T_new) of the causal convolution of
// `history` [B, start + T_new, d] with `h` [start + T_new, d].
at::Tensor causal_conv_tail(const at::Tensor& history, const at::Tensor& h, std::int64_t start) {
  const std::int64_t total = history.size(1);
  if (total - start == 1)  // one new token: sum over lags of h[lag] * history[total-1-lag]
    return (history * h.flip({0}).unsqueeze(0)).sum(1, /*keepdim=*/true);
  const std::int64_t n = 2 * total;
  const at::Tensor y = at::fft_irfft(at::fft_rfft(history, n, 1) * at::fft_rfft(h, n, 0).unsqueeze(0), n, 1);
  return y.narrow(1, start, total - start);
}

class Hyena : public MixerModule {
 public:
  explicit Hyena(const ModuleContext& c)
      : d_(c.block.model_int("d_model")), depth_(c.block.param<std::int64_t>("depth")) {
    in_proj_ = add_linear(*this, "in_proj", d_, (depth_ + 1) * d_, true, c.options, init::normal(c.init_std));
    filter_ = register_module("filter", std::make_shared<HyenaFilter>(c, d_, depth_));
    const double layers = static_cast<double>(c.n_layers > 0 ? c.n_layers : 1);
    out_proj_ = add_linear(*this, "out_proj", d_, d_, true, c.options, init::normal(c.init_std / std::sqrt(2.0 * layers)));
  }

  at::Tensor forward(const at::Tensor& x, const MixerInput& input) override {
    const std::int64_t B = x.size(0), T = x.size(1);
    auto* cache = input.cache ? &dynamic_cast<HyenaCache&>(*input.cache) : nullptr;
    if (input.padding_mask.defined() || (cache && cache->counts.defined())) return padded(x, input, cache);
    const std::int64_t start = cache && !cache->history.empty() ? cache->history.front().size(1) : 0;
    const at::Tensor z = in_proj_->forward(x).to(at::kFloat).view({B, T, depth_ + 1, d_});
    const at::Tensor h = filter_->forward(start + T, x.device());
    at::Tensor v = z.select(2, 0);
    for (std::int64_t i = 0; i < depth_; ++i) {
      at::Tensor history = v;
      if (cache) {
        if (start > 0) history = at::cat({cache->history[i], v}, 1);
        if (cache->history.size() < static_cast<std::size_t>(depth_)) cache->history.push_back(history);
        else cache->history[i] = history;
      }
      v = z.select(2, i + 1) * causal_conv_tail(history, h.select(1, i), start);
    }
    return out_proj_->forward(v.to(x.scalar_type()));
  }

  std::unique_ptr<LayerCache> new_cache() const override { return std::make_unique<HyenaCache>(); }

 private:
  // Each row's real tokens moved to its front (stably), placed after the row's
  // own stream in the cache, convolved, and moved back; 0 at padding tokens.
  at::Tensor padded(const at::Tensor& x, const MixerInput& input, HyenaCache* cache) {
    const std::int64_t B = x.size(0), T = x.size(1);
    const auto long_options = at::TensorOptions().dtype(at::kLong).device(x.device());
    const at::Tensor real = input.padding_mask.defined() ? input.padding_mask.to(x.device(), at::kBool)
                                                         : at::ones({B, T}, long_options.dtype(at::kBool));
    const std::int64_t past = cache && !cache->history.empty() ? cache->history.front().size(1) : 0;
    const at::Tensor before = cache && cache->counts.defined() ? cache->counts : at::full({B}, past, long_options);
    const at::Tensor padding = real.logical_not().to(at::kByte);
    const at::Tensor order = std::get<1>(at::sort(padding, /*stable=*/true, /*dim=*/1, /*descending=*/false));
    const at::Tensor in_order = real.gather(1, order).unsqueeze(-1).to(at::kFloat);     // [B, T, 1]
    const at::Tensor slot = (before.unsqueeze(1) + at::arange(T, long_options)).unsqueeze(-1).expand({B, T, d_});
    const at::Tensor z = in_proj_->forward(x).to(at::kFloat).view({B, T, depth_ + 1, d_});
    const at::Tensor zc = z.gather(1, order.view({B, T, 1, 1}).expand({B, T, depth_ + 1, d_}));
    const at::Tensor counts = before + real.to(at::kLong).sum(1);
    const std::int64_t room = past + T, kept = counts.max().item<std::int64_t>();
    const at::Tensor h = filter_->forward(room, x.device());
    at::Tensor v = zc.select(2, 0) * in_order;
    for (std::int64_t i = 0; i < depth_; ++i) {
      at::Tensor stream = at::zeros({B, room, d_}, v.options());
      if (past > 0) stream.narrow(1, 0, past).copy_(cache->history[i]);
      stream.scatter_(1, slot, v);  // padding writes zeros beyond its row's real inputs
      v = zc.select(2, i + 1) * causal_conv_tail(stream, h.select(1, i), 0).gather(1, slot) * in_order;
      if (cache) {
        if (cache->history.size() < static_cast<std::size_t>(depth_)) cache->history.push_back({});
        cache->history[i] = stream.narrow(1, 0, kept);
      }
    }
    if (cache) cache->counts = counts;
    const at::Tensor out = at::zeros_like(v).scatter_(1, order.unsqueeze(-1).expand({B, T, d_}), v);
    return out_proj_->forward(out.to(x.scalar_type()));
  }

  std::int64_t d_, depth_;
  std::shared_ptr<Linear> in_proj_, out_proj_;
  std::shared_ptr<HyenaFilter> filter_;
};

void register_modules(ModuleRegistrar& registrar) {
  registrar.mixer("hyena", [](const ModuleContext& c) { return std::make_shared<Hyena>(c); });
}

}  // namespace

EULERSTACK_PLUGIN_MODULES(register_modules)
