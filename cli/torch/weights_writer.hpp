#pragma once
// Streams a model's initial weights into safetensors files, one piece at a
// time: each parameter is initialised from the seed and its name (the same
// values CausalLM::initialize gives) in pieces of at most kInitPieceElements
// (initialize.hpp), converted to its dtype, written and dropped, so memory
// stays at a few pieces whatever the model size.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <torch/nn/module.h>

#include "progress_line.hpp"

namespace eulerstack::cli {

struct WrittenWeights {
  std::vector<std::string> files;  // model.safetensors, or the shards and the index
  std::uint64_t tensor_bytes = 0;
  std::int64_t parameters = 0;
};

// `model` may live on the meta device: only names, shapes, dtypes and init
// rules are read. Above `max_shard_bytes` the weights are split into
// model-0000i-of-0000N.safetensors plus model.safetensors.index.json. Pieces
// are drawn on `draw_threads` threads. On a terminal, `progress_text` words
// the progress line.
WrittenWeights write_weights(torch::nn::Module& model, std::uint64_t seed, const std::filesystem::path& dir,
                             std::uint64_t max_shard_bytes, int draw_threads,
                             const ProgressLine::Formatter& progress_text);

// "50GB" (10^9), "2GiB" (2^30), "500MB", "1000" (bytes). Throws Error(UsageError).
std::uint64_t parse_size(const std::string& text);

}  // namespace eulerstack::cli
