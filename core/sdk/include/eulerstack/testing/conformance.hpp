#pragma once
// The conformance suite every block gets for free: each block type of the
// chosen plugins is built with its defaults and checked for what the model
// assembly relies on (exact count formula, shapes, finite outputs and
// gradients, cached decoding equal to the full forward, reload from saved
// parameters, valid routing). `eulerstack plugins test` runs it; so can a
// plugin's own tests.

#include <optional>
#include <string>
#include <vector>

#include "eulerstack/diagnostics.hpp"
#include "eulerstack/testing/block_bench.hpp"

namespace eulerstack::testing {

struct ConformanceResult {
  BlockKind kind;
  std::string block;
  std::string plugin;
  std::string check;                  // message id of the check's name, "plugins.check_<name>"
  std::optional<Diagnostic> failure;  // empty when the check passed
};

// Runs the suite on every block of the named plugins (every loaded plugin when
// `plugins` is empty). A block whose module throws fails that check and skips
// its remaining ones.
std::vector<ConformanceResult> run_conformance(const BlockBench& bench, const std::vector<std::string>& plugins = {});

}  // namespace eulerstack::testing
