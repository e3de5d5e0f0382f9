#include "eulerstack/runtime/model.hpp"

#include <cstdlib>

#include <ATen/ATen.h>

#include "block_site.hpp"
#include "decoder_layer.hpp"
#include "eulerstack/diagnostics.hpp"
#include "eulerstack/runtime/initialize.hpp"
#include "layer_parts.hpp"
#include "token_positions.hpp"

namespace eulerstack {
namespace {

Error unsupported(std::string block, std::string param, std::string value, std::string supported) {
  return Error(make_error("RuntimeError", "runtime.unsupported_param",
                          {{"block", std::move(block)}, {"param", std::move(param)}, {"value", std::move(value)},
                           {"supported", std::move(supported)}}));
}

// A layer's mixer or FFN from its plugin's factory; a failure names the plugin and the layer.
template <class Factory>
auto build_block(const Json& layer, const std::string& kind, Factory factory) {
  try {
    return factory();
  } catch (...) {
    rethrow_at(BlockSite::of_layer(layer, kind), "runtime.block_build_failed");
  }
}

}  // namespace

at::ScalarType dtype_named(const std::string& name) {
  if (name == "float32") return at::kFloat;
  if (name == "bfloat16") return at::kBFloat16;
  if (name == "float16") return at::kHalf;
  throw unsupported("model", "dtype", name, "float32, bfloat16, float16");
}

std::string dtype_name(at::ScalarType dtype) {
  switch (dtype) {
    case at::kFloat: return "float32";
    case at::kBFloat16: return "bfloat16";
    case at::kHalf: return "float16";
    default: return c10::toString(dtype);
  }
}

double init_std_of(const Json& ir) {
  const auto scheme = ir.at("training_hints").at("init").get<std::string>();
  const std::string prefix = "normal_";
  if (scheme.rfind(prefix, 0) == 0) {
    const std::string number = scheme.substr(prefix.size());
    char* end = nullptr;
    const double std = std::strtod(number.c_str(), &end);
    if (!number.empty() && end && *end == '\0' && std > 0.0) return std;
  }
  throw unsupported("training_hints", "init", scheme, "normal_<std>, e.g. normal_0.02");
}

CausalLM::CausalLM(Json ir, const ModuleCatalog& catalog, const BuildOptions& options) : ir_(std::move(ir)) {
  const Json& model = ir_.at("model");
  dtype_ = options.dtype.value_or(dtype_named(model.at("dtype").get<std::string>()));
  const auto tensor_options = at::TensorOptions().dtype(dtype_).device(options.device);
  const std::int64_t d = model.at("d_model").get<std::int64_t>();
  const Json& layers = ir_.at("layers");
  const Json& embedding = ir_.at("embedding");
  const Json& head = ir_.at("head");
  const Json& hints = ir_.at("training_hints");

  ModuleContext base;
  base.block.model = model;
  base.n_layers = static_cast<std::int64_t>(layers.size());
  base.init_std = init_std_of(ir_);
  base.options = tensor_options;
  base.builder = &catalog;

  if (!embedding.at("scale").is_null()) embedding_scale_ = embedding.at("scale").get<double>();
  if (!head.at("logit_softcap").is_null()) logit_softcap_ = head.at("logit_softcap").get<double>();
  aux_loss_coef_ = hints.at("router_aux_loss_coef").get<double>();
  const double dropout = hints.at("dropout").get<double>();

  backbone_ = register_module("model", std::make_shared<torch::nn::Module>("Backbone"));
  embed_tokens_ = backbone_->register_module(
      "embed_tokens",
      std::make_shared<TokenEmbedding>(model.at("vocab_size").get<std::int64_t>(), d, tensor_options, base.init_std));
  std::shared_ptr<PositionalModule> positional;
  try {
    positional = catalog.make_positional(embedding.at("positional"), base);
  } catch (...) {
    rethrow_at(BlockSite::of_positional(embedding.at("positional")), "runtime.model_block_build_failed");
  }
  positional_ = backbone_->register_module("embed_positions", std::move(positional));

  auto stack = backbone_->register_module("layers", std::make_shared<torch::nn::Module>("Layers"));
  for (const auto& layer : layers) {
    ModuleContext context = base;
    context.block.layer_index = layer.at("index").get<int>();
    auto mixer = build_block(layer, "mixer", [&] { return catalog.make_mixer(layer.at("mixer"), context); });
    auto ffn = build_block(layer, "ffn", [&] { return catalog.make_ffn(layer.at("ffn"), context); });
    layers_.push_back(stack->register_module(std::to_string(layers_.size()),
                                             std::make_shared<DecoderLayer>(layer, d, std::move(mixer), std::move(ffn),
                                                                            tensor_options, dropout)));
  }
  if (!layers.empty() && layers.back().at("norm").at("position") == "pre")
    final_norm_ = backbone_->register_module(
        "norm", std::make_shared<Norm>(layers.back().at("norm").at("type").get<std::string>(), d, tensor_options));
  if (!head.at("tied").get<bool>())
    lm_head_ = add_linear(*this, "lm_head", d, model.at("vocab_size").get<std::int64_t>(), false, tensor_options,
                          init::normal(base.init_std));
}

DecodeState CausalLM::new_state() const {
  DecodeState state;
  for (const auto& layer : layers_) state.layers_.push_back(layer->new_cache());
  return state;
}

ModelOutput CausalLM::forward(const at::Tensor& tokens, DecodeState* state, const at::Tensor& attention_mask) {
  TORCH_CHECK(tokens.dim() == 2, "tokens must be [batch, length], got ", tokens.sizes());
  const std::int64_t offset = state ? state->length_ : 0;
  const std::int64_t length = tokens.size(1);
  const at::Tensor past_real = state ? state->real_tokens_ : at::Tensor();
  TORCH_CHECK(!past_real.defined() || past_real.size(0) == tokens.size(0), "the decoding state holds ",
              past_real.defined() ? past_real.size(0) : 0, " rows, the tokens ", tokens.size(0));
  TokenPositions where = token_positions(tokens.size(0), offset, length, past_real, attention_mask, tokens.device());

  MixerInput mixer_input;
  mixer_input.positions = where.positions;
  mixer_input.positional = positional_.get();
  mixer_input.padding_mask = where.padding_mask;
  FfnInput ffn_input{tokens, where.padding_mask};

  at::Tensor x = embed_tokens_->forward(tokens);
  if (embedding_scale_ != 1.0) x = x * embedding_scale_;
  if (at::Tensor table = positional_->embed(mixer_input.positions); table.defined()) x = x + table.to(x.scalar_type());

  at::Tensor aux = at::zeros({}, at::TensorOptions().dtype(at::kFloat).device(tokens.device()));
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    mixer_input.cache = state ? state->layers_.at(i).get() : nullptr;
    FfnOutput out = layers_[i]->forward(x, mixer_input, ffn_input);
    x = out.hidden;
    if (out.aux_loss.defined()) aux = aux + out.aux_loss.to(at::kFloat);
  }
  if (final_norm_) x = final_norm_->forward(x);

  at::Tensor logits = lm_head_ ? lm_head_->forward(x) : at::linear(x, embed_tokens_->weight());
  if (logit_softcap_) logits = at::tanh(logits / *logit_softcap_) * *logit_softcap_;
  if (state) {
    state->length_ += length;
    state->real_tokens_ = where.real_tokens;
  }
  return {logits, aux * aux_loss_coef_};
}

void CausalLM::initialize(std::optional<std::uint64_t> seed) {
  initialize_parameters(*this, seed.value_or(ir_.at("training_hints").at("seed").get<std::uint64_t>()));
}

at::Tensor CausalLM::generate(const at::Tensor& prompt, std::int64_t new_tokens, const at::Tensor& attention_mask) {
  at::NoGradGuard no_grad;
  const bool was_training = is_training();
  eval();
  DecodeState state = new_state();
  at::Tensor sequence = prompt;
  at::Tensor next_input = prompt;
  // The first step reads each row's last real token: the prompt may be padded on either side.
  at::Tensor last = at::full({prompt.size(0)}, prompt.size(1) - 1, prompt.options().dtype(at::kLong));
  if (attention_mask.defined() && prompt.size(1) > 0)
    last = last_real_slots(attention_mask.narrow(1, attention_mask.size(1) - prompt.size(1), prompt.size(1)).ne(0));
  for (std::int64_t i = 0; i < new_tokens; ++i) {
    const at::Tensor logits = forward(next_input, &state, i == 0 ? attention_mask : at::Tensor()).logits;
    const at::Tensor slot = (i == 0 ? last : at::zeros_like(last)).view({-1, 1, 1}).expand({-1, 1, logits.size(2)});
    next_input = logits.gather(1, slot).squeeze(1).argmax(-1, /*keepdim=*/true);
    sequence = at::cat({sequence, next_input}, 1);
  }
  train(was_training);
  return sequence;
}

std::int64_t CausalLM::parameter_count() const {
  std::int64_t total = 0;
  for (const auto& p : parameters()) total += p.numel();
  return total;
}

}  // namespace eulerstack
