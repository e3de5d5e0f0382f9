#pragma once
// What each layer of a compiled model keeps per sequence while decoding, at
// the spec's dtype and max_seq_len, from its blocks' own declarations
// (BlockSchema::decode_state). Core knows no block: a block that declares
// nothing leaves its layer's state unknown.

#include <cstdint>
#include <string>
#include <vector>

#include "eulerstack/registry.hpp"

namespace eulerstack::spec {

struct StatePart {
  std::string name;         // as the block declares it: "kv_cache", "ssm_state", ...
  std::int64_t bytes = 0;   // at max_seq_len tokens, one sequence
  std::int64_t bytes_per_token = 0;  // the part that grows with each token (0 for a fixed state)
};

struct LayerState {
  bool known = true;              // false when a block of the layer declares no state
  std::vector<StatePart> parts;
  std::int64_t bytes = 0;         // sum of the parts
};

// One entry per ir["layers"][i]; the IR of a valid spec (CompileResult::ir).
std::vector<LayerState> decode_states(const Json& ir, const Registry& registry);

}  // namespace eulerstack::spec
