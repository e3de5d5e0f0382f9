#include "eulerstack/runtime/initialize.hpp"

#include <algorithm>
#include <stdexcept>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "elementwise_init.hpp"

namespace eulerstack {

std::uint64_t parameter_seed(std::uint64_t model_seed, const std::string& full_name) {
  // FNV-1a over the name, mixed with the seed by splitmix64: stable across
  // platforms and library versions, unlike std::hash.
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : full_name) h = (h ^ c) * 0x100000001b3ull;
  std::uint64_t z = h ^ (model_seed + 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

namespace {

void add_rules(torch::nn::Module& module, const std::string& prefix, std::map<std::string, const InitRule*>& rules) {
  const auto* block = dynamic_cast<const BlockModule*>(&module);
  if (!block) return;
  for (const auto& param : module.named_parameters(/*recurse=*/false))
    if (const InitRule* rule = block->init_rule(param.key())) rules[prefix + param.key()] = rule;
}

}  // namespace

std::map<std::string, const InitRule*> init_rules(torch::nn::Module& root) {
  std::map<std::string, const InitRule*> rules;
  add_rules(root, "", rules);  // the root may live on the stack: never ask it for a shared_ptr
  for (const auto& item : root.named_modules("", /*include_self=*/false)) add_rules(*item.value(), item.key() + ".", rules);
  return rules;
}

namespace {

// Piece 0 uses the parameter's own seed, so a tensor of one piece is drawn as
// it always was; piece k > 0 seeds from the name and k.
void fill_piece(const InitRule& rule, std::uint64_t model_seed, const std::string& full_name, std::int64_t k,
                at::Tensor& piece) {
  const std::string seed_name = k == 0 ? full_name : full_name + "#" + std::to_string(k);
  at::Generator generator = at::detail::createCPUGenerator(parameter_seed(model_seed, seed_name));
  rule(piece, generator);
}

std::int64_t piece_count(const InitRule& rule, std::int64_t elements) {
  if (elements <= kInitPieceElements || !is_elementwise(rule)) return 1;
  return (elements + kInitPieceElements - 1) / kInitPieceElements;
}

}  // namespace

std::int64_t initial_piece_count(const InitRule& rule, at::IntArrayRef shape) {
  return piece_count(rule, c10::multiply_integers(shape));
}

at::Tensor initial_value(const InitRule& rule, std::uint64_t model_seed, const std::string& full_name,
                         at::IntArrayRef shape) {
  at::Tensor value = at::empty(shape, at::TensorOptions().dtype(at::kFloat));
  const std::int64_t pieces = piece_count(rule, value.numel());
  if (pieces == 1) {
    fill_piece(rule, model_seed, full_name, 0, value);
    return value;
  }
  at::Tensor flat = value.view({-1});
  for (std::int64_t k = 0; k < pieces; ++k) {
    const std::int64_t begin = k * kInitPieceElements;
    at::Tensor piece = flat.narrow(0, begin, std::min(kInitPieceElements, value.numel() - begin));
    fill_piece(rule, model_seed, full_name, k, piece);
  }
  return value;
}

at::Tensor initial_piece(const InitRule& rule, std::uint64_t model_seed, const std::string& full_name,
                         at::IntArrayRef shape, std::int64_t k) {
  const std::int64_t elements = c10::multiply_integers(shape);
  if (piece_count(rule, elements) == 1) return initial_value(rule, model_seed, full_name, shape).view({-1});
  at::Tensor piece = at::empty({std::min(kInitPieceElements, elements - k * kInitPieceElements)},
                               at::TensorOptions().dtype(at::kFloat));
  fill_piece(rule, model_seed, full_name, k, piece);
  return piece;
}

void initialize_parameters(torch::nn::Module& root, std::uint64_t model_seed) {
  const auto rules = init_rules(root);
  at::NoGradGuard no_grad;
  for (const auto& param : root.named_parameters()) {
    auto it = rules.find(param.key());
    if (it == rules.end()) throw std::logic_error("parameter '" + param.key() + "' has no init rule");
    at::Tensor target = param.value();
    target.copy_(initial_value(*it->second, model_seed, param.key(), target.sizes()));
  }
}

}  // namespace eulerstack
