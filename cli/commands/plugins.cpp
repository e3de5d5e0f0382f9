// eulerstack plugins [--json] [--paths]
// eulerstack plugins info NAME [--json]
// eulerstack plugins verify DIR [--json]
// eulerstack plugins manifest DIR --name NAME --version VERSION [--description TEXT]
// eulerstack plugins test [PLUGIN...]     (conformance suite; runs in the LibTorch command library)

#include <algorithm>
#include <iostream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "../block_printer.hpp"
#include "bundles.hpp"
#include "../command.hpp"
#include "../exit_codes.hpp"
#include "eulerstack/json_text.hpp"
#include "eulerstack/messages.hpp"
#include "eulerstack/suggest.hpp"

namespace eulerstack::cli {
namespace {

Json failure_json(const PluginFailure& failure) {
  return Json{{"file", failure.file.string()},
              {"category", failure.diagnostic.category},
              {"id", failure.diagnostic.id},
              {"message", message_text("en", failure.diagnostic.id, "msg", failure.diagnostic.args)}};
}

Json search_path_json(const std::vector<SearchDir>& search_path) {
  Json dirs = Json::array();
  for (const auto& d : search_path) dirs.push_back({{"dir", d.dir.string()}, {"origin", d.origin}});
  return dirs;
}

Json listing_json(const Registry& registry) {
  const auto& report = registry.report();
  Json plugins = Json::array();
  for (const auto& p : report.loaded) {
    Json blocks = Json::array();
    for (const auto& b : registry.blocks_of(p))
      blocks.push_back({{"kind", to_string(b.kind)}, {"name", b.schema->name}, {"summary", b.schema->summary}});
    plugins.push_back({{"name", p.name}, {"version", p.version}, {"bundle", p.bundle},
                       {"description", p.description}, {"file", p.file.string()}, {"build", p.build},
                       {"blocks", blocks}});
  }
  Json failures = Json::array();
  for (const auto& f : report.failures) failures.push_back(failure_json(f));
  Json shadowed = Json::array();
  for (const auto& s : report.shadowed)
    shadowed.push_back({{"name", s.name}, {"file", s.file.string()}, {"shadowed_by", s.winner.string()}});
  return {{"plugins", plugins}, {"bundles", bundles_json(find_bundles(report.search_path))},
          {"failures", failures}, {"shadowed", shadowed}, {"search_path", search_path_json(report.search_path)}};
}

void print_search_path(const Session& session, const std::vector<SearchDir>& search_path) {
  std::cout << session.text("plugins.search_path_header") << "\n";
  for (const auto& d : search_path) std::cout << "  " << d.dir.string() << " (" << d.origin << ")\n";
}

void print_listing(Session& session, const Registry& registry) {
  const auto& report = registry.report();
  std::cout << session.text("plugins.header", {{"count", std::to_string(report.loaded.size())}}) << "\n";
  for (const auto& p : report.loaded) {
    std::cout << fmt::format("  {} {} [{}]  {}\n", p.name, p.version, p.bundle, p.description);
    std::cout << fmt::format("    {}: {}\n", session.text("plugins.file"), p.file.string());
    std::string blocks;
    for (const auto& b : registry.blocks_of(p))
      blocks += (blocks.empty() ? "" : ", ") + std::string(to_string(b.kind)) + " " + b.schema->name;
    std::cout << fmt::format("    {}: {}\n", session.text("plugins.blocks"), blocks);
  }
  if (!report.shadowed.empty()) {
    std::cout << session.text("plugins.shadowed_header", {{"count", std::to_string(report.shadowed.size())}}) << "\n";
    for (const auto& s : report.shadowed)
      std::cout << "  " << session.text("plugins.shadowed_entry", {{"name", s.name}, {"file", s.file.string()},
                                                             {"winner", s.winner.string()}})
                << "\n";
  }
  print_bundles(session, find_bundles(report.search_path));
  print_search_path(session, report.search_path);
  if (!report.failures.empty()) {
    std::cerr << session.text("plugins.failed_header", {{"count", std::to_string(report.failures.size())}}) << "\n";
    for (const auto& f : report.failures) session.print(f.diagnostic);
  }
}

// NAME is a plugin, a block name, or kind:name when a name is used by two kinds.
int print_info(Session& session, const std::string& name, bool json) {
  const Registry& registry = session.registry();
  std::string kind_filter, block_name = name;
  if (auto colon = name.find(':'); colon != std::string::npos) {
    kind_filter = name.substr(0, colon);
    block_name = name.substr(colon + 1);
  }
  std::vector<BlockEntry> blocks;
  const PluginRecord* plugin = nullptr;
  if (kind_filter.empty()) {
    for (const auto& p : registry.report().loaded)
      if (p.name == name) plugin = &p;
  }
  if (plugin) {
    blocks = registry.blocks_of(*plugin);
  } else {
    for (BlockKind kind : kAllBlockKinds)
      if (kind_filter.empty() || kind_filter == to_string(kind))
        if (const auto* entry = registry.find(kind, block_name)) blocks.push_back(*entry);
  }
  if (blocks.empty()) {
    Diagnostic d = make_error("PluginError", "cli.unknown_plugin_or_block", {{"name", name}});
    std::vector<std::string> known;
    for (const auto& p : registry.report().loaded) known.push_back(p.name);
    for (BlockKind kind : kAllBlockKinds)
      for (const auto& e : registry.entries(kind))
        if (std::find(known.begin(), known.end(), e.schema->name) == known.end()) known.push_back(e.schema->name);
    if (auto near = nearest_names(name, known); !near.empty())
      d.notes.push_back({"note.did_you_mean", {{"names", fmt::format("{}", fmt::join(near, ", "))}}});
    session.print(d);
    return kPluginError;
  }
  if (json) {
    Json out = Json::array();
    for (const auto& b : blocks) out.push_back(block_json(b));
    std::cout << json_text(plugin ? Json{{"plugin", plugin->name}, {"version", plugin->version}, {"blocks", out}} : out, 2)
              << "\n";
    return kSuccess;
  }
  if (plugin) std::cout << fmt::format("{} {} [{}]  {}\n\n", plugin->name, plugin->version, plugin->bundle,
                                       plugin->description);
  for (const auto& b : blocks) print_block(session, b, std::cout);
  return kSuccess;
}

Error plugins_usage(const std::string& reason) {
  return Error(make_error("UsageError", "cli.usage", {{"reason", reason}, {"command", "plugins"}}));
}

int run_action(Session& session, const std::vector<std::string>& action, const cxxopts::ParseResult& result) {
  const bool json = result.count("json") > 0;
  const std::string& verb = action[0];
  if (verb == "info") {
    if (action.size() != 2) throw plugins_usage("expected 'plugins info NAME'");
    return print_info(session, action[1], json);
  }
  if (verb == "verify") {
    if (action.size() != 2) throw plugins_usage("expected 'plugins verify DIR'");
    return verify_bundle_dir(session, action[1], json);
  }
  if (verb == "manifest") {
    if (action.size() != 2 || !result.count("name") || !result.count("version"))
      throw plugins_usage("expected 'plugins manifest DIR --name NAME --version VERSION'");
    return write_bundle_manifest(session, {action[1], result["name"].as<std::string>(),
                                           result["version"].as<std::string>(),
                                           result.count("description") ? result["description"].as<std::string>() : ""});
  }
  throw plugins_usage("unknown action '" + verb + "'; expected info, verify, manifest or test");
}

}  // namespace

int run_plugins(const Args& args, GlobalOptions globals) {
  const GlobalOptions given = globals;  // `plugins test` parses the same arguments again
  cxxopts::Options options("eulerstack plugins",
                           "List plugins and bundles; 'info NAME' shows a block's parameters, 'verify DIR' checks a "
                           "bundle against its manifest, 'manifest DIR' writes one, 'test [PLUGIN...]' runs the "
                           "conformance suite.");
  add_global_options(options);
  options.add_options()("json", "machine-readable output")("paths", "print the effective plugin search path")(
      "name", "bundle name (manifest)", cxxopts::value<std::string>())(
      "version", "bundle version (manifest)", cxxopts::value<std::string>())(
      "description", "bundle description (manifest)", cxxopts::value<std::string>())(
      "action", "", cxxopts::value<std::vector<std::string>>());
  options.parse_positional({"action"});
  options.positional_help("[info NAME | verify DIR | manifest DIR | test [PLUGIN...]]");
  cxxopts::ParseResult result;
  try {
    if (!parse_command_line(options, args, globals, result)) return kSuccess;
    Session session(globals);
    session.list_failures_myself();  // the listing says which failed and why
    const bool json = result.count("json") > 0;
    if (result.count("action")) {
      const auto action = result["action"].as<std::vector<std::string>>();
      if (action[0] == "test") {  // the conformance suite builds modules: it runs in the LibTorch library
        Args rest = args;
        rest.erase(std::find(rest.begin(), rest.end(), "test"));
        return run_plugins_test(rest, given);
      }
      return run_action(session, action, result);
    }
    if (result.count("paths")) {  // the path alone: no plugin is loaded (nor run) for it
      const auto path = session.search_path();
      if (json) std::cout << json_text(search_path_json(path), 2) << "\n";
      else print_search_path(session, path);
      return kSuccess;
    }
    const Registry& registry = session.registry();
    if (json) std::cout << json_text(listing_json(registry), 2) << "\n";
    else print_listing(session, registry);
    return registry.report().failures.empty() ? kSuccess : kPluginError;
  } catch (const Error& e) {
    return report(globals, e);
  }
}

}  // namespace eulerstack::cli
