#include "eulerstack/runtime/block_module.hpp"

#include "elementwise_init.hpp"

#include <ATen/ATen.h>

namespace eulerstack {

namespace {

// The core rules draw every element independently of its position, so a large
// tensor can be generated in pieces (see is_elementwise).
struct NormalRule {
  double std;
  void operator()(at::Tensor& t, at::Generator& g) const { t.normal_(0.0, std, g); }
};
struct FillRule {
  double value;
  void operator()(at::Tensor& t, at::Generator&) const { t.fill_(value); }
};
struct UniformRule {
  double low, high;
  void operator()(at::Tensor& t, at::Generator& g) const { t.uniform_(low, high, g); }
};

}  // namespace

namespace init {
InitRule normal(double std) { return NormalRule{std}; }
InitRule zeros() { return FillRule{0.0}; }
InitRule ones() { return FillRule{1.0}; }
InitRule constant(double value) { return FillRule{value}; }
InitRule uniform(double low, double high) { return UniformRule{low, high}; }
}  // namespace init

bool is_elementwise(const InitRule& rule) {
  return rule.target<NormalRule>() || rule.target<FillRule>() || rule.target<UniformRule>();
}

const InitRule* BlockModule::init_rule(const std::string& local_name) const {
  auto it = rules_.find(local_name);
  return it == rules_.end() ? nullptr : &it->second;
}

at::Tensor BlockModule::add_parameter(const std::string& name, std::vector<std::int64_t> shape,
                                      const at::TensorOptions& options, InitRule rule) {
  rules_[name] = std::move(rule);
  return register_parameter(name, at::empty(shape, options));
}

Linear::Linear(std::int64_t in, std::int64_t out, bool bias, const at::TensorOptions& options, InitRule weight_rule,
               InitRule bias_rule) {
  weight_ = add_parameter("weight", {out, in}, options, std::move(weight_rule));
  if (bias) bias_ = add_parameter("bias", {out}, options, std::move(bias_rule));
}

at::Tensor Linear::forward(const at::Tensor& x) const { return at::linear(x, weight_, bias_); }

std::shared_ptr<Linear> add_linear(torch::nn::Module& parent, const std::string& name, std::int64_t in,
                                   std::int64_t out, bool bias, const at::TensorOptions& options,
                                   InitRule weight_rule, InitRule bias_rule) {
  return parent.register_module(
      name, std::make_shared<Linear>(in, out, bias, options, std::move(weight_rule), std::move(bias_rule)));
}

}  // namespace eulerstack
