#include "selective_scan.hpp"

#include <vector>

#include <ATen/ATen.h>

namespace eulerstack::mamba {

ScanResult selective_scan(const at::Tensor& x, const at::Tensor& dt, const at::Tensor& A, const at::Tensor& B,
                          const at::Tensor& C, const at::Tensor& initial_state) {
  const std::int64_t b = x.size(0), T = x.size(1), di = x.size(2), n = A.size(1);
  const at::Tensor Af = A.to(at::kFloat);
  const at::Tensor dtf = dt.to(at::kFloat);
  const at::Tensor dx = dtf * x.to(at::kFloat);  // [b, T, di]
  const at::Tensor Bf = B.to(at::kFloat);
  const at::Tensor Cf = C.to(at::kFloat).unsqueeze(-1);  // [b, T, N, 1]
  at::Tensor state = initial_state.defined() ? initial_state.to(at::kFloat)
                                             : at::zeros({b, di, n}, x.options().dtype(at::kFloat));
  std::vector<at::Tensor> ys;
  ys.reserve(T);
  for (std::int64_t t = 0; t < T; ++t) {
    const at::Tensor decay = (dtf.select(1, t).unsqueeze(-1) * Af).exp();              // [b, di, N]
    state = decay * state + dx.select(1, t).unsqueeze(-1) * Bf.select(1, t).unsqueeze(1);
    ys.push_back(at::matmul(state, Cf.select(1, t)).squeeze(-1));                      // [b, di]
  }
  return {at::stack(ys, 1), state};
}

}  // namespace eulerstack::mamba
