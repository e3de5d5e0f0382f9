// Rotary position embedding (RoFormer), in the non-interleaved rotate_half
// layout of GPT-NeoX / Llama / HF: the first `rot` = head_dim *
// partial_rotary_factor dims of each head are split into halves (x1, x2) and
// rotated as x * cos + (-x2, x1) * sin; the remaining dims pass through.
// inv_freq_i = 1 / base^(2i / rot). cos/sin and the rotation are computed in
// float32 and returned in the input's dtype.
//
// rope_scaling (HF semantics). model.max_seq_len is the extended context, so
// the trained context is orig = max_seq_len / factor.
//   linear:  positions / factor (position interpolation)
//   ntk:     base = theta * factor^(rot / (rot - 2))
//   dynamic: HF DynamicNTK with seq_len = max(positions) + 1: beyond orig,
//            base = theta * (factor * seq_len / orig - (factor - 1))^(rot / (rot - 2)).
//            The base depends on the furthest position of each call, so keys
//            cached while decoding past orig were rotated with an older base
//            and a cached decode differs from one full forward there (as in HF).
//   yarn:    HF YaRN (beta_fast 32, beta_slow 1): per frequency a linear ramp
//            between interpolated (inv_freq / factor) and extrapolated inv_freq,
//            and cos and sin scaled by 0.1 * ln(factor) + 1.

#include <cmath>
#include <string>

#include <ATen/ATen.h>

#include "positional_modules.hpp"

namespace eulerstack::positional {
namespace {

constexpr double kPi = 3.14159265358979323846;

// inv_freq [rot/2] float32 for `base`, as HF computes it.
at::Tensor inverse_frequencies(double base, std::int64_t rot, const at::TensorOptions& options) {
  return 1.0 / at::pow(base, at::arange(0, rot, 2, options) / static_cast<double>(rot));
}

class Rope : public PositionalModule {
 public:
  explicit Rope(const ModuleContext& context) {
    const auto& block = context.block;
    const std::int64_t head_dim = block.model_int("d_model") / block.model_int("n_heads");
    rot_ = static_cast<std::int64_t>(static_cast<double>(head_dim) * block.param<double>("partial_rotary_factor"));
    TORCH_CHECK(rot_ >= 2 && rot_ % 2 == 0 && rot_ <= head_dim, "rope: the rotated part of each head (", rot_,
                " of ", head_dim, " dims) must be even and at least 2");
    theta_ = block.param<double>("rope_theta");
    if (block.is_set("rope_scaling")) {
      const auto& scaling = block.params.at("rope_scaling");
      type_ = scaling.value("type", std::string("linear"));
      factor_ = scaling.value("factor", 1.0);
    }
    original_ = static_cast<double>(block.model_int("max_seq_len")) / factor_;
    TORCH_CHECK(rot_ > 2 || (type_ != "ntk" && type_ != "dynamic"), "rope_scaling ", type_,
                " needs a rotated part of more than 2 dims per head (its base exponent is rot / (rot - 2))");
  }

  std::pair<at::Tensor, at::Tensor> rotate(const at::Tensor& q, const at::Tensor& k,
                                           const at::Tensor& positions) override {
    TORCH_CHECK(q.size(-1) >= rot_ && k.size(-1) >= rot_, "rope: head_dim ", q.size(-1), " is smaller than the ",
                rot_, " rotated dims");
    auto [cos, sin] = cos_sin(positions.to(q.device()));
    if (positions.dim() == 2) cos = cos.unsqueeze(1), sin = sin.unsqueeze(1);  // per row: [B, 1, T, rot]
    return {apply(q, cos, sin), apply(k, cos, sin)};
  }

 private:
  // cos and sin [T, rot] (or [B, T, rot] for per-row positions), float32.
  std::pair<at::Tensor, at::Tensor> cos_sin(const at::Tensor& positions) const {
    const auto options = positions.options().dtype(at::kFloat);
    at::Tensor position = positions.to(at::kFloat);
    at::Tensor inv_freq;
    double scale = 1.0;
    if (type_ == "linear") {
      inv_freq = inverse_frequencies(theta_, rot_, options);
      position = position / factor_;
    } else if (type_ == "ntk") {
      inv_freq = inverse_frequencies(theta_ * std::pow(factor_, exponent()), rot_, options);
    } else if (type_ == "dynamic") {
      double base = theta_;
      if (positions.numel() > 0) {
        const auto seq_len = static_cast<double>(positions.max().item<std::int64_t>() + 1);
        if (seq_len > original_) base = theta_ * std::pow(factor_ * seq_len / original_ - (factor_ - 1.0), exponent());
      }
      inv_freq = inverse_frequencies(base, rot_, options);
    } else if (type_ == "yarn") {
      inv_freq = yarn_frequencies(options);
      scale = factor_ <= 1.0 ? 1.0 : 0.1 * std::log(factor_) + 1.0;
    } else {
      inv_freq = inverse_frequencies(theta_, rot_, options);
    }
    const auto freqs = position.unsqueeze(-1) * inv_freq;
    const auto angles = at::cat({freqs, freqs}, -1);
    return {angles.cos() * scale, angles.sin() * scale};
  }

  double exponent() const { return static_cast<double>(rot_) / static_cast<double>(rot_ - 2); }

  // HF _compute_yarn_parameters with truncate = true.
  at::Tensor yarn_frequencies(const at::TensorOptions& options) const {
    const double dim = static_cast<double>(rot_);
    auto correction_dim = [&](double rotations) {
      return dim * std::log(original_ / (rotations * 2.0 * kPi)) / (2.0 * std::log(theta_));
    };
    const double low = std::max(std::floor(correction_dim(32.0)), 0.0);
    double high = std::min(std::ceil(correction_dim(1.0)), dim - 1.0);
    if (low == high) high += 0.001;
    const auto ramp = ((at::arange(rot_ / 2, options) - low) / (high - low)).clamp(0.0, 1.0);
    const auto extrapolation_weight = 1.0 - ramp;
    const auto extrapolated = inverse_frequencies(theta_, rot_, options);
    const auto interpolated = extrapolated / factor_;
    return interpolated * (1.0 - extrapolation_weight) + extrapolated * extrapolation_weight;
  }

  at::Tensor apply(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) const {
    const std::int64_t half = rot_ / 2;
    const auto head = x.narrow(-1, 0, rot_).to(at::kFloat);
    const auto rotated_half = at::cat({-head.narrow(-1, half, half), head.narrow(-1, 0, half)}, -1);
    const auto rotated = (head * cos + rotated_half * sin).to(x.scalar_type());
    if (rot_ == x.size(-1)) return rotated;
    return at::cat({rotated, x.narrow(-1, rot_, x.size(-1) - rot_)}, -1);
  }

  std::int64_t rot_ = 0;
  double theta_ = 10000.0;
  std::string type_ = "none";
  double factor_ = 1.0;
  double original_ = 0.0;
};

}  // namespace

std::shared_ptr<PositionalModule> make_rope(const ModuleContext& context) { return std::make_shared<Rope>(context); }

}  // namespace eulerstack::positional
