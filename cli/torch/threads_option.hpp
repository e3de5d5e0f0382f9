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
  // More threads than this only cost memory: a huge count ends in the OpenMP runtime's out-of-memory abort.
  constexpr int kMaxThreads = 1024;
  if (threads < 1 || threads > kMaxThreads)
    throw Error(make_error("UsageError", "cli.usage",
                           {{"reason", "--threads needs 1 <= N <= " + std::to_string(kMaxThreads)}, {"command", command}}));
  at::set_num_threads(threads);
}

}  // namespace eulerstack::cli
