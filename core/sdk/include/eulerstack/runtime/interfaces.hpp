#pragma once
// The LibTorch side of the four block interfaces. A plugin's module library
// implements them; core's model assembly talks to nothing else.
//
// Shapes: B batch, T tokens in this call, d = model.d_model, N = B*T.
// Every module takes and returns activations in the model's dtype and device.
//
// Padding (docs/PADDING.md): positions are [T] when every row has the same
// ones, else [B, T]; a padding token has position 1 and is false in
// `padding_mask`. A padding token never changes the result of a real token.

#include <cstdint>
#include <memory>
#include <utility>

#include "eulerstack/block.hpp"
#include "eulerstack/runtime/block_module.hpp"

namespace eulerstack {

class RouterModule;
struct ModuleContext;

// Builds the blocks another block refers to by name (e.g. a router).
class ModuleBuilder {
 public:
  virtual ~ModuleBuilder() = default;
  // `ref` is one entry of the block's IR `refs`, `parent` the referring block's context.
  virtual std::shared_ptr<RouterModule> make_router(const Json& ref, const ModuleContext& parent) const = 0;
};

// Everything a module factory gets.
struct ModuleContext {
  BlockContext block;            // the model section and this block's parameters
  Json refs = Json::object();    // the blocks it references (IR `refs`), e.g. {"router": {...}}
  std::int64_t n_layers = 0;     // layers in the stack, for depth-scaled init
  double init_std = 0.02;        // training_hints.init
  at::TensorOptions options;     // parameter dtype and device
  const ModuleBuilder* builder = nullptr;
};

// Decoding state of one layer, created by its mixer and filled by its forward.
class LayerCache {
 public:
  virtual ~LayerCache() = default;
};

class PositionalModule : public BlockModule {
 public:
  // Added to the token embeddings: [T, d] for positions [T], [B, T, d] for
  // positions [B, T]; or undefined when the scheme adds nothing.
  virtual at::Tensor embed(const at::Tensor& positions) { (void)positions; return {}; }
  // Queries [B, H, T, hd] and keys [B, KV, T, hd] at absolute `positions` [T]
  // or [B, T], rotated by position or returned unchanged.
  virtual std::pair<at::Tensor, at::Tensor> rotate(const at::Tensor& q, const at::Tensor& k, const at::Tensor& positions) {
    (void)positions;
    return {q, k};
  }
  // Additive attention bias (float32) for the given query and key positions:
  // [H, Tq, Tk] for positions [Tq] and [Tk], [B, H, Tq, Tk] when either is
  // per row ([B, Tq] or [B, Tk]); undefined when the scheme adds none.
  virtual at::Tensor attention_bias(std::int64_t heads, const at::Tensor& q_positions, const at::Tensor& k_positions) {
    (void)heads, (void)q_positions, (void)k_positions;
    return {};
  }
};

struct MixerInput {
  at::Tensor positions;                    // int64 [T] or [B, T]: absolute positions of the tokens of x
  PositionalModule* positional = nullptr;  // the model's positional scheme, never null
  LayerCache* cache = nullptr;             // null: no decoding state (training, one-shot forward)
  at::Tensor padding_mask;                 // [B, T] bool, true at real tokens; undefined: no padding
};

class MixerModule : public BlockModule {
 public:
  // x [B, T, d] -> [B, T, d]. With a cache, x continues the tokens the cache
  // has seen (positions say where) and the cache is advanced past them. The
  // output at a padding token is unspecified but finite; a padding token
  // leaves the state a cache carries for real tokens unchanged.
  virtual at::Tensor forward(const at::Tensor& x, const MixerInput& input) = 0;
  // An empty decoding state for this layer.
  virtual std::unique_ptr<LayerCache> new_cache() const = 0;
};

struct FfnInput {
  at::Tensor token_ids;     // [B, T], for routers that route by token id
  at::Tensor padding_mask;  // [B, T] bool, true at real tokens; undefined: no padding
};

struct FfnOutput {
  at::Tensor hidden;    // [B, T, d]
  at::Tensor aux_loss;  // weighted scalar (load balance, z-loss, ...) or undefined
};

class FfnModule : public BlockModule {
 public:
  virtual FfnOutput forward(const at::Tensor& x, const FfnInput& input) = 0;
};

struct RoutingRequest {
  std::int64_t top_k = 1;
  at::Tensor token_ids;  // [N]
};

struct Routing {
  at::Tensor weights;  // [N, k] combine weights, model dtype
  at::Tensor experts;  // [N, k] int64 expert indices
  at::Tensor probs;    // [N, E] float32 routing distribution (for balance losses)
  at::Tensor logits;   // [N, E] float32 raw router logits (for the z-loss)
};

class RouterModule : public BlockModule {
 public:
  virtual Routing route(const at::Tensor& x, const RoutingRequest& request) = 0;  // x [N, d]
};

}  // namespace eulerstack
