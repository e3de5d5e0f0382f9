#pragma once
// Prints one block's schema: for `plugins info` and `schema`.

#include <ostream>

#include "eulerstack/registry.hpp"
#include "session.hpp"

namespace eulerstack::cli {

// Where the block's parameters are written in a spec, e.g.
// "layer_templates.<name>.mixer.mamba".
std::string yaml_location(const BlockEntry& block);

void print_block(const Session& session, const BlockEntry& block, std::ostream& out);
void print_param_table(const std::vector<ParamSpec>& params, const std::string& indent, std::ostream& out);
Json block_json(const BlockEntry& block);

}  // namespace eulerstack::cli
