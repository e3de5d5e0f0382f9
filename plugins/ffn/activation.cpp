#include "activation.hpp"

#include <stdexcept>

#include <ATen/ATen.h>

namespace eulerstack::ffn {
namespace {

at::Tensor gelu(const at::Tensor& x) { return at::gelu(x, "none"); }
at::Tensor relu(const at::Tensor& x) { return at::relu(x); }
at::Tensor silu(const at::Tensor& x) { return at::silu(x); }

}  // namespace

Activation activation_named(const std::string& name) {
  if (name == "gelu") return gelu;
  if (name == "relu") return relu;
  if (name == "swiglu") return silu;
  throw std::invalid_argument("ffn: unknown activation '" + name + "'");
}

}  // namespace eulerstack::ffn
