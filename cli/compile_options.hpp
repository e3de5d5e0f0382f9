#pragma once
// The options of `eulerstack compile`, shared by the executable (JSON outputs)
// and the LibTorch command library (--output-dir, the HF export).

#include <cxxopts.hpp>

namespace eulerstack::cli {

void add_compile_options(cxxopts::Options& options);

// Throws Error(UsageError) unless exactly one output mode is chosen.
void require_one_compile_mode(const cxxopts::ParseResult& parsed);

}  // namespace eulerstack::cli
