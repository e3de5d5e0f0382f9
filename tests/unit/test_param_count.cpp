// The front end's parameter count around plugins' formulas: an overflow inside
// a formula, or a formula that wrapped unchecked, is an error at the block.
// Blocks are registered in-process; no plugin library is loaded.

#include <cstdint>
#include <functional>

#include <doctest/doctest.h>

#include "eulerstack/checked_count.hpp"
#include "eulerstack/registry.hpp"
#include "eulerstack/spec/frontend.hpp"

using eulerstack::BlockContext;
using eulerstack::Count;
using eulerstack::ParamCounter;
using eulerstack::Registrar;
using eulerstack::Registry;

namespace {

const char* const kSpec = R"(schema_version: 1
model: {name: tiny, d_model: 1048576, vocab_size: 256, max_seq_len: 128, n_heads: 2}
tokenizer_contract: {type: hf, pretrained: t}
embedding: {type: learned, positional: none}
layer_templates:
  t:
    mixer: {type: probe}
    ffn: {type: plain}
layer_schedule:
  - {template: t, repeat: 3}
head: {type: causal_lm}
)";

eulerstack::BlockSchema block(const char* name, ParamCounter count) {
  eulerstack::BlockSchema s;
  s.name = name;
  s.summary = "a test block";
  s.count_params = std::move(count);
  return s;
}

eulerstack::spec::CompileResult compile_with_mixer_count(ParamCounter count) {
  Registrar staged;
  staged.add(eulerstack::MixerDefinition{block("probe", std::move(count))});
  staged.add(eulerstack::FfnDefinition{block("plain", [](const BlockContext&) { return std::int64_t{1}; })});
  staged.add(eulerstack::PositionalDefinition{block("none", [](const BlockContext&) { return std::int64_t{0}; })});
  Registry registry;
  registry.commit({"probe", "0.1.0", "tests", "a test plugin", {}, {}, {}, "in-process"}, std::move(staged));
  return eulerstack::spec::compile_spec(eulerstack::spec::parse_spec(kSpec, "spec.yml"), registry);
}

}  // namespace

TEST_CASE("a formula written in Count that overflows is reported at the block's template") {
  auto result = compile_with_mixer_count([](const BlockContext& ctx) {
    const Count d = ctx.model_int("d_model");
    return (d * d * d * d).value();  // 2^80
  });
  REQUIRE(result.diagnostics.errors.size() == 1);
  const auto& e = result.diagnostics.errors.front();
  CHECK(e.id == "spec.block_param_overflow");
  CHECK(e.args.at("kind") == "mixer");
  CHECK(e.args.at("block") == "probe");
  CHECK(e.args.at("path") == "layer_templates.t.mixer");
  CHECK(e.args.at("detail") == "1152921504606846976 * 1048576 overflows 64 bits");
  CHECK(e.where.line == 7);
  CHECK(e.where.column == 5);
  CHECK(result.failed_stage == 2);
}

TEST_CASE("a formula that wrapped unchecked to a negative count is refused, not summed") {
  auto result = compile_with_mixer_count([](const BlockContext& ctx) {
    const std::int64_t d = ctx.model_int("d_model");
    return static_cast<std::int64_t>(static_cast<std::uint64_t>(d) * d * d * 9);  // 9 * 2^60 wraps to -7 * 2^60
  });
  REQUIRE(result.diagnostics.errors.size() == 1);
  CHECK(result.diagnostics.errors.front().id == "spec.block_param_overflow");
  CHECK(result.diagnostics.errors.front().args.at("detail") == "the formula returned -8070450532247928832");
}

TEST_CASE("formulas within 64 bits give the exact count") {
  auto result = compile_with_mixer_count([](const BlockContext& ctx) { return (Count(ctx.model_int("d_model")) * 2).value(); });
  REQUIRE(result.ok());
  CHECK(result.params.layers == std::vector<std::int64_t>{2097152 + 1 + 2 * 1048576, 2097152 + 1 + 2 * 1048576,
                                                          2097152 + 1 + 2 * 1048576});
}
