#include "decoder_layer.hpp"

#include <ATen/ATen.h>

namespace eulerstack {

DecoderLayer::DecoderLayer(const Json& layer, std::int64_t d_model, std::shared_ptr<MixerModule> mixer,
                           std::shared_ptr<FfnModule> ffn, const at::TensorOptions& options, double dropout)
    : pre_norm_(layer.at("norm").at("position") == "pre"),
      parallel_(layer.at("residual").at("type") == "parallel"),
      scaling_(layer.at("residual").at("scaling").get<double>()),
      dropout_(dropout) {
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

FfnOutput DecoderLayer::forward(const at::Tensor& x, const MixerInput& mixer_input, const FfnInput& ffn_input) {
  if (parallel_) {
    const at::Tensor in = pre_norm_ ? mixer_norm_->forward(x) : x;
    FfnOutput ffn = ffn_->forward(in, ffn_input);
    at::Tensor sum = x + branch(mixer_->forward(in, mixer_input)) + branch(ffn.hidden);
    ffn.hidden = pre_norm_ ? sum : mixer_norm_->forward(sum);
    return ffn;
  }
  if (pre_norm_) {
    const at::Tensor h = x + branch(mixer_->forward(mixer_norm_->forward(x), mixer_input));
    FfnOutput ffn = ffn_->forward(ffn_norm_->forward(h), ffn_input);
    ffn.hidden = h + branch(ffn.hidden);
    return ffn;
  }
  const at::Tensor h = mixer_norm_->forward(x + branch(mixer_->forward(x, mixer_input)));
  FfnOutput ffn = ffn_->forward(h, ffn_input);
  ffn.hidden = ffn_norm_->forward(h + branch(ffn.hidden));
  return ffn;
}

}  // namespace eulerstack
