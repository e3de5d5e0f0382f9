#pragma once
// Deterministic initialisation. Every parameter is drawn from its own
// generator, seeded from the model seed and the parameter's full name, so the
// values do not depend on build order, on which other parameters exist, or on
// whether the model is initialised whole or streamed tensor by tensor.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <torch/nn/module.h>

#include "eulerstack/runtime/block_module.hpp"

namespace eulerstack {

// The seed of one parameter's generator.
std::uint64_t parameter_seed(std::uint64_t model_seed, const std::string& full_name);

// The init rule of every parameter under `root`, by full name. Parameters
// registered outside a BlockModule (or without a rule) are absent.
std::map<std::string, const InitRule*> init_rules(torch::nn::Module& root);

// A parameter of more elements than this, under an elementwise rule (the core
// rules: normal, zeros, ones, constant, uniform), is drawn in pieces of this
// many elements in memory order, piece k from its own generator; so the HF
// export streams a 7B model's largest tensors in bounded memory.
constexpr std::int64_t kInitPieceElements = std::int64_t{1} << 24;

// One parameter's initial value: float32 on the CPU, `shape`.
at::Tensor initial_value(const InitRule& rule, std::uint64_t model_seed, const std::string& full_name,
                         at::IntArrayRef shape);

// The same value in pieces: how many, and piece k as flat float32 (memory
// order); their concatenation is initial_value(...).flatten(). A rule that is
// not elementwise gives one piece. Pieces are independent: any thread may draw any.
std::int64_t initial_piece_count(const InitRule& rule, at::IntArrayRef shape);
at::Tensor initial_piece(const InitRule& rule, std::uint64_t model_seed, const std::string& full_name,
                         at::IntArrayRef shape, std::int64_t k);

// Initialises every parameter of `root` in place (converted to its dtype and
// device). Throws std::logic_error naming any parameter that has no rule.
void initialize_parameters(torch::nn::Module& root, std::uint64_t model_seed);

}  // namespace eulerstack
