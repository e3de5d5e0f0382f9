#pragma once
// The parameter tables of the spec sections core owns (schema v1). Block
// parameters come from the plugins; these cover everything around them.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "eulerstack/param_schema.hpp"

namespace eulerstack::spec {

// Upper bounds on the sizes a spec may ask for: far beyond any published model,
// low enough that nothing sized by them (the layer list, a parameter count) can
// exhaust memory or overflow before the first error. Stage 1 checks them like
// any other range, so the error names the field and the limit (docs/SPEC.md#limits).
namespace limits {
constexpr std::int64_t kMaxDModel = std::int64_t{1} << 20;     // 1,048,576
constexpr std::int64_t kMaxVocab = std::int64_t{1} << 24;      // 16,777,216
constexpr std::int64_t kMaxSeqLen = std::int64_t{1} << 24;     // 16,777,216
constexpr std::int64_t kMaxHeads = std::int64_t{1} << 16;      // 65,536 (also n_kv_heads)
constexpr std::int64_t kMaxMlpRatio = 256;
constexpr std::int64_t kMaxLayers = std::int64_t{1} << 14;     // 16,384: one `repeat` and the whole stack
}  // namespace limits

const std::vector<ParamSpec>& model_params();
const std::vector<ParamSpec>& tokenizer_params();
const std::vector<ParamSpec>& embedding_params();   // besides `positional` and the positional block's own
const std::vector<ParamSpec>& head_params();
const std::vector<ParamSpec>& training_hints_params();
const std::vector<ParamSpec>& compatibility_params();
const std::vector<ParamSpec>& norm_params();
const std::vector<ParamSpec>& residual_params();
const std::vector<ParamSpec>& state_params();       // defaults come from the mixer's capabilities

// Upstream schema v1 features that no plugin interface of this build
// provides, by the key that introduces them: key -> what it is.
const std::map<std::string, std::string>& unprovided_top_level_keys();
const std::map<std::string, std::string>& unprovided_template_keys();
const std::map<std::string, std::string>& unprovided_schedule_keys();

}  // namespace eulerstack::spec
