#pragma once
// The FFN nonlinearities by their spec names.

#include <string>

#include <ATen/core/Tensor.h>

namespace eulerstack::ffn {

using Activation = at::Tensor (*)(const at::Tensor&);

// "gelu" (exact, erf form), "relu", "swiglu" (SiLU; the gate of SwiGLU).
Activation activation_named(const std::string& name);

}  // namespace eulerstack::ffn
