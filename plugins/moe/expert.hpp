#pragma once
// One expert FFN: the same parameter names and math as the ffn plugin's mlp
// and gated_mlp (which this plugin cannot link).

#include <cstdint>
#include <memory>
#include <string>

#include "eulerstack/runtime/interfaces.hpp"

namespace eulerstack::moe {

class Expert final : public BlockModule {
 public:
  // gated: down_proj(act(gate_proj(x)) * up_proj(x)); otherwise down_proj(act(up_proj(x))).
  explicit Expert(const ModuleContext& context);
  at::Tensor forward(const at::Tensor& x) const;  // [n, d] -> [n, d]

 private:
  at::Tensor (*activation_)(const at::Tensor&);
  std::shared_ptr<Linear> gate_, up_, down_;
};

}  // namespace eulerstack::moe
