#include "ssd.hpp"

#include <algorithm>
#include <limits>
#include <vector>

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>

namespace eulerstack::mamba {

namespace {

at::Tensor f32(const at::Tensor& t) { return t.to(at::kFloat); }

// Zero-pads dim 1 (time) by `pad` at the end.
at::Tensor pad_time(const at::Tensor& t, std::int64_t pad) {
  if (pad == 0) return t;
  std::vector<std::int64_t> spec(2 * (t.dim() - 1), 0);
  spec.back() = pad;
  return at::constant_pad_nd(t, spec, 0.0);
}

// [b, g, N] -> [b, h, N]: each group's row repeated for its h/g heads.
at::Tensor per_head(const at::Tensor& t, std::int64_t heads) {
  const std::int64_t b = t.size(0), g = t.size(1), n = t.size(2);
  return t.unsqueeze(2).expand({b, g, heads / g, n}).reshape({b, heads, n});
}

// No autograd to record the update, and no inference tensor outside inference mode.
bool updatable_in_place(const at::Tensor& state) {
  return !at::GradMode::is_enabled() && (c10::InferenceMode::is_enabled() || !state.is_inference());
}

// The chunked algorithm over all of x's chunks at once.
ScanResult ssd_block(const at::Tensor& x, const at::Tensor& dt, const at::Tensor& A, const at::Tensor& B,
                     const at::Tensor& C, std::int64_t chunk_size, const at::Tensor& initial_state) {
  const std::int64_t b = x.size(0), T = x.size(1), h = x.size(2), p = x.size(3);
  const std::int64_t g = B.size(2), n = B.size(3), hg = h / g;
  const std::int64_t l = std::min(chunk_size, T);
  const std::int64_t c = (T + l - 1) / l;
  const std::int64_t pad = c * l - T;

  // Padding tokens get dt = 0: they neither decay the state nor feed it.
  const at::Tensor dt_p = pad_time(f32(dt), pad);                                   // [b, cl, h]
  // Layouts with the group and its heads ahead of the chunk's time axis:
  // X [b, c, g, hg, l, p], a = A dt and its in-chunk cumsum [b, c, g, hg, l], B/C [b, c, g, l, N].
  const at::Tensor X = (pad_time(f32(x), pad) * dt_p.unsqueeze(-1))
                           .reshape({b, c, l, g, hg, p})
                           .permute({0, 1, 3, 4, 2, 5});
  const at::Tensor a_cum = (dt_p * f32(A)).reshape({b, c, l, g, hg}).permute({0, 1, 3, 4, 2}).cumsum(-1);
  const at::Tensor Bc = pad_time(f32(B), pad).reshape({b, c, l, g, n}).permute({0, 1, 3, 2, 4});
  const at::Tensor Cc = pad_time(f32(C), pad).reshape({b, c, l, g, n}).permute({0, 1, 3, 2, 4});

  // 1. Within chunks: y_t = sum_{s<=t} exp(a_cum_t - a_cum_s) (C_t . B_s) X_s.
  //    C B^T once per group [b, c, g, l, l], broadcast to the group's heads.
  const at::Tensor CB = at::matmul(Cc, Bc.transpose(-1, -2)).unsqueeze(3);
  const at::Tensor future = at::ones({l, l}, x.options().dtype(at::kBool)).triu(1);
  // Mask before exp: exp of the (positive) future entries could overflow. In
  // place: the [.., l, l] tensors are the scan's largest.
  const at::Tensor decay = (a_cum.unsqueeze(-1) - a_cum.unsqueeze(-2))
                               .masked_fill_(future, -std::numeric_limits<float>::infinity())
                               .exp_();                                             // [b, c, g, hg, l, l]
  at::Tensor y = at::matmul(CB * decay, X);                                        // [b, c, g, hg, l, p]

  // 2. Each chunk's contribution to the state at its end: sum_s exp(a_cum_end - a_cum_s) X_s ⊗ B_s.
  const at::Tensor to_end = (a_cum.narrow(-1, l - 1, 1) - a_cum).exp().unsqueeze(-1);
  const at::Tensor chunk_states = at::matmul((X * to_end).transpose(-1, -2), Bc.unsqueeze(3));  // [b,c,g,hg,p,N]

  // 3. Across chunks: the state entering each chunk.
  const at::Tensor chunk_decay = a_cum.select(-1, l - 1).exp().unsqueeze(-1).unsqueeze(-1);  // [b,c,g,hg,1,1]
  at::Tensor state = initial_state.defined() ? f32(initial_state).reshape({b, g, hg, p, n})
                                             : at::zeros({b, g, hg, p, n}, x.options().dtype(at::kFloat));
  std::vector<at::Tensor> entering;
  entering.reserve(c);
  for (std::int64_t k = 0; k < c; ++k) {
    entering.push_back(state);
    state = chunk_decay.select(1, k) * state + chunk_states.select(1, k);
  }

  // 4. The entering state read out at each position: exp(a_cum_t) C_t . state.
  const at::Tensor S = at::stack(entering, 1);                                      // [b, c, g, hg, p, N]
  y = y + at::matmul(Cc.unsqueeze(3), S.transpose(-1, -2)) * a_cum.exp().unsqueeze(-1);

  y = y.permute({0, 1, 4, 2, 3, 5}).reshape({b, c * l, h, p}).narrow(1, 0, T);
  return {y, state.reshape({b, h, p, n})};
}

}  // namespace

ScanResult ssd_chunked(const at::Tensor& x, const at::Tensor& dt, const at::Tensor& A, const at::Tensor& B,
                       const at::Tensor& C, std::int64_t chunk_size, const at::Tensor& initial_state) {
  // Whole chunks go through ssd_block a few at a time, the state carried from
  // block to block: its [b, h, l, l] decay and score tensors then stay the same
  // size at any length (cache-sized, not O(T)), so time per token and memory
  // stay flat as prompts grow.
  constexpr std::int64_t kBlockBytes = std::int64_t{16} << 20;
  const std::int64_t T = x.size(1), l = std::min(chunk_size, T);
  const std::int64_t chunk_bytes = x.size(0) * x.size(2) * l * l * static_cast<std::int64_t>(sizeof(float));
  const std::int64_t span = l * std::max<std::int64_t>(1, kBlockBytes / chunk_bytes);
  if (T <= span) return ssd_block(x, dt, A, B, C, chunk_size, initial_state);
  std::vector<at::Tensor> ys;
  at::Tensor state = initial_state;
  for (std::int64_t start = 0; start < T; start += span) {
    const std::int64_t n = std::min(span, T - start);
    ScanResult block = ssd_block(x.narrow(1, start, n), dt.narrow(1, start, n), A, B.narrow(1, start, n),
                                 C.narrow(1, start, n), chunk_size, state);
    ys.push_back(std::move(block.y));
    state = std::move(block.state);
  }
  return {at::cat(ys, 1), state};
}

ScanResult ssd_step(const at::Tensor& x, const at::Tensor& dt, const at::Tensor& A, const at::Tensor& B,
                    const at::Tensor& C, const at::Tensor& state) {
  const std::int64_t h = x.size(1);
  const at::Tensor dtf = f32(dt);
  const at::Tensor decay = (dtf * f32(A)).exp().unsqueeze(-1).unsqueeze(-1);  // [b, h, 1, 1]
  const at::Tensor input = (f32(x) * dtf.unsqueeze(-1)).unsqueeze(-1);         // [b, h, p, 1]
  const at::Tensor B_row = per_head(f32(B), h).unsqueeze(2);                    // [b, h, 1, N]
  at::Tensor next;                                                              // [b, h, p, N]
  if (!state.defined())
    next = input * B_row;
  else if (updatable_in_place(state))  // decoding: new state-sized copies were the step's largest cost
    next = f32(state).mul_(decay).addcmul_(input, B_row);
  else
    next = at::addcmul(decay * f32(state), input, B_row);
  // Not matmul(next, C as a column): ATen's batched matrix-times-column path was ~8x slower here.
  at::Tensor y = at::einsum("bhpn,bhn->bhp", {next, per_head(f32(C), h)});
  return {y, next};
}

}  // namespace eulerstack::mamba
