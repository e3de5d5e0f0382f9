#pragma once
// The front end's stages over one normalized spec. Internal to core.

#include "blocks.hpp"
#include "eulerstack/spec/frontend.hpp"

namespace eulerstack::spec {

// Everything stage 1 produced: each section normalized, each block resolved.
struct NormalizedSpec {
  Json model;          // n_kv_heads filled in
  Json tokenizer;
  Json embedding;      // core keys + "positional": block IR
  Json templates;      // name -> {mixer, ffn, norm, residual, state}
  Json schedule;       // [{template, repeat, override}]
  Json head;
  Json training_hints;
  Json compatibility;
};

// Stage 1: schema. Returns what could be normalized; errors go to ctx.out.
NormalizedSpec check_schema(SpecContext& ctx, const Json& root);

// Stage 2: cross-field rules of core and of every block (plugins' cross_check),
// the blocks checked as each materialized layer has them, overrides applied.
void check_cross_fields(SpecContext& ctx, const NormalizedSpec& spec, const Json& layers);

// The layer stack with overrides applied, one entry per layer.
Json materialize_layers(const NormalizedSpec& spec, const Registry& registry);

// The `override:` group holding a block's per-layer parameters: a mixer's
// config key (or its name when it has none), `ffn` for every FFN.
std::string override_group(const BlockSchema& schema, BlockKind kind);

// Exact trainable parameter counts. Throws Error: spec.param_overflow if a sum
// overflows, spec.block_param_overflow (at the block) if a plugin's formula does.
ParamBreakdown count_params(const SpecDocument& doc, const Registry& registry, const NormalizedSpec& spec,
                            const Json& layers);

// Stage 3: realism warnings into ctx.out.warnings.
void check_realism(SpecContext& ctx, const NormalizedSpec& spec, const Json& layers, const ParamBreakdown& params);

// The BlockContext a plugin sees for a block IR of this model.
BlockContext block_context(const Json& model, const Json& block, int layer_index = -1);

}  // namespace eulerstack::spec
