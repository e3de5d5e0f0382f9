// Stage 3: realism heuristics. Warnings only: a spec may be unusual on purpose.

#include <fmt/format.h>

#include "stages.hpp"

namespace eulerstack::spec {
namespace {

void warn(SpecContext& ctx, const std::string& path, std::string id, MessageArgs args) {
  Diagnostic d = error_at(ctx.doc, path, std::move(id), std::move(args));
  d.severity = Severity::Warning;
  d.category = "RealismWarning";
  ctx.out.warnings.push_back(std::move(d));
}

}  // namespace

void check_realism(SpecContext& ctx, const NormalizedSpec& spec, const Json& layers, const ParamBreakdown& params) {
  const auto d_model = spec.model["d_model"].get<std::int64_t>();
  const auto head_dim = d_model / spec.model["n_heads"].get<std::int64_t>();
  if (head_dim < 32 || head_dim > 256)
    warn(ctx, "model.n_heads", "realism.head_dim", {{"head_dim", std::to_string(head_dim)}});

  if (spec.model["target_params"].is_number()) {
    const auto target = spec.model["target_params"].get<std::int64_t>();
    const double ratio = static_cast<double>(params.total) / static_cast<double>(target);
    if (ratio < 0.7 || ratio > 1.3)
      warn(ctx, "model.target_params", "realism.target_params",
           {{"estimate", std::to_string(params.total)}, {"target", std::to_string(target)},
            {"percent", fmt::format("{:.0f}", ratio * 100.0)}});
  }

  // Quadratic-memory mixers (those keeping a KV cache) at a very long context.
  bool quadratic = false;
  for (const auto& layer : layers)
    quadratic = quadratic || layer["state"]["kv_cache"].get<bool>();
  const auto max_seq = spec.model["max_seq_len"].get<std::int64_t>();
  if (quadratic && max_seq > 64 * d_model)
    warn(ctx, "model.max_seq_len", "realism.seq_len_ratio",
         {{"ratio", std::to_string(max_seq / d_model)}, {"max_seq_len", std::to_string(max_seq)}});

  if (spec.embedding["tie_word_embeddings"] != spec.head["tie_weights"])
    warn(ctx, "head.tie_weights", "realism.tie_flags", {});

  const auto pretrained = spec.tokenizer["pretrained"].get<std::string>();
  if (pretrained.find("gpt2") != std::string::npos && spec.model["vocab_size"].get<std::int64_t>() < 50257)
    warn(ctx, "model.vocab_size", "realism.vocab_tokenizer",
         {{"pretrained", pretrained}, {"vocab_size", spec.model["vocab_size"].dump()}, {"tokens", "50257"}});
}

}  // namespace eulerstack::spec
