// The LibTorch module of the attention mixer (layout in attention_plugin.cpp).

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include <ATen/ATen.h>

#include "attention_cache.hpp"
#include "attention_mask.hpp"
#include "eulerstack/runtime/module_catalog.hpp"

namespace eulerstack::attention {
namespace {

class Attention : public MixerModule {
 public:
  explicit Attention(const ModuleContext& context) : pattern_(KeyPattern::from(context.block)) {
    const auto& block = context.block;
    const std::int64_t d = block.model_int("d_model");
    heads_ = block.model_int("n_heads");
    kv_heads_ = block.model_int("n_kv_heads");
    TORCH_CHECK(heads_ > 0 && kv_heads_ > 0 && heads_ % kv_heads_ == 0, "attention: n_heads ", heads_,
                " must be a multiple of n_kv_heads ", kv_heads_);
    head_dim_ = d / heads_;
    attn_drop_ = block.param<double>("attn_drop");
    const bool bias = block.param<bool>("qkv_bias");
    const auto& options = context.options;
    const auto weight = init::normal(context.init_std);
    const std::int64_t q_width = heads_ * head_dim_, kv_width = kv_heads_ * head_dim_;

    q_proj_ = add_linear(*this, "q_proj", d, q_width, bias, options, weight);
    if (block.is_set("latent_dim")) {
      const auto latent = block.param<std::int64_t>("latent_dim");
      kv_down_proj_ = add_linear(*this, "kv_down_proj", d, latent, false, options, weight);
      k_proj_ = add_linear(*this, "k_up_proj", latent, kv_width, bias, options, weight);
      v_proj_ = add_linear(*this, "v_up_proj", latent, kv_width, bias, options, weight);
    } else {
      k_proj_ = add_linear(*this, "k_proj", d, kv_width, bias, options, weight);
      v_proj_ = add_linear(*this, "v_proj", d, kv_width, bias, options, weight);
    }
    const double depth = static_cast<double>(std::max<std::int64_t>(context.n_layers, 1));
    o_proj_ = add_linear(*this, "o_proj", q_width, d, false, options,
                         init::normal(context.init_std / std::sqrt(2.0 * depth)));
    if (block.is_set("attention_sinks")) {  // absent from the IR of exports older than the parameter
      const auto& sinks = block.params.at("attention_sinks");
      sink_count_ = sinks.at("n_per_head").get<std::int64_t>();
      if (sink_count_ > 0 && sinks.at("learnable").get<bool>())
        sinks_ = add_parameter("sinks", {heads_, sink_count_}, options, init::zeros());
    }
  }

  at::Tensor forward(const at::Tensor& x, const MixerInput& input) override {
    TORCH_CHECK(input.positional, "attention: MixerInput.positional must be set");
    const std::int64_t batch = x.size(0), length = x.size(1);
    auto split_heads = [&](const at::Tensor& t, std::int64_t heads) {
      return t.view({batch, length, heads, head_dim_}).transpose(1, 2);
    };
    const at::Tensor kv_source = kv_down_proj_ ? kv_down_proj_->forward(x) : x;
    at::Tensor q = split_heads(q_proj_->forward(x), heads_);
    at::Tensor k = split_heads(k_proj_->forward(kv_source), kv_heads_);
    at::Tensor v = split_heads(v_proj_->forward(kv_source), kv_heads_);

    const at::Tensor q_positions = input.positions.to(x.device(), at::kLong);
    const at::Tensor q_real = input.padding_mask.defined() ? input.padding_mask.to(x.device(), at::kBool) : at::Tensor();
    std::tie(q, k) = input.positional->rotate(q, k, q_positions);
    at::Tensor k_positions = q_positions, k_real = q_real;
    AttentionCache* cache = nullptr;
    bool keys_are_queries = true;
    if (input.cache) {
      cache = dynamic_cast<AttentionCache*>(input.cache);
      TORCH_CHECK(cache, "attention: the layer cache was not made by this attention layer's new_cache()");
      keys_are_queries = cache->length() == 0;
      cache->append(k, v, q_positions, q_real);
      k = cache->keys(), v = cache->values(), k_positions = cache->positions(), k_real = cache->real();
    }
    const at::Tensor bias = input.positional->attention_bias(heads_, q_positions, k_positions);
    const bool rows_alike = q_positions.dim() == 1 && k_positions.dim() == 1 && !k_real.defined();
    // SDPA's own causal mask is exact only when queries and keys are the same tokens, alike in every row.
    const bool plain_causal = keys_are_queries && rows_alike && pattern_.causal_is_exact(length) && !bias.defined();
    // One new token of global attention sees every cached key (positions only grow) unless some are padding.
    const bool sees_all = cache && length == 1 && pattern_.global() && !bias.defined() && !k_real.defined();
    std::optional<at::Tensor> mask;
    if (!plain_causal && !sees_all) {
      mask = visible_keys(q_positions, k_positions, q_real, k_real);
      if (bias.defined()) {
        const at::Tensor scores = bias.dim() == 3 ? bias.unsqueeze(0) : bias;  // [1 or B, H, Tq, Tk]
        mask = at::where(*mask, scores.to(at::kFloat), -std::numeric_limits<float>::infinity()).to(q.scalar_type());
      }
    }
    const double dropout = is_training() ? attn_drop_ : 0.0;
    const std::int64_t group = heads_ / kv_heads_;
    at::Tensor out;
    if (sink_count_ > 0) {
      if (!mask) mask = plain_causal ? visible_keys(q_positions, k_positions, q_real, k_real) : at::Tensor();
      out = attend_with_sinks(q, k, v, *mask, dropout);
    } else if (group > 1 && length == 1) {
      // One query per head (decoding): the queries of the heads that share a key
      // head attend to it together, so the cache is not copied once per head.
      if (mask && mask->dim() == 4 && mask->size(1) == heads_)
        mask = mask->reshape({mask->size(0), kv_heads_, group, mask->size(-1)});
      out = at::scaled_dot_product_attention(q.reshape({batch, kv_heads_, group, head_dim_}), k, v, mask, dropout)
                .reshape({batch, heads_, 1, head_dim_});
    } else {
      if (group > 1) {
        k = k.repeat_interleave(group, 1);
        v = v.repeat_interleave(group, 1);
      }
      out = at::scaled_dot_product_attention(q, k, v, mask, dropout, plain_causal);
    }

    if (cache) {
      if (auto keep = pattern_.cache_keep()) cache->keep_within(*keep);
    }
    return o_proj_->forward(out.transpose(1, 2).reshape({batch, length, heads_ * head_dim_}));
  }

  std::unique_ptr<LayerCache> new_cache() const override { return std::make_unique<AttentionCache>(); }

 private:
  // Bool [Tq, Tk], or [B, 1, Tq, Tk] with padding or per-row positions: the
  // pattern on positions, real keys only; a padding query sees every key (its
  // output is discarded, and softmax stays finite).
  at::Tensor visible_keys(const at::Tensor& q_positions, const at::Tensor& k_positions, const at::Tensor& q_real,
                          const at::Tensor& k_real) const {
    at::Tensor visible = pattern_.visible(q_positions, k_positions);
    if (k_real.defined()) visible = visible.logical_and(k_real.unsqueeze(1));
    if (q_real.defined()) visible = visible.logical_or(q_real.logical_not().unsqueeze(-1));
    return visible.dim() == 3 ? visible.unsqueeze(1) : visible;
  }

  // softmax over [q k^T / sqrt(hd) (+ bias), sinks] in float32 with the sink
  // columns dropped; `mask` is boolean (visible keys), additive (ALiBi), or
  // undefined (every key visible).
  at::Tensor attend_with_sinks(const at::Tensor& q, at::Tensor k, at::Tensor v, const at::Tensor& mask,
                               double dropout) const {
    const std::int64_t group = heads_ / kv_heads_;
    if (group > 1) {
      k = k.repeat_interleave(group, 1);
      v = v.repeat_interleave(group, 1);
    }
    at::Tensor scores = at::matmul(q.to(at::kFloat), k.to(at::kFloat).transpose(-1, -2)) / std::sqrt(double(head_dim_));
    if (mask.defined())
      scores = mask.scalar_type() == at::kBool ? scores.masked_fill(mask.logical_not(), -std::numeric_limits<float>::infinity())
                                               : scores + mask.to(at::kFloat);
    const std::int64_t keys = scores.size(-1);
    const at::Tensor logits = sinks_.defined() ? sinks_.to(at::kFloat) : at::zeros({heads_, sink_count_}, scores.options());
    const at::Tensor sink = logits.view({1, heads_, 1, sink_count_}).expand({scores.size(0), heads_, scores.size(2), sink_count_});
    at::Tensor probs = at::softmax(at::cat({scores, sink}, -1), -1).narrow(-1, 0, keys);
    if (dropout > 0.0) probs = at::dropout(probs, dropout, true);
    return at::matmul(probs.to(v.scalar_type()), v);
  }

  KeyPattern pattern_;
  std::int64_t heads_ = 0, kv_heads_ = 0, head_dim_ = 0;
  double attn_drop_ = 0.0;
  std::shared_ptr<Linear> q_proj_, k_proj_, v_proj_, o_proj_;
  std::shared_ptr<Linear> kv_down_proj_;  // MLA only; k_proj_/v_proj_ are then the up-projections
  std::int64_t sink_count_ = 0;           // attention sinks per head
  at::Tensor sinks_;                      // [H, n] when they are learnable; fixed sinks are logits 0
};

void register_modules(ModuleRegistrar& registrar) {
  registrar.mixer("attention", [](const ModuleContext& context) { return std::make_shared<Attention>(context); });
}

}  // namespace
}  // namespace eulerstack::attention

EULERSTACK_PLUGIN_MODULES(eulerstack::attention::register_modules)
