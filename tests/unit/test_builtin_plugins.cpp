// The builtin plugins in <build>/plugins, as the CLI finds them: all of them
// load, and every block they declare has a complete, documented schema.

#include <algorithm>

#include <doctest/doctest.h>

#include "eulerstack/messages.hpp"
#include "eulerstack/plugin_host.hpp"
#include "support.hpp"

namespace fs = std::filesystem;
using eulerstack::BlockKind;
using eulerstack::ParamSpec;
using eulerstack::Registry;

namespace {

void load_builtins(Registry& registry) {
  eulerstack::load_plugins(registry, {{test::builtin_plugin_dir(), "builtin"}});
}

// Every parameter, nested object fields included, as "block.param.field".
void each_param(const std::vector<ParamSpec>& params, const std::string& prefix,
                std::vector<std::pair<std::string, const ParamSpec*>>& out) {
  for (const auto& spec : params) {
    out.emplace_back(prefix + spec.name, &spec);
    each_param(spec.fields, prefix + spec.name + ".", out);
  }
}

}  // namespace

TEST_CASE("every builtin plugin file loads, with no failures and nothing shadowed") {
  Registry registry;
  load_builtins(registry);
  const auto& report = registry.report();
  for (const auto& failure : report.failures)
    FAIL_CHECK(eulerstack::render(failure.diagnostic, "en"));
  CHECK(report.shadowed.empty());

  const auto files = eulerstack::plugin_files_in(test::builtin_plugin_dir());
  CHECK(report.loaded.size() == files.size());
  // Every target in meson's builtin_plugins was built into that directory and loaded.
  const auto targets = test::builtin_plugin_files();
  REQUIRE_FALSE(targets.empty());
  for (const auto& target : targets) {
    const bool loaded = std::any_of(report.loaded.begin(), report.loaded.end(), [&](const auto& record) {
      return fs::equivalent(record.file, target);
    });
    CHECK_MESSAGE(loaded, "builtin plugin not loaded: ", target.string());
  }
  CHECK(registry.mixers().find("attention") != nullptr);
}

TEST_CASE("every builtin plugin describes itself and provides at least one block") {
  Registry registry;
  load_builtins(registry);
  const std::string host = eulerstack::describe(eulerstack::host_build_stamp());
  for (const auto& record : registry.report().loaded) {
    CAPTURE(record.file);
    CHECK_FALSE(record.name.empty());
    CHECK_FALSE(record.version.empty());
    CHECK_FALSE(record.bundle.empty());
    CHECK_FALSE(record.description.empty());
    CHECK(record.build == host);
    CHECK_FALSE(registry.blocks_of(record).empty());
  }
}

TEST_CASE("every builtin block has a complete schema") {
  Registry registry;
  load_builtins(registry);
  std::size_t blocks = 0;
  for (BlockKind kind : eulerstack::kAllBlockKinds) {
    for (const auto& entry : registry.entries(kind)) {
      ++blocks;
      const auto& schema = *entry.schema;
      CAPTURE(schema.name);
      CHECK_FALSE(schema.summary.empty());
      CHECK(static_cast<bool>(schema.count_params));
      CHECK(eulerstack::schema_defect(schema.params) == "");
      CHECK(eulerstack::schema_defect(schema.inline_params) == "");
      std::vector<std::pair<std::string, const ParamSpec*>> params;
      each_param(schema.params, schema.name + ".", params);
      each_param(schema.inline_params, schema.name + ".", params);
      for (const auto& [path, spec] : params) CHECK_MESSAGE(!spec->doc.empty(), path, " has no description");
      CHECK(eulerstack::to_json(schema.params).size() == schema.params.size());
    }
  }
  CHECK(blocks >= 1);
}

TEST_CASE("the attention mixer counts its parameters from the schema defaults") {
  Registry registry;
  load_builtins(registry);
  const auto& attention = registry.mixers().require("attention");
  eulerstack::BlockContext ctx;
  ctx.model = {{"d_model", 64}, {"n_heads", 4}, {"n_kv_heads", 2}};
  ctx.params = eulerstack::defaults_of(attention.definition.schema.params);
  // q_proj and o_proj 64x64 each, k_proj and v_proj 32x64 each (2 of 4 heads), no biases.
  CHECK(attention.definition.schema.count_params(ctx) == 2 * 64 * 64 + 2 * 64 * 32);
  ctx.params["qkv_bias"] = true;
  CHECK(attention.definition.schema.count_params(ctx) == 2 * 64 * 64 + 2 * 64 * 32 + 64 + 2 * 32);
}
