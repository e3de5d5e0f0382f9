#pragma once
// A causal language model assembled from the IR: token embedding, the
// positional block, the layer stack (norm, mixer, residual, FFN per layer as
// the IR says), the final norm and the LM head. Core knows no block by name:
// every mixer, FFN, router and positional module comes from the catalog.
//
// Public parameter names (the safetensors contract, docs/WEIGHTS.md):
//   model.embed_tokens.weight            model.embed_positions.*   (positional block)
//   model.layers.<i>.mixer_norm.*        model.layers.<i>.mixer.*  (mixer block)
//   model.layers.<i>.ffn_norm.*          model.layers.<i>.ffn.*    (FFN block)
//   model.norm.*                         lm_head.weight            (absent when tied)

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include <torch/nn/module.h>

#include "eulerstack/param_schema.hpp"
#include "eulerstack/runtime/interfaces.hpp"
#include "eulerstack/runtime/module_catalog.hpp"

namespace eulerstack {

class DecoderLayer;
class TokenEmbedding;
class Norm;

struct ModelOutput {
  at::Tensor logits;    // [B, T, vocab], model dtype
  at::Tensor aux_loss;  // float32 scalar: the blocks' auxiliary losses x training_hints.router_aux_loss_coef
};

// The decoding state of a whole model: one cache per layer, the number of
// tokens seen (padding included) and, once a padding token was seen, the
// number of real tokens of each row.
class DecodeState {
 public:
  std::int64_t length() const { return length_; }
  // [B] int64: the real tokens of each row, or undefined while every row's count is length().
  const at::Tensor& real_tokens() const { return real_tokens_; }

 private:
  friend class CausalLM;
  std::vector<std::unique_ptr<LayerCache>> layers_;
  std::int64_t length_ = 0;
  at::Tensor real_tokens_;
};

struct BuildOptions {
  std::optional<at::ScalarType> dtype;  // default: the IR's model.dtype
  at::Device device = at::kCPU;         // at::kMeta builds the structure without memory
};

class CausalLM : public torch::nn::Module {
 public:
  // Throws Error (PluginError from the catalog, RuntimeError for IR the runtime does not support).
  CausalLM(Json ir, const ModuleCatalog& catalog, const BuildOptions& options = {});

  // tokens [B, T] int64. With a state, the tokens continue the sequence it has
  // seen, and the state advances past them. `attention_mask` (0/1, any integer
  // or bool dtype) marks the padding tokens with 0: [B, T] or, HF's convention,
  // [B, past + T] with the state's tokens first (only its last T columns are
  // read; the state remembers the past). Undefined: no padding in this call.
  ModelOutput forward(const at::Tensor& tokens, DecodeState* state = nullptr, const at::Tensor& attention_mask = {});
  DecodeState new_state() const;

  // Deterministic weights: the IR's training_hints.seed unless given.
  void initialize(std::optional<std::uint64_t> seed = std::nullopt);

  // Greedy decoding with caches: [B, T] prompt -> [B, T + new_tokens]. Prompts
  // of different lengths come left-padded with an `attention_mask` [B, T]; each
  // row's new tokens are those it would get alone.
  at::Tensor generate(const at::Tensor& prompt, std::int64_t new_tokens, const at::Tensor& attention_mask = {});

  const Json& ir() const { return ir_; }
  std::int64_t parameter_count() const;  // shared (tied) tensors once

 private:
  Json ir_;
  at::ScalarType dtype_;
  double embedding_scale_ = 1.0;
  std::optional<double> logit_softcap_;
  double aux_loss_coef_ = 0.0;
  std::shared_ptr<torch::nn::Module> backbone_;
  std::shared_ptr<TokenEmbedding> embed_tokens_;
  std::shared_ptr<PositionalModule> positional_;
  std::vector<std::shared_ptr<DecoderLayer>> layers_;
  std::shared_ptr<Norm> final_norm_;  // null for post-norm stacks
  std::shared_ptr<Linear> lm_head_;   // null when tied
};

// Parameter dtype named by the IR ("float32", "bfloat16", "float16").
at::ScalarType dtype_named(const std::string& name);
// The IR's name of a parameter dtype ("float32", ...).
std::string dtype_name(at::ScalarType dtype);

// The standard deviation of training_hints.init ("normal_0.02"); throws
// Error(RuntimeError, runtime.unsupported_param) for other schemes.
double init_std_of(const Json& ir);

}  // namespace eulerstack
