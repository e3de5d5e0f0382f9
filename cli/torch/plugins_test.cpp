// eulerstack plugins test [PLUGIN...] [--json]
// Runs the conformance suite (eulerstack/testing/conformance.hpp) on every
// block of the named plugins, or of every loaded plugin, and prints one line
// per passed check and the diagnostic of each failed one.

#include <boost/dll/alias.hpp>
#include <algorithm>
#include <iostream>

#include "../command.hpp"
#include "../exit_codes.hpp"
#include "eulerstack/json_text.hpp"
#include "eulerstack/testing/conformance.hpp"
#include "guarded_command.hpp"

namespace eulerstack::cli {
namespace {

void require_loaded(Session& session, const std::vector<std::string>& names) {
  const auto& loaded = session.registry().report().loaded;
  for (const auto& name : names)
    if (std::none_of(loaded.begin(), loaded.end(), [&](const PluginRecord& p) { return p.name == name; }))
      throw Error(make_error("PluginError", "conformance.unknown_plugin", {{"plugin", name}}));
}

int test_plugins(const Args& args, GlobalOptions globals) {
  cxxopts::Options options("eulerstack plugins test", "Run the conformance suite on plugins' blocks.");
  add_global_options(options);
  options.add_options()("json", "machine-readable output")("plugin", "", cxxopts::value<std::vector<std::string>>());
  options.parse_positional({"plugin"});
  options.positional_help("[PLUGIN...]");
  cxxopts::ParseResult parsed;
  return guarded_command(globals, [&]() -> int {
    if (!parse_command_line(options, args, globals, parsed)) return kSuccess;
    Session session(globals);
    std::vector<std::string> plugins;
    if (parsed.count("plugin")) plugins = parsed["plugin"].as<std::vector<std::string>>();
    require_loaded(session, plugins);
    for (const auto& f : session.registry().report().failures) session.print(f.diagnostic);

    testing::BlockBench bench(session.registry());
    const auto results = testing::run_conformance(bench, plugins);
    std::size_t failed = 0;
    for (const auto& r : results) failed += r.failure ? 1 : 0;
    if (parsed.count("json")) {
      Json out = Json::array();
      for (const auto& r : results)
        out.push_back({{"kind", to_string(r.kind)}, {"block", r.block}, {"plugin", r.plugin}, {"check", r.check},
                       {"ok", !r.failure}, {"id", r.failure ? r.failure->id : ""}});
      std::cout << json_text(Json{{"ok", failed == 0}, {"checks", out}}, 2) << "\n";
    } else {
      for (const auto& r : results) {
        if (r.failure) {
          session.print(*r.failure);
          continue;
        }
        std::cout << session.text("plugins.test_pass", {{"kind", to_string(r.kind)},
                                                       {"block", r.block},
                                                       {"check", session.text(r.check)}})
                  << "\n";
      }
      const auto total = std::to_string(results.size());
      if (failed == 0) std::cout << session.text("plugins.test_passed", {{"count", total}}) << "\n";
      else std::cerr << session.text("plugins.test_failed", {{"count", std::to_string(failed)}, {"total", total}}) << "\n";
    }
    if (results.empty()) throw Error(make_error("PluginError", "conformance.no_blocks"));
    return failed == 0 ? kSuccess : kPluginError;
  });
}

}  // namespace
}  // namespace eulerstack::cli

BOOST_DLL_ALIAS(eulerstack::cli::test_plugins, eulerstack_cli_plugins_test)
