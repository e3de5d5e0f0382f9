#pragma once
// `--threads N` of the LibTorch commands (run, compile --output-dir): LibTorch's
// intra-op threads, and the export's drawing threads.

#include <ATen/Parallel.h>
#include <cxxopts.hpp>

#include "eulerstack/diagnostics.hpp"

namespace eulerstack::cli {

inline void apply_threads_option(const cxxopts::ParseResult& parsed, const char* command) {
  if (!parsed.count("threads")) return;
  const int threads = parsed["threads"].as<int>();
  if (threads < 1)
    throw Error(make_error("UsageError", "cli.usage", {{"reason", "--threads needs N >= 1"}, {"command", command}}));
  at::set_num_threads(threads);
}

}  // namespace eulerstack::cli
