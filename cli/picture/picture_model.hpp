#pragma once
// What explain's pictures show, read from a compiled spec and the blocks'
// schemas: one entry per layer in schedule order, the schedule's repeated
// groups, parameters by block, and the decode state the blocks declare.
// Block-agnostic: labels come from each block's `labels_block()` parameters.

#include <cstdint>
#include <string>
#include <vector>

#include "eulerstack/registry.hpp"
#include "eulerstack/spec/decode_state.hpp"
#include "eulerstack/spec/frontend.hpp"

namespace eulerstack::cli::picture {

struct BlockLabel {
  std::string type;     // the block's YAML name
  std::string details;  // its labelling parameters: "experts 8 · top_k 2", or ""
  std::string text() const { return details.empty() ? type : type + " · " + details; }
};

struct LayerView {
  int index = 0;
  std::string template_name;
  BlockLabel mixer, ffn;
  std::string norm;          // "rmsnorm (pre)"
  bool parallel = false;     // residual: parallel (mixer and FFN read one normalized input)
  std::vector<std::string> overrides;  // "attention.window = 128", as the group sets them
  spec::LayerParams params;
  std::int64_t total_params = 0;
  spec::LayerState state;
};

// A schedule group: `repeat` copies of a template starting at layer `first`.
struct GroupView {
  int first = 0;
  int repeat = 1;
  std::string template_name;
  bool overridden = false;
};

// One slice of the parameter count: a block type, or embedding / norms / head.
struct CountSlice {
  std::string key;    // the block type name, or "embedding", "norms", "head"
  std::string kind;   // "mixer", "ffn", or "" for the non-block slices
  std::int64_t params = 0;
};

struct BlockKindInfo {
  std::string kind;     // "mixer" or "ffn"
  std::string type;
  std::string summary;  // the plugin schema's one line
  std::string plugin;
};

struct PictureModel {
  std::string name;
  std::int64_t d_model = 0, n_heads = 0, n_kv_heads = 0, vocab_size = 0, max_seq_len = 0;
  std::string mlp_ratio;  // as written: "4", "2.5"
  std::string dtype;
  BlockLabel positional;
  std::string head;       // "causal_lm"
  bool tied = false;
  std::vector<LayerView> layers;
  std::vector<GroupView> groups;
  std::vector<CountSlice> slices;       // sums to total_params exactly
  std::vector<BlockKindInfo> block_types;  // mixers first, then FFNs, each in order of first use
  std::int64_t total_params = 0;
  std::int64_t target_params = 0;       // 0 when the spec sets none
  std::int64_t state_bytes = 0;         // all layers, one sequence at max_seq_len
  std::int64_t state_bytes_per_token = 0;
  bool state_known = true;              // every layer's blocks declared their state
};

PictureModel picture_model(const spec::CompileResult& result, const Registry& registry);

// "1.5 GiB", "96.0 KiB", "512 B"
std::string byte_size(std::int64_t bytes);

}  // namespace eulerstack::cli::picture
