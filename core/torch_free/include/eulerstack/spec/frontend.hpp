#pragma once
// From a parsed spec to the IR: expressions, stage 1 (schema: core sections
// and every block against its plugin's table), stage 2 (cross-field checks,
// core's and each block's), the IR with every layer materialized, the exact
// parameter count, and stage 3 (realism warnings).

#include <cstdint>
#include <vector>

#include "eulerstack/registry.hpp"
#include "eulerstack/spec/check_params.hpp"
#include "eulerstack/spec/document.hpp"

namespace eulerstack::spec {

// One layer's count split by block: the mixer and the FFN each with the blocks
// they name (routers), and the layer's norms.
struct LayerParams {
  std::int64_t mixer = 0;
  std::int64_t ffn = 0;
  std::int64_t norms = 0;
};

struct ParamBreakdown {
  std::int64_t embedding = 0;   // token embedding + positional weights
  std::vector<std::int64_t> layers;
  std::vector<LayerParams> layer_parts;  // layers[i] = mixer + ffn + norms
  std::int64_t final_norm = 0;
  std::int64_t head = 0;        // 0 when tied
  std::int64_t total = 0;
};

struct CompileResult {
  int failed_stage = 0;        // 0 = valid; 1 = schema; 2 = cross-field
  Diagnostics diagnostics;     // the failing stage's errors, and every warning so far
  Json ir;                     // the normalized model (valid specs only)
  ParamBreakdown params;       // valid specs only
  bool ok() const { return failed_stage == 0; }
};

CompileResult compile_spec(SpecDocument doc, const Registry& registry);

}  // namespace eulerstack::spec
