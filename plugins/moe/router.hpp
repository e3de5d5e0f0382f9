#pragma once
// The top-k routers ("softmax", "sigmoid"): a linear scorer plus a score function.

#include <memory>

#include "eulerstack/runtime/interfaces.hpp"

namespace eulerstack::moe {

enum class Scoring { Softmax, Sigmoid };

// `context` holds the router's parameters merged with its MoE's.
std::shared_ptr<RouterModule> make_router(const ModuleContext& context, Scoring scoring);

}  // namespace eulerstack::moe
