#include "retention.hpp"

#include <algorithm>
#include <vector>

#include <ATen/ATen.h>

namespace eulerstack::retnet {

at::Tensor log_decays(std::int64_t heads, const at::TensorOptions& options) {
  const at::Tensor h = at::arange(heads, options.dtype(at::kFloat));
  return at::log1p(-at::exp2(-5.0 - h));
}

namespace {

// The parallel form with each row's tokens counted by its real-token index
// r (cumsum of `real` - 1): D[n,m] = gamma^(r_n - r_m) for real m at or
// before n, 0 for padding m; a row's R real tokens decay the prior state by gamma^R.
Retained parallel_padded(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& log_decay,
                         const at::Tensor& state, const at::Tensor& real) {
  const std::int64_t T = q.size(2);
  const at::Tensor is_real = real.to(q.device(), at::kBool);
  const at::Tensor r = is_real.to(at::kFloat).cumsum(1) - 1;                        // [B, T]
  const at::Tensor total = r.select(1, T - 1).add(1).view({-1, 1, 1});              // R [B, 1, 1]
  const at::Tensor slot = at::arange(T, q.options());
  const at::Tensor earlier = (slot.unsqueeze(1) - slot.unsqueeze(0)).ge(0);         // [T, T]
  const at::Tensor seen = earlier.logical_and(is_real.unsqueeze(1)).unsqueeze(1);   // [B, 1, T, T]
  const at::Tensor gap = (r.unsqueeze(2) - r.unsqueeze(1)).unsqueeze(1);            // [B, 1, T, T]
  const at::Tensor rate = log_decay.view({1, -1, 1, 1});                            // [1, H, 1, 1]
  const at::Tensor decay = at::where(seen, at::exp(gap.clamp_min(0) * rate), at::zeros({}, q.options()));
  Retained out;
  out.output = at::matmul(at::matmul(q, k.transpose(-1, -2)) * decay, v);
  // Weight of real token m in the state after the row's last real token: gamma^(R-1-r_m).
  const at::Tensor lag = (total.squeeze(-1) - 1 - r).unsqueeze(1);                 // [B, 1, T]
  const at::Tensor keep = (at::exp(lag.clamp_min(0) * log_decay.view({1, -1, 1})) * is_real.unsqueeze(1)).unsqueeze(-1);
  out.state = at::matmul((k * keep).transpose(-1, -2), v);
  if (state.defined()) {
    const at::Tensor carried = at::exp((r + 1).clamp_min(0).unsqueeze(1) * log_decay.view({1, -1, 1})).unsqueeze(-1);
    out.output = out.output + at::matmul(q, state) * carried;
    out.state = out.state + state * at::exp(total * log_decay.view({1, -1, 1})).unsqueeze(-1);
  }
  return out;
}

}  // namespace

Retained parallel(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& log_decay,
                  const at::Tensor& state, const at::Tensor& real) {
  if (real.defined()) return parallel_padded(q, k, v, log_decay, state, real);
  const std::int64_t T = q.size(2);
  const at::Tensor index = at::arange(T, q.options());
  const at::Tensor gap = index.unsqueeze(1) - index.unsqueeze(0);  // n - m
  const at::Tensor rate = log_decay.view({-1, 1, 1});               // [H, 1, 1]
  // Clamped before exp so the masked upper triangle cannot overflow.
  const at::Tensor decay = at::where(gap >= 0, at::exp(gap.clamp_min(0) * rate), at::zeros({}, q.options()));
  Retained out;
  out.output = at::matmul(at::matmul(q, k.transpose(-1, -2)) * decay, v);
  // Weight of token m in the state after the last token: gamma^(T-1-m).
  const at::Tensor keep = at::exp((T - 1 - index) * log_decay.view({-1, 1})).unsqueeze(-1);  // [H, T, 1]
  out.state = at::matmul((k * keep).transpose(-1, -2), v);
  if (state.defined()) {
    const at::Tensor carried = at::exp((index + 1) * log_decay.view({-1, 1})).unsqueeze(-1);  // gamma^(i+1)
    out.output = out.output + at::matmul(q, state) * carried;
    out.state = out.state + state * at::exp(T * log_decay).view({-1, 1, 1});
  }
  return out;
}

Retained chunkwise(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& log_decay,
                   const at::Tensor& state, std::int64_t chunk, const at::Tensor& real) {
  const std::int64_t T = q.size(2);
  std::vector<at::Tensor> outputs;
  at::Tensor carried = state;
  for (std::int64_t start = 0; start < T; start += chunk) {
    const std::int64_t length = std::min(chunk, T - start);
    Retained part = parallel(q.narrow(2, start, length), k.narrow(2, start, length), v.narrow(2, start, length),
                             log_decay, carried, real.defined() ? real.narrow(1, start, length) : at::Tensor());
    outputs.push_back(std::move(part.output));
    carried = std::move(part.state);
  }
  return {at::cat(outputs, 2), carried};
}

Retained recurrent(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& log_decay,
                   const at::Tensor& state, const at::Tensor& real) {
  const at::Tensor gamma = at::exp(log_decay).view({-1, 1, 1});
  at::Tensor s = state.defined()
                     ? state
                     : at::zeros({q.size(0), q.size(1), q.size(3), v.size(3)}, q.options());
  std::vector<at::Tensor> outputs;
  for (std::int64_t t = 0; t < q.size(2); ++t) {
    const at::Tensor kt = k.select(2, t).unsqueeze(-1);  // [B, H, dk, 1]
    const at::Tensor vt = v.select(2, t).unsqueeze(-2);  // [B, H, 1, dv]
    const at::Tensor next = gamma * s + at::matmul(kt, vt);
    s = real.defined() ? at::where(real.select(1, t).to(at::kBool).view({-1, 1, 1, 1}), next, s) : next;
    outputs.push_back(at::matmul(q.select(2, t).unsqueeze(-2), s));  // [B, H, 1, dv]
  }
  return {at::cat(outputs, 2), s};
}

}  // namespace eulerstack::retnet
