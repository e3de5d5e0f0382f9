#include "eulerstack/spec/decode_state.hpp"

#include <algorithm>

#include "blocks.hpp"
#include "stages.hpp"

namespace eulerstack::spec {
namespace {

void add_block(LayerState& state, const BlockSchema& schema, const BlockContext& context, std::int64_t tokens) {
  if (!schema.decode_state) {
    state.known = false;
    return;
  }
  for (const DecodeStatePart& part : schema.decode_state(context)) {
    const std::int64_t held = part.max_tokens < 0 ? tokens : std::min(tokens, part.max_tokens);
    std::int64_t grown = 0, bytes = 0, sum = 0;
    if (__builtin_mul_overflow(part.bytes_per_token, held, &grown) ||
        __builtin_add_overflow(grown, part.fixed_bytes, &bytes) || __builtin_add_overflow(state.bytes, bytes, &sum)) {
      state.known = false;  // beyond 8 EiB: no sensible picture either way
      return;
    }
    state.parts.push_back({part.name, bytes, part.bytes_per_token});
    state.bytes = sum;
  }
}

void add_with_refs(LayerState& state, const Registry& registry, BlockKind kind, const Json& model, const Json& block,
                   int layer, std::int64_t tokens) {
  add_block(state, schema_of(registry, kind, block), block_context(model, block, layer), tokens);
  if (!block.contains("refs")) return;
  for (const auto& [name, ref] : block["refs"].items())
    add_block(state, ref_schema_of(registry, ref), block_context(model, ref_with_parent_params(block, ref), layer),
              tokens);
}

}  // namespace

std::vector<LayerState> decode_states(const Json& ir, const Registry& registry) {
  const Json& model = ir.at("model");
  const std::int64_t tokens = model.at("max_seq_len").get<std::int64_t>();
  std::vector<LayerState> out;
  for (const auto& layer : ir.at("layers")) {
    LayerState state;
    const int index = layer.at("index").get<int>();
    add_with_refs(state, registry, BlockKind::Mixer, model, layer.at("mixer"), index, tokens);
    add_with_refs(state, registry, BlockKind::Ffn, model, layer.at("ffn"), index, tokens);
    out.push_back(std::move(state));
  }
  return out;
}

}  // namespace eulerstack::spec
