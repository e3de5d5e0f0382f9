#include "compile_options.hpp"

#include "eulerstack/diagnostics.hpp"

namespace eulerstack::cli {

void add_compile_options(cxxopts::Options& options) {
  options.add_options()("print-config", "print the JSON config to stdout")(
      "output", "write the JSON config to FILE (atomically)", cxxopts::value<std::string>())(
      "output-dir", "export a HuggingFace model directory: config, random weights, modeling code",
      cxxopts::value<std::string>())("validate-only", "stop after validation")(
      "force", "with --output-dir: replace an existing non-empty directory")(
      "seed", "with --output-dir: seed of the random weights (default: training_hints.seed)",
      cxxopts::value<std::uint64_t>())(
      "max-shard-size", "with --output-dir: largest safetensors file, e.g. 5GB or 2GiB",
      cxxopts::value<std::string>()->default_value("50GB"))(
      "threads", "with --output-dir: threads drawing the random weights (default: one per physical core)",
      cxxopts::value<int>());
}

void require_one_compile_mode(const cxxopts::ParseResult& parsed) {
  const auto modes = parsed.count("print-config") + parsed.count("output") + parsed.count("output-dir") +
                     parsed.count("validate-only");
  if (modes != 1)
    throw Error(make_error(
        "UsageError", "cli.usage",
        {{"reason", "choose exactly one of --print-config, --output FILE, --output-dir DIR, --validate-only"},
         {"command", "compile"}}));
}

}  // namespace eulerstack::cli
