// Registry: committing staged blocks, collisions, listings and unknown names.
// Blocks are registered in-process here; no plugin library is loaded.

#include <doctest/doctest.h>

#include "eulerstack/messages.hpp"
#include "eulerstack/registry.hpp"
#include "support.hpp"

using eulerstack::BlockKind;
using eulerstack::BlockSchema;
using eulerstack::Error;
using eulerstack::PluginRecord;
using eulerstack::Registrar;
using eulerstack::Registry;
namespace param = eulerstack::param;

namespace {

BlockSchema schema(std::string name) {
  BlockSchema s;
  s.name = std::move(name);
  s.summary = "a test block";
  s.params = {param::integer("width", 1).at_least(1).describe("a documented parameter")};
  s.count_params = [](const eulerstack::BlockContext&) { return std::int64_t{7}; };
  return s;
}

eulerstack::MixerDefinition mixer(std::string name) { return {schema(std::move(name))}; }
eulerstack::FfnDefinition ffn(std::string name) { return {schema(std::move(name))}; }
eulerstack::RouterDefinition router(std::string name) { return {schema(std::move(name))}; }

PluginRecord plugin(std::string name, std::string file = {}) {
  return PluginRecord{std::move(name), "0.1.0", "tests", "a test plugin", std::move(file), {}, {}, "in-process"};
}

std::vector<std::string> names(const std::vector<eulerstack::BlockEntry>& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries) out.push_back(e.schema->name);
  return out;
}

// Runs `f`, which must throw eulerstack::Error, and returns its diagnostic.
template <class F>
eulerstack::Diagnostic error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.first();
  }
  FAIL("no eulerstack::Error thrown");
  return {};
}

}  // namespace

TEST_CASE("commit registers a plugin's blocks and returns a lasting record") {
  Registry registry;
  Registrar staged;
  staged.add(mixer("attention"));
  staged.add(ffn("mlp"));
  const PluginRecord& record = registry.commit(plugin("core"), std::move(staged));

  CHECK(record.name == "core");
  REQUIRE(registry.report().loaded.size() == 1);
  CHECK(&registry.report().loaded.front() == &record);
  const auto* attention = registry.mixers().find("attention");
  REQUIRE(attention != nullptr);
  CHECK(attention->plugin == &record);
  CHECK(attention->definition.schema.count_params(eulerstack::BlockContext{}) == 7);
  CHECK(registry.ffns().find("mlp") != nullptr);
  CHECK(registry.mixers().find("mlp") == nullptr);  // kinds are separate
  CHECK(&registry.mixers().require("attention") == attention);

  // Records keep their address when more plugins arrive.
  for (int i = 0; i < 50; ++i) {
    Registrar more;
    more.add(router("r" + std::to_string(i)));
    registry.commit(plugin("p" + std::to_string(i)), std::move(more));
  }
  CHECK(registry.mixers().find("attention")->plugin == &record);
  CHECK(&registry.report().loaded.front() == &record);
}

TEST_CASE("the same name may be used by different kinds") {
  Registry registry;
  Registrar staged;
  staged.add(mixer("gated"));
  staged.add(ffn("gated"));
  registry.commit(plugin("p"), std::move(staged));
  CHECK(registry.mixers().find("gated") != nullptr);
  CHECK(registry.ffns().find("gated") != nullptr);
}

TEST_CASE("a duplicate inside one plugin is refused and changes nothing") {
  Registry registry;
  Registrar staged;
  staged.add(ffn("mlp"));
  staged.add(mixer("twice"));
  staged.add(mixer("twice"));
  const auto d = error_of([&] { registry.commit(plugin("p", "/plugins/libp.so"), std::move(staged)); });

  CHECK(d.category == "PluginError");
  CHECK(d.id == "registry.duplicate_block");
  CHECK(d.args.at("block") == "twice");
  CHECK(d.args.at("plugin") == "p");
  CHECK(d.args.at("other_plugin") == "p");
  CHECK(test::contains(eulerstack::render(d, "en"),
                       "mixer 'twice' is registered twice: by plugin 'p' (/plugins/libp.so) and by plugin 'p' "
                       "(/plugins/libp.so)"));
  CHECK(registry.report().loaded.empty());
  CHECK(registry.mixers().all().empty());
  CHECK(registry.ffns().all().empty());
}

TEST_CASE("a name taken by an earlier plugin is refused and names both plugins and files") {
  Registry registry;
  Registrar first;
  first.add(mixer("attention"));
  const PluginRecord& owner = registry.commit(plugin("attention", "/a/libattention.so"), std::move(first));

  Registrar second;
  second.add(ffn("extra_ffn"));  // checked first, valid, but must not be registered either
  second.add(mixer("attention"));
  const auto d = error_of([&] { registry.commit(plugin("copycat", "/b/libcopycat.so"), std::move(second)); });

  CHECK(d.id == "registry.duplicate_block");
  const std::string text = eulerstack::render(d, "en");
  CHECK(test::contains(text, "mixer 'attention' is registered twice"));
  CHECK(test::contains(text, "plugin 'copycat' (/b/libcopycat.so)"));
  CHECK(test::contains(text, "plugin 'attention' (/a/libattention.so)"));
  CHECK(registry.report().loaded.size() == 1);
  CHECK(registry.mixers().find("attention")->plugin == &owner);
  CHECK(registry.ffns().find("extra_ffn") == nullptr);
  CHECK(registry.entries(BlockKind::Ffn).empty());
}

TEST_CASE("in-process plugins are named as such in errors") {
  Registry registry;
  Registrar first;
  first.add(mixer("m"));
  registry.commit(plugin("one"), std::move(first));
  Registrar second;
  second.add(mixer("m"));
  const auto d = error_of([&] { registry.commit(plugin("two"), std::move(second)); });
  CHECK(d.args.at("file") == "(in-process)");
  CHECK(d.args.at("other_file") == "(in-process)");
}

TEST_CASE("a malformed schema is refused with the reason") {
  auto defect_of = [](BlockSchema s) {
    Registry registry;
    Registrar staged;
    staged.add(eulerstack::PositionalDefinition{std::move(s)});
    const auto d = error_of([&] { registry.commit(plugin("p", "/p/libp.so"), std::move(staged)); });
    CHECK(d.id == "plugin.bad_schema");
    CHECK(registry.report().loaded.empty());
    CHECK(registry.positionals().all().empty());
    return d;
  };

  auto no_doc = schema("rope");
  no_doc.params.push_back(param::number("theta", 10000.0));
  const auto d = defect_of(no_doc);
  CHECK(d.args.at("kind") == "positional");
  CHECK(d.args.at("block") == "rope");
  CHECK(eulerstack::render(d, "en").rfind(
            "PluginError: plugin 'p' (/p/libp.so) declares positional 'rope' with a malformed schema: "
            "parameter 'theta' has no description\n",
            0) == 0);

  auto no_name = schema("");
  CHECK(defect_of(no_name).args.at("reason") == "a block has no name");
  auto no_summary = schema("x");
  no_summary.summary.clear();
  CHECK(defect_of(no_summary).args.at("reason") == "no summary");
  auto no_count = schema("x");
  no_count.count_params = nullptr;
  CHECK(defect_of(no_count).args.at("reason") == "no parameter-count formula");
  auto bad_inline = schema("x");
  bad_inline.inline_params = {param::integer("k", 1)};
  CHECK(defect_of(bad_inline).args.at("reason") == "parameter 'k' has no description");
  auto both = schema("x");
  both.params = {param::integer("k", 1).describe("a parameter")};
  both.unprovided_params = {{"k", "an upstream feature"}};
  CHECK(defect_of(both).args.at("reason") == "'k' is both a parameter and not provided");
}

TEST_CASE("entries are sorted by name across plugins; find and blocks_of") {
  Registry registry;
  Registrar a;
  a.add(mixer("zeta"));
  a.add(mixer("alpha"));
  a.add(ffn("mlp"));
  const PluginRecord& pa = registry.commit(plugin("a"), std::move(a));
  Registrar b;
  b.add(mixer("mid"));
  b.add(router("softmax"));
  const PluginRecord& pb = registry.commit(plugin("b"), std::move(b));

  CHECK(names(registry.entries(BlockKind::Mixer)) == std::vector<std::string>{"alpha", "mid", "zeta"});
  CHECK(names(registry.entries(BlockKind::Router)) == std::vector<std::string>{"softmax"});
  CHECK(registry.entries(BlockKind::Positional).empty());
  for (const auto& entry : registry.entries(BlockKind::Mixer)) CHECK(entry.kind == BlockKind::Mixer);

  const auto* mid = registry.find(BlockKind::Mixer, "mid");
  REQUIRE(mid != nullptr);
  CHECK(mid->plugin == &pb);
  CHECK(mid->schema == &registry.mixers().find("mid")->definition.schema);
  CHECK(registry.find(BlockKind::Ffn, "mid") == nullptr);
  CHECK(registry.find(BlockKind::Positional, "anything") == nullptr);

  CHECK(names(registry.blocks_of(pa)) == std::vector<std::string>{"alpha", "zeta", "mlp"});  // by kind, then name
  CHECK(names(registry.blocks_of(pb)) == std::vector<std::string>{"mid", "softmax"});
  PluginRecord stranger = plugin("a");  // same name, not a registered record
  CHECK(registry.blocks_of(stranger).empty());
}

TEST_CASE("require on an unknown name: suggestions, known names by plugin, failures, search path") {
  Registry registry;
  Registrar core;
  core.add(mixer("attention"));
  core.add(mixer("mamba"));
  registry.commit(plugin("core"), std::move(core));
  Registrar extra;
  extra.add(mixer("retnet"));
  registry.commit(plugin("extra"), std::move(extra));
  registry.report().search_path = {{"/opt/es/plugins", "--plugin-dir"}, {"/usr/lib/es/plugins", "default"}};
  registry.report().failures.push_back(
      {"/opt/es/plugins/libbroken.so",
       eulerstack::make_error("PluginError", "plugin.not_loadable",
                              {{"file", "/opt/es/plugins/libbroken.so"}, {"reason", "invalid ELF header"}})});

  const auto d = error_of([&] { registry.mixers().require("atention"); });
  CHECK(d.category == "PluginError");
  CHECK(d.id == "registry.unknown_block");
  CHECK(d.args.at("kind") == "mixer");
  CHECK(d.args.at("name") == "atention");
  CHECK(eulerstack::render(d, "en") ==
        "PluginError: no mixer named 'atention' is provided by any loaded plugin\n"
        "  did you mean: attention\n"
        "  known mixer types from plugin 'core': attention, mamba\n"
        "  known mixer types from plugin 'extra': retnet\n"
        "  failed to load: /opt/es/plugins/libbroken.so is not a loadable plugin library: invalid ELF header\n"
        "  plugin search path: /opt/es/plugins (--plugin-dir), /usr/lib/es/plugins (default)\n"
        "Fix: Use one of the known mixer names below, or add the plugin that provides 'atention' with "
        "--plugin-dir or EULERSTACK_PLUGIN_PATH.\n"
        "See: docs/PLUGINS.md#finding-plugins\n");
}

TEST_CASE("require with nothing of that kind loaded and nothing close") {
  Registry registry;
  Registrar core;
  core.add(mixer("attention"));
  registry.commit(plugin("core"), std::move(core));

  const auto d = error_of([&] { registry.routers().require("softmax"); });
  REQUIRE(d.notes.size() == 2);
  CHECK(d.notes[0].id == "note.no_known_blocks");
  CHECK(d.notes[1].id == "note.search_path");
  const std::string text = eulerstack::render(d, "en");
  CHECK(test::contains(text, "no router named 'softmax'"));
  CHECK(test::contains(text, "  no loaded plugin provides any router type\n"));
  CHECK(test::contains(text, "  plugin search path: -\n"));
  CHECK_FALSE(test::contains(text, "did you mean"));
}

TEST_CASE("block kind names") {
  CHECK(std::string(eulerstack::to_string(BlockKind::Mixer)) == "mixer");
  CHECK(std::string(eulerstack::to_string(BlockKind::Ffn)) == "ffn");
  CHECK(std::string(eulerstack::to_string(BlockKind::Router)) == "router");
  CHECK(std::string(eulerstack::to_string(BlockKind::Positional)) == "positional");
}
