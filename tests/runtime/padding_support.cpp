#include "padding_support.hpp"

#include <algorithm>

#include <ATen/ATen.h>

#include "support.hpp"

namespace rt {

PaddedRows PaddedRows::make(std::int64_t length) {
  PaddedRows rows;
  rows.real = at::ones({3, length}, at::TensorOptions().dtype(at::kBool));
  rows.real[0].narrow(0, 0, 3).fill_(false);
  rows.real[1].narrow(0, length - 2, 2).fill_(false);
  rows.real[2][4] = false;
  rows.positions = (rows.real.to(at::kLong).cumsum(1) - 1).masked_fill(rows.real.logical_not(), 1);
  for (std::int64_t r = 0; r < 3; ++r) rows.slots.push_back(rows.real[r].nonzero().squeeze(1));
  return rows;
}

at::Tensor PaddedRows::alone(const at::Tensor& t, std::int64_t row) const {
  return t[row].index_select(0, slots[static_cast<std::size_t>(row)]).unsqueeze(0);
}

eulerstack::MixerInput PaddedRows::input(eulerstack::PositionalModule& positional, eulerstack::LayerCache* cache) const {
  eulerstack::MixerInput in;
  in.positions = positions;
  in.positional = &positional;
  in.cache = cache;
  in.padding_mask = real;
  return in;
}

PaddingDiffs mixer_padding_diffs(eulerstack::MixerModule& mixer, eulerstack::PositionalModule& positional,
                                 const at::Tensor& x, std::int64_t steps) {
  at::NoGradGuard no_grad;
  const PaddedRows rows = PaddedRows::make(x.size(1));
  at::Generator g = at::detail::createCPUGenerator(77);
  const at::Tensor next = at::randn({rows.rows(), steps, x.size(2)}, g, x.options());
  PaddingDiffs diffs;
  const at::Tensor padded = mixer.forward(x, rows.input(positional));
  auto cache = mixer.new_cache();
  mixer.forward(x, rows.input(positional, cache.get()));
  std::vector<at::Tensor> continued;
  const at::Tensor counts = rows.real.to(at::kLong).sum(1, /*keepdim=*/true);
  for (std::int64_t t = 0; t < steps; ++t) {
    eulerstack::MixerInput step;
    step.positions = counts + t;  // [3, 1]
    step.positional = &positional;
    step.cache = cache.get();
    continued.push_back(mixer.forward(next.narrow(1, t, 1), step));
  }
  for (std::int64_t r = 0; r < rows.rows(); ++r) {
    const std::int64_t n = rows.length(r);
    const at::Tensor alone = mixer.forward(rows.alone(x, r), mixer_input(positional, 0, n));
    diffs.forward = std::max(diffs.forward, max_abs_diff(rows.alone(padded, r), alone));
    auto own = mixer.new_cache();
    mixer.forward(rows.alone(x, r), mixer_input(positional, 0, n, own.get()));
    for (std::int64_t t = 0; t < steps; ++t) {
      const at::Tensor expected = mixer.forward(next.narrow(0, r, 1).narrow(1, t, 1), mixer_input(positional, n + t, 1, own.get()));
      diffs.decode = std::max(diffs.decode, max_abs_diff(continued[t].narrow(0, r, 1), expected));
    }
  }
  return diffs;
}

}  // namespace rt
