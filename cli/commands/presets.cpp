// eulerstack presets list [--json]

#include <iostream>

#include <fmt/format.h>

#include "../command.hpp"
#include "../exit_codes.hpp"
#include "../preset_locator.hpp"
#include "eulerstack/json_text.hpp"

namespace eulerstack::cli {

int run_presets(const Args& args, GlobalOptions globals) {
  cxxopts::Options options("eulerstack presets", "List the bundled presets: 'presets list'.");
  add_global_options(options);
  options.add_options()("json", "machine-readable output")("action", "", cxxopts::value<std::string>());
  options.parse_positional({"action"});
  options.positional_help("list");
  cxxopts::ParseResult result;
  try {
    if (!parse_command_line(options, args, globals, result)) return kSuccess;
    Session session(globals);
    if (!result.count("action") || result["action"].as<std::string>() != "list")
      throw Error(make_error("UsageError", "cli.usage", {{"reason", "expected 'presets list'"}, {"command", "presets"}}));
    const auto presets = list_presets();
    if (result.count("json")) {
      Json out = Json::array();
      for (const auto& p : presets) out.push_back({{"name", p.name}, {"file", p.file.string()}, {"summary", p.summary}});
      std::cout << json_text(out, 2) << "\n";
      return kSuccess;
    }
    std::size_t width = 0;
    for (const auto& p : presets) width = std::max(width, p.name.size());
    for (const auto& p : presets) std::cout << fmt::format("{:<{}}  {}\n", p.name, width, p.summary);
    return kSuccess;
  } catch (const Error& e) {
    return report(globals, e);
  }
}

}  // namespace eulerstack::cli
