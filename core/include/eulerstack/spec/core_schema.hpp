#pragma once
// The parameter tables of the spec sections core owns (schema v1). Block
// parameters come from the plugins; these cover everything around them.

#include <map>
#include <string>
#include <vector>

#include "eulerstack/param_schema.hpp"

namespace eulerstack::spec {

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
