// What each layer keeps while decoding, from its blocks' own declarations
// (BlockSchema::decode_state), and the count split by block. Blocks are
// registered in-process; no plugin library is loaded.

#include <cstdint>
#include <limits>

#include <doctest/doctest.h>

#include "eulerstack/registry.hpp"
#include "eulerstack/spec/decode_state.hpp"
#include "eulerstack/spec/frontend.hpp"

using eulerstack::BlockContext;
using eulerstack::DecodeStatePart;

namespace {

const char* const kSpec = R"(schema_version: 1
model: {name: tiny, d_model: 8, vocab_size: 16, max_seq_len: 128, n_heads: 2}
tokenizer_contract: {type: hf, pretrained: t}
embedding: {type: learned, positional: none}
layer_templates:
  cached: {mixer: {type: cached}, ffn: {type: plain}}
  silent: {mixer: {type: silent}, ffn: {type: plain}}
layer_schedule:
  - {template: cached, repeat: 2}
  - {template: silent}
head: {type: causal_lm}
)";

eulerstack::BlockSchema block(const char* name, std::int64_t count) {
  eulerstack::BlockSchema s;
  s.name = name;
  s.summary = "a test block";
  s.count_params = [count](const BlockContext&) { return count; };
  return s;
}

struct Compiled {
  eulerstack::Registry registry;
  eulerstack::spec::CompileResult result;
};

// `cached` keeps 10 bytes per token for at most `window` tokens plus 7 fixed;
// `silent` declares nothing; the FFN keeps nothing.
void compile(Compiled& out, std::int64_t bytes_per_token, std::int64_t window) {
  eulerstack::Registrar staged;
  auto cached = block("cached", 100);
  cached.decode_state = [=](const BlockContext&) {
    return std::vector<DecodeStatePart>{{"kv_cache", bytes_per_token, window, 0}, {"counter", 0, -1, 7}};
  };
  staged.add(eulerstack::MixerDefinition{cached});
  staged.add(eulerstack::MixerDefinition{block("silent", 50)});
  auto plain = block("plain", 20);
  plain.decode_state = [](const BlockContext&) { return std::vector<DecodeStatePart>{}; };
  staged.add(eulerstack::FfnDefinition{plain});
  staged.add(eulerstack::PositionalDefinition{block("none", 0)});
  out.registry.commit({"probe", "0.1.0", "tests", "a test plugin", {}, {}, {}, "in-process"}, std::move(staged));
  out.result = eulerstack::spec::compile_spec(eulerstack::spec::parse_spec(kSpec, "spec.yml"), out.registry);
  REQUIRE(out.result.ok());
}

}  // namespace

TEST_CASE("a layer's state is its blocks' parts at max_seq_len, a window capping what grows") {
  Compiled c;
  compile(c, 10, 100);
  const auto states = eulerstack::spec::decode_states(c.result.ir, c.registry);
  REQUIRE(states.size() == 3);
  CHECK(states[0].known);
  CHECK(states[0].bytes == 100 * 10 + 7);
  REQUIRE(states[0].parts.size() == 2);
  CHECK(states[0].parts[0].name == "kv_cache");
  CHECK(states[0].parts[0].bytes == 1000);
  CHECK(states[0].parts[0].bytes_per_token == 10);
  CHECK(states[0].parts[1].bytes == 7);
  CHECK_FALSE(states[2].known);  // `silent` declares nothing: unknown, not zero
}

TEST_CASE("without a window every token of max_seq_len is held") {
  Compiled c;
  compile(c, 10, -1);
  CHECK(eulerstack::spec::decode_states(c.result.ir, c.registry)[1].bytes == 128 * 10 + 7);
}

TEST_CASE("a state too large to count is unknown rather than wrapped") {
  Compiled c;
  compile(c, std::numeric_limits<std::int64_t>::max() / 64, -1);
  const auto states = eulerstack::spec::decode_states(c.result.ir, c.registry);
  CHECK_FALSE(states[0].known);
}

TEST_CASE("each layer's count is split into mixer, FFN and norms") {
  Compiled c;
  compile(c, 1, -1);
  const auto& p = c.result.params;
  REQUIRE(p.layer_parts.size() == 3);
  CHECK(p.layer_parts[0].mixer == 100);
  CHECK(p.layer_parts[2].mixer == 50);
  CHECK(p.layer_parts[0].ffn == 20);
  CHECK(p.layer_parts[0].norms == 2 * 8);  // two RMSNorms of d_model
  for (std::size_t i = 0; i < 3; ++i)
    CHECK(p.layers[i] == p.layer_parts[i].mixer + p.layer_parts[i].ffn + p.layer_parts[i].norms);
}
