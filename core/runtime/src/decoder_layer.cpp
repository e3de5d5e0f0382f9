#include "decoder_layer.hpp"

#include <ATen/ATen.h>

namespace eulerstack {

DecoderLayer::DecoderLayer(const Json& layer, std::int64_t d_model, std::shared_ptr<MixerModule> mixer,
                           std::shared_ptr<FfnModule> ffn, const at::TensorOptions& options, double dropout)
    : pre_norm_(layer.at("norm").at("position") == "pre"),
      parallel_(layer.at("residual").at("type") == "parallel"),
      scaling_(layer.at("residual").at("scaling").get<double>()),
      dropout_(dropout),
      mixer_site_(BlockSite::of_layer(layer, "mixer")),
      ffn_site_(BlockSite::of_layer(layer, "ffn")) {
  const auto norm_type = layer.at("norm").at("type").get<std::string>();
  mixer_norm_ = register_module("mixer_norm", std::make_shared<Norm>(norm_type, d_model, options));
  mixer_ = register_module("mixer", std::move(mixer));
  if (!parallel_)
    ffn_norm_ = register_module("ffn_norm", std::make_shared<Norm>(norm_type, d_model, options));
  ffn_ = register_module("ffn", std::move(ffn));
}

at::Tensor DecoderLayer::branch(const at::Tensor& y) const {
  at::Tensor out = scaling_ == 1.0 ? y : y * scaling_;
  return dropout_ > 0.0 ? at::dropout(out, dropout_, is_training()) : out;
}

at::Tensor DecoderLayer::run_mixer(const at::Tensor& x, const MixerInput& input) {
  at::Tensor y;
  try {
    y = mixer_->forward(x, input);
  } catch (...) {
    rethrow_at(mixer_site_, "runtime.block_forward_failed");
  }
  require_same_shape(mixer_site_, x, y);
  return y;
}

FfnOutput DecoderLayer::run_ffn(const at::Tensor& x, const FfnInput& input) {
  FfnOutput out;
  try {
    out = ffn_->forward(x, input);
  } catch (...) {
    rethrow_at(ffn_site_, "runtime.block_forward_failed");
  }
  require_same_shape(ffn_site_, x, out.hidden);
  return out;
}

FfnOutput DecoderLayer::forward(const at::Tensor& x, const MixerInput& mixer_input, const FfnInput& ffn_input) {
  if (parallel_) {
    const at::Tensor in = pre_norm_ ? mixer_norm_->forward(x) : x;
    FfnOutput ffn = run_ffn(in, ffn_input);
    at::Tensor sum = x + branch(run_mixer(in, mixer_input)) + branch(ffn.hidden);
    ffn.hidden = pre_norm_ ? sum : mixer_norm_->forward(sum);
    return ffn;
  }
  if (pre_norm_) {
    const at::Tensor h = x + branch(run_mixer(mixer_norm_->forward(x), mixer_input));
    FfnOutput ffn = run_ffn(ffn_norm_->forward(h), ffn_input);
    ffn.hidden = h + branch(ffn.hidden);
    return ffn;
  }
  const at::Tensor h = mixer_norm_->forward(x + branch(run_mixer(x, mixer_input)));
  FfnOutput ffn = run_ffn(h, ffn_input);
  ffn.hidden = ffn_norm_->forward(h + branch(ffn.hidden));
  return ffn;
}

}  // namespace eulerstack
