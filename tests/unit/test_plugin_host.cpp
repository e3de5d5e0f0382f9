// Loading plugin libraries: the fixture plugins under <build>/tests/fixtures,
// each broken in one way, and a good one. Every failure is recorded with a
// message that says which file, what was found and what was expected, and the
// host goes on with the next file.

#include <dlfcn.h>

#include <doctest/doctest.h>

#include "eulerstack/messages.hpp"
#include "eulerstack/plugin.hpp"
#include "eulerstack/plugin_host.hpp"
#include "support.hpp"

namespace fs = std::filesystem;
using eulerstack::BlockKind;
using eulerstack::Registry;
using test::contains;

namespace {

// The one library in a fixture folder.
fs::path fixture_file(const std::string& name) {
  const auto files = eulerstack::plugin_files_in(test::fixture_dir(name));
  REQUIRE_MESSAGE(files.size() == 1, "fixture ", name, " should hold exactly one library");
  return files.front();
}

void load_dirs(Registry& registry, const std::vector<std::string>& fixtures) {
  std::vector<eulerstack::SearchDir> path;
  for (const auto& name : fixtures) path.push_back({test::fixture_dir(name), "test"});
  eulerstack::load_plugins(registry, path);
}

bool nothing_registered(const Registry& registry) {
  for (BlockKind kind : eulerstack::kAllBlockKinds)
    if (!registry.entries(kind).empty()) return false;
  return registry.report().loaded.empty();
}

// Loads one fixture file that must fail, and returns its rendered failure.
std::string single_failure(Registry& registry, const std::string& fixture, const std::string& expected_id) {
  const fs::path file = fixture_file(fixture);
  CHECK(eulerstack::load_plugin_file(registry, file) == nullptr);
  REQUIRE(registry.report().failures.size() == 1);
  const auto& failure = registry.report().failures.front();
  CHECK(failure.file == file);
  CHECK(failure.diagnostic.category == "PluginError");
  CHECK(failure.diagnostic.id == expected_id);
  const std::string text = eulerstack::render(failure.diagnostic, "en");
  CHECK_MESSAGE(contains(text, file.string()), text);
  return text;
}

std::string host_build() { return eulerstack::describe(eulerstack::host_build_stamp()); }

}  // namespace

TEST_CASE("a good plugin loads and registers its blocks") {
  Registry registry;
  load_dirs(registry, {"good"});
  const auto& report = registry.report();
  CHECK(report.failures.empty());
  CHECK(report.shadowed.empty());
  REQUIRE(report.search_path.size() == 1);
  CHECK(report.search_path.front().dir == test::fixture_dir("good"));
  REQUIRE(report.loaded.size() == 1);

  const auto& record = report.loaded.front();
  CHECK(record.name == "fixture_good");
  CHECK(record.version == "1.2.3");
  CHECK(record.bundle == "fixtures");
  CHECK(record.description == "A valid test plugin");
  CHECK(record.file == fixture_file("good"));
  CHECK(record.build == host_build());

  const auto* mixer = registry.mixers().find("good_mixer");
  REQUIRE(mixer != nullptr);
  CHECK(mixer->plugin == &record);
  // The plugin's own formula, called through the registry: 2 * 8 * 8 with the defaults.
  eulerstack::BlockContext ctx;
  ctx.model = {{"d_model", 8}};
  ctx.params = eulerstack::defaults_of(mixer->definition.schema.params);
  CHECK(mixer->definition.schema.count_params(ctx) == 128);
  ctx.params["bias"] = true;
  CHECK(mixer->definition.schema.count_params(ctx) == 128 + 16);
}

TEST_CASE("load_plugin_file returns the record of a good plugin") {
  Registry registry;
  const auto* record = eulerstack::load_plugin_file(registry, fixture_file("good"));
  REQUIRE(record != nullptr);
  CHECK(record == &registry.report().loaded.front());
  CHECK(registry.blocks_of(*record).size() == 1);
}

TEST_CASE("an unknown block name after loading suggests the plugin's blocks") {
  Registry registry;
  load_dirs(registry, {"good"});
  try {
    registry.mixers().require("good_mixr");
    FAIL("no error for an unknown mixer");
  } catch (const eulerstack::Error& e) {
    const std::string text = eulerstack::render(e.first(), "en");
    CHECK(contains(text, "no mixer named 'good_mixr'"));
    CHECK(contains(text, "  did you mean: good_mixer\n"));
    CHECK(contains(text, "  known mixer types from plugin 'fixture_good': good_mixer\n"));
    CHECK(contains(text, "  plugin search path: " + test::fixture_dir("good").string() + " (test)\n"));
  }
}

TEST_CASE("the same plugin later on the path is shadowed, not loaded twice") {
  Registry registry;
  load_dirs(registry, {"good", "good_copy"});
  const auto& report = registry.report();
  CHECK(report.failures.empty());
  REQUIRE(report.loaded.size() == 1);
  CHECK(report.loaded.front().file == fixture_file("good"));
  REQUIRE(report.shadowed.size() == 1);
  CHECK(report.shadowed.front().name == "fixture_good");
  CHECK(report.shadowed.front().file == fixture_file("good_copy"));
  CHECK(report.shadowed.front().winner == fixture_file("good"));
  CHECK(registry.entries(BlockKind::Mixer).size() == 1);
}

TEST_CASE("wrong plugin ABI: both ABI numbers and both build stamps") {
  Registry registry;
  const std::string text = single_failure(registry, "wrong_abi", "plugin.abi_mismatch");
  const auto plugin_abi = std::to_string(eulerstack::kPluginAbiVersion + 1);
  const auto host_abi = std::to_string(eulerstack::kPluginAbiVersion);
  CHECK_MESSAGE(contains(text, "uses plugin ABI " + plugin_abi + ", this eulerstack uses ABI " + host_abi), text);
  eulerstack::BuildStamp plugin_stamp = eulerstack::host_build_stamp();
  plugin_stamp.compiler = "fixture compiler 0.0";
  CHECK_MESSAGE(contains(text, "(plugin built with: " + eulerstack::describe(plugin_stamp) + "; host: " + host_build() + ")"),
                text);
  CHECK(nothing_registered(registry));
}

TEST_CASE("wrong torch: names the torch version and both build stamps") {
  Registry registry;
  const std::string text = single_failure(registry, "wrong_torch", "plugin.build_mismatch");
  eulerstack::BuildStamp plugin_stamp = eulerstack::host_build_stamp();
  plugin_stamp.torch_version = "0.0.1";
  CHECK_MESSAGE(contains(text, "(plugin 'wrong_torch') was built for a different torch version"), text);
  CHECK_MESSAGE(contains(text, "plugin built with: " + eulerstack::describe(plugin_stamp) + "; host: " + host_build()),
                text);
  CHECK(contains(text, "torch 0.0.1"));
  CHECK(nothing_registered(registry));
}

TEST_CASE("a library without the entry symbol names the symbol") {
  Registry registry;
  const std::string text = single_failure(registry, "missing_entry", "plugin.missing_entry");
  CHECK_MESSAGE(contains(text, "does not export the plugin entry 'eulerstack_plugin'"), text);
  CHECK(nothing_registered(registry));
}

TEST_CASE("an entry that returns no descriptor names the symbol") {
  Registry registry;
  const std::string text = single_failure(registry, "null_descriptor", "plugin.no_descriptor");
  CHECK_MESSAGE(contains(text, "the plugin entry 'eulerstack_plugin' of " + fixture_file("null_descriptor").string() +
                                   " returned no descriptor"),
                text);
  CHECK(nothing_registered(registry));
}

TEST_CASE("a descriptor without a name or registration function is refused") {
  Registry registry;
  const std::string text = single_failure(registry, "incomplete_descriptor", "plugin.incomplete_descriptor");
  CHECK_MESSAGE(contains(text, "has no name or no registration function"), text);
  CHECK(nothing_registered(registry));
}

TEST_CASE("a registration that throws reports the exception and registers nothing") {
  Registry registry;
  const std::string text = single_failure(registry, "throwing_registration", "plugin.registration_threw");
  CHECK_MESSAGE(contains(text, "plugin 'throwing_registration' (" + fixture_file("throwing_registration").string() +
                                   ") failed while registering its blocks: boom\n"),
                text);
  CHECK(registry.mixers().find("throwing_mixer") == nullptr);  // staged before the throw
  CHECK(nothing_registered(registry));
}

TEST_CASE("a block name taken by a builtin plugin names both files") {
  Registry registry;
  eulerstack::load_plugins(registry, {{test::builtin_plugin_dir(), "builtin"}});
  REQUIRE(registry.report().failures.empty());
  const auto* attention = registry.mixers().find("attention");
  REQUIRE(attention != nullptr);
  const fs::path attention_file = attention->plugin->file;
  const auto loaded_before = registry.report().loaded.size();

  const fs::path file = fixture_file("duplicate_block");
  CHECK(eulerstack::load_plugin_file(registry, file) == nullptr);
  REQUIRE(registry.report().failures.size() == 1);
  const auto& d = registry.report().failures.front().diagnostic;
  CHECK(d.id == "registry.duplicate_block");
  const std::string text = eulerstack::render(d, "en");
  CHECK_MESSAGE(contains(text, "mixer 'attention' is registered twice: by plugin 'duplicate_block' (" + file.string() +
                                   ") and by plugin 'attention' (" + attention_file.string() + ")"),
                text);
  // Nothing of the refused plugin, and attention still belongs to its owner.
  CHECK(registry.report().loaded.size() == loaded_before);
  CHECK(registry.ffns().find("duplicate_fixture_ffn") == nullptr);
  CHECK(registry.mixers().find("attention")->plugin->file == attention_file);
}

TEST_CASE("a file that is not a library reports dlopen's reason") {
  const fs::path file = fixture_file("not_a_library");
  // What dlopen says about this file, independently of the host.
  REQUIRE(::dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL) == nullptr);
  const char* reason = ::dlerror();
  REQUIRE(reason != nullptr);
  const std::string expected_reason = reason;

  Registry registry;
  const std::string text = single_failure(registry, "not_a_library", "plugin.not_loadable");
  CHECK_MESSAGE(contains(text, "is not a loadable plugin library: " + expected_reason), text);
  CHECK(registry.report().failures.front().diagnostic.args.at("reason") == expected_reason);
  CHECK(nothing_registered(registry));
}

TEST_CASE("a malformed schema names the plugin, the block and the defect") {
  Registry registry;
  const std::string text = single_failure(registry, "bad_schema", "plugin.bad_schema");
  CHECK_MESSAGE(contains(text, "plugin 'bad_schema' (" + fixture_file("bad_schema").string() +
                                   ") declares mixer 'undocumented_mixer' with a malformed schema: parameter "
                                   "'mystery' has no description"),
                text);
  CHECK(nothing_registered(registry));
}

TEST_CASE("a plugin whose messages are malformed is refused, with the reason") {
  Registry registry;
  const std::string text = single_failure(registry, "bad_catalog", "plugin.bad_catalog");
  CHECK_MESSAGE(contains(text, "the messages of plugin fixture_bad_catalog (" + fixture_file("bad_catalog").string() +
                                   ") are unusable: message id 'attention.odd' does not start with "
                                   "'fixture_bad_catalog.'"),
                text);
  CHECK(nothing_registered(registry));
}

TEST_CASE("the host keeps going: a broken file and a good plugin in one directory") {
  Registry registry;
  load_dirs(registry, {"mixed"});
  const auto& report = registry.report();
  REQUIRE(report.failures.size() == 1);
  CHECK(report.failures.front().file.filename() == "liba_broken.so");
  CHECK(report.failures.front().diagnostic.id == "plugin.not_loadable");
  REQUIRE(report.loaded.size() == 1);
  CHECK(report.loaded.front().name == "fixture_good");
  CHECK(report.loaded.front().file.parent_path().filename() == "zz_bundle");
  CHECK(registry.mixers().find("good_mixer") != nullptr);
}

TEST_CASE("the host keeps going across directories and lists every failure in order") {
  Registry registry;
  load_dirs(registry, {"wrong_abi", "throwing_registration", "missing", "good"});
  const auto& report = registry.report();
  CHECK(report.search_path.size() == 4);
  REQUIRE(report.failures.size() == 3);
  CHECK(report.failures[0].diagnostic.id == "plugin.abi_mismatch");
  CHECK(report.failures[1].diagnostic.id == "plugin.registration_threw");
  CHECK(report.failures[2].diagnostic.id == "plugin.dir_missing");
  CHECK(report.failures[2].file == test::fixture_dir("missing"));
  CHECK(eulerstack::render(report.failures[2].diagnostic, "en")
            .rfind("PluginError: plugin directory " + test::fixture_dir("missing").string() +
                       " (from test) does not exist\n",
                   0) == 0);
  REQUIRE(report.loaded.size() == 1);
  CHECK(report.loaded.front().name == "fixture_good");

  // An unknown name lists every failure with its own message.
  try {
    registry.mixers().require("nope");
    FAIL("no error for an unknown mixer");
  } catch (const eulerstack::Error& e) {
    const std::string text = eulerstack::render(e.first(), "en");
    CHECK_MESSAGE(contains(text, "  failed to load: " + fixture_file("wrong_abi").string() + " uses plugin ABI "), text);
    CHECK_MESSAGE(contains(text, "  failed to load: plugin 'throwing_registration' (" +
                                     fixture_file("throwing_registration").string() +
                                     ") failed while registering its blocks: boom\n"),
                  text);
    CHECK_MESSAGE(contains(text, "  failed to load: plugin directory " + test::fixture_dir("missing").string()), text);
  }
}
