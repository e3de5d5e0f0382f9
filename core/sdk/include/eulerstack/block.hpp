#pragma once
// What a plugin tells core about one block type. Torch-free: the LibTorch
// modules come from the plugin's separate module library
// (runtime/module_catalog.hpp), so code that only validates or explains specs
// never includes a torch header nor loads LibTorch.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "eulerstack/diagnostics.hpp"
#include "eulerstack/param_schema.hpp"

namespace eulerstack {

// The four interfaces of the design card. Adding one is an ABI change.
enum class BlockKind { Mixer, Ffn, Router, Positional };
constexpr BlockKind kAllBlockKinds[] = {BlockKind::Mixer, BlockKind::Ffn, BlockKind::Router,
                                        BlockKind::Positional};

const char* to_string(BlockKind kind);  // "mixer", "ffn", "router", "positional"

// The resolved configuration of one block instance, as the front end hands it
// to a plugin: the model section (dims, vocab, ...) and the block's own
// parameters with every default filled in.
struct BlockContext {
  Json model;    // the normalized `model` mapping (d_model, n_heads, vocab_size, ...)
  Json params;   // this block's parameters, schema-validated, every default filled
  int layer_index = -1;  // -1 for blocks outside the layer stack

  std::int64_t model_int(const char* key) const { return model.at(key).get<std::int64_t>(); }
  template <class T>
  T param(const char* key) const { return params.at(key).get<T>(); }
  bool is_set(const char* key) const {
    auto it = params.find(key);
    return it != params.end() && !it->is_null();
  }
};

// A problem a plugin's cross-field check found; core adds file:line.
// Warnings are realism findings (stage 3): reported, never fatal. The text is
// the plugin's catalog entry `id` ("<plugin>.<what>", with msg, fix and see in
// each language the plugin ships), formatted with `args` and {block}.
struct BlockIssue {
  std::string param;  // dotted path relative to the block, "" for the block itself
  std::string id;     // message id in the plugin's catalogs
  MessageArgs args;   // values for the message's {placeholders}
  bool warning = false;
};

// One tensor (or group of tensors) a block instance keeps per sequence while
// decoding. Its bytes at a context of T tokens are
// bytes_per_token * min(T, max_tokens) + fixed_bytes.
struct DecodeStatePart {
  std::string name;                  // shown as is: "kv_cache", "ssm_state", "conv_state"
  std::int64_t bytes_per_token = 0;  // grows with every token held (a KV cache)
  std::int64_t max_tokens = -1;      // tokens held at most (a sliding window); -1: all of them
  std::int64_t fixed_bytes = 0;      // independent of the length (an SSM or recurrent state)
};

// Bytes of one element of a `model.dtype`: float32 4, float16 and bfloat16 2.
inline std::int64_t dtype_bytes(const std::string& dtype) { return dtype == "float32" ? 4 : 2; }

using CrossCheck = std::function<std::vector<BlockIssue>(const BlockContext&)>;
using StateSizer = std::function<std::vector<DecodeStatePart>(const BlockContext&)>;
using ParamCounter = std::function<std::int64_t(const BlockContext&)>;

// Everything about a block that does not need torch.
struct BlockSchema {
  std::string name;        // the YAML name: `mixer.type: <name>`, `ffn.type: <name>` ...
  std::string summary;     // one line for listings
  // Where the block's parameters live in YAML: `params` go in a sub-mapping
  // named config_key beside `type` (mixers: `attention: {...}`) or, when
  // config_key is empty, inline beside `type` (embedding `rope_theta`);
  // `inline_params` always sit beside `type`, also when the block has a sub-mapping.
  // BlockContext::params holds both.
  std::string config_key;
  std::vector<ParamSpec> params;
  std::vector<ParamSpec> inline_params;
  // Upstream parameters of this block that this build does not implement, by
  // their key in the block's parameter mapping -> what they are. A spec that
  // sets one is told the feature is not provided by any loaded plugin, rather
  // than that the key is unknown.
  std::map<std::string, std::string> unprovided_params;
  // Named features the front end asks about without knowing the block, e.g.
  // which `state` flags a mixer keeps ("kv_cache", "ssm_state").
  std::map<std::string, bool> capabilities;
  CrossCheck cross_check;     // optional
  ParamCounter count_params;  // exact trainable parameter count of one instance
  // Optional: what one instance keeps per sequence while decoding (explain's
  // pictures). A block without it is drawn with its state unknown; a block
  // that keeps nothing returns an empty list.
  StateSizer decode_state;
};

class MixerModule;
class FfnModule;
class RouterModule;
class PositionalModule;

// The module types only tag which registry a definition belongs to.
template <class Module>
struct BlockDefinition {
  BlockSchema schema;
};

using MixerDefinition = BlockDefinition<MixerModule>;
using FfnDefinition = BlockDefinition<FfnModule>;
using RouterDefinition = BlockDefinition<RouterModule>;
using PositionalDefinition = BlockDefinition<PositionalModule>;

}  // namespace eulerstack
