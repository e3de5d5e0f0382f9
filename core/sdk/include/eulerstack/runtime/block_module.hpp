#pragma once
// The base of every LibTorch module a plugin builds: a torch::nn::Module that
// also records how each of its own parameters is initialised, so a model can be
// initialised (or streamed to disk) tensor by tensor from a seed, whatever order
// the modules were built in.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Generator.h>
#include <torch/nn/module.h>

namespace eulerstack {

// Fills `tensor` (float32, CPU, the parameter's shape) in place, drawing only
// from `generator`. Pure: the same generator state gives the same values.
using InitRule = std::function<void(at::Tensor& tensor, at::Generator& generator)>;

namespace init {
InitRule normal(double std);
InitRule zeros();
InitRule ones();
InitRule constant(double value);
InitRule uniform(double low, double high);
}  // namespace init

class BlockModule : public torch::nn::Module {
 public:
  // The rule of a parameter registered directly on this module ("weight",
  // "A_log"), or nullptr.
  const InitRule* init_rule(const std::string& local_name) const;

 protected:
  // Registers an uninitialised parameter of `shape` with `options` (dtype and
  // device of the model; the meta device builds a model without memory).
  at::Tensor add_parameter(const std::string& name, std::vector<std::int64_t> shape,
                           const at::TensorOptions& options, InitRule rule);

 private:
  std::map<std::string, InitRule> rules_;
};

// y = x W^T + b, with W [out, in]: parameters `weight` and optionally `bias`
// (zeros unless a rule is given). Our own rather than torch::nn::Linear so that parameters are created
// with the model's dtype and device and never initialised twice.
class Linear : public BlockModule {
 public:
  Linear(std::int64_t in, std::int64_t out, bool bias, const at::TensorOptions& options, InitRule weight_rule,
         InitRule bias_rule = init::zeros());
  at::Tensor forward(const at::Tensor& x) const;
  const at::Tensor& weight() const { return weight_; }
  const at::Tensor& bias() const { return bias_; }  // undefined without a bias

 private:
  at::Tensor weight_;
  at::Tensor bias_;
};

// Registers a Linear as a named child of `parent`.
std::shared_ptr<Linear> add_linear(torch::nn::Module& parent, const std::string& name, std::int64_t in,
                                   std::int64_t out, bool bias, const at::TensorOptions& options,
                                   InitRule weight_rule, InitRule bias_rule = init::zeros());

}  // namespace eulerstack
