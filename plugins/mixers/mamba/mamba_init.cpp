#include "mamba_init.hpp"

#include <cmath>

#include <ATen/ATen.h>

namespace eulerstack::mamba {

InitRule inverse_softplus_dt(double dt_min, double dt_max, double dt_floor) {
  return [=](at::Tensor& t, at::Generator& g) {
    t.uniform_(std::log(dt_min), std::log(dt_max), g).exp_().clamp_min_(dt_floor);
    t.add_(at::log(-at::expm1(-t)));  // softplus^-1(dt) = dt + log(1 - exp(-dt))
  };
}

InitRule log_uniform(double low, double high) {
  return [=](at::Tensor& t, at::Generator& g) { t.uniform_(low, high, g).log_(); };
}

InitRule s4d_real_log() {
  return [](at::Tensor& t, at::Generator&) {
    t.copy_(at::arange(1, t.size(-1) + 1, t.options()).log().expand_as(t));
  };
}

}  // namespace eulerstack::mamba
