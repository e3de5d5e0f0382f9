#pragma once
// One layer of the stack: a mixer and an FFN, each with its norm, joined by
// the IR's residual (sequential or parallel) with pre- or post-norm.

#include <cstdint>
#include <memory>
#include <string>

#include "block_site.hpp"
#include "eulerstack/runtime/interfaces.hpp"
#include "layer_parts.hpp"

namespace eulerstack {

class DecoderLayer : public torch::nn::Module {
 public:
  // `layer` is one entry of the IR's `layers`.
  DecoderLayer(const Json& layer, std::int64_t d_model, std::shared_ptr<MixerModule> mixer,
               std::shared_ptr<FfnModule> ffn, const at::TensorOptions& options, double dropout);

  FfnOutput forward(const at::Tensor& x, const MixerInput& mixer_input, const FfnInput& ffn_input);
  std::unique_ptr<LayerCache> new_cache() const { return mixer_->new_cache(); }

 private:
  at::Tensor branch(const at::Tensor& y) const;  // scaling and residual dropout
  // The plugins' forwards; a failure or a wrong shape names the plugin and the layer.
  at::Tensor run_mixer(const at::Tensor& x, const MixerInput& input);
  FfnOutput run_ffn(const at::Tensor& x, const FfnInput& input);

  bool pre_norm_;
  bool parallel_;
  double scaling_;
  double dropout_;
  std::shared_ptr<Norm> mixer_norm_;
  std::shared_ptr<MixerModule> mixer_;
  std::shared_ptr<Norm> ffn_norm_;  // null with a parallel residual (one norm feeds both)
  std::shared_ptr<FfnModule> ffn_;
  BlockSite mixer_site_;
  BlockSite ffn_site_;
};

}  // namespace eulerstack
