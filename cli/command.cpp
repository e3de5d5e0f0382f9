#include "command.hpp"

#include <iostream>

#include "eulerstack/messages.hpp"
#include "exit_codes.hpp"

namespace eulerstack::cli {

void add_global_options(cxxopts::Options& options) {
  options.add_options("Global")
      ("lang", "message language: en, ko, zh, ja, es (default: EULERSTACK_LANG, then the locale)",
       cxxopts::value<std::string>())
      ("plugin-dir", "search this directory for plugins first (repeatable)",
       cxxopts::value<std::vector<std::string>>())
      ("h,help", "show this help");
}

cxxopts::ParseResult parse_options(cxxopts::Options& options, const Args& args) {
  std::vector<const char*> argv{"eulerstack"};
  for (const auto& a : args) argv.push_back(a.c_str());
  try {
    return options.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const cxxopts::exceptions::exception& e) {
    // "eulerstack plugins" -> "plugins"; the top level has no command yet.
    std::string command = options.program();
    command = command.rfind("eulerstack ", 0) == 0 ? command.substr(11) : "COMMAND";
    throw Error(make_error("UsageError", "cli.usage", {{"reason", e.what()}, {"command", command}}));
  }
}

void merge_global_options(const cxxopts::ParseResult& result, GlobalOptions& globals) {
  if (result.count("lang")) globals.lang = result["lang"].as<std::string>();
  if (result.count("plugin-dir"))
    for (const auto& dir : result["plugin-dir"].as<std::vector<std::string>>()) globals.plugin_dirs.emplace_back(dir);
}

bool parse_command_line(cxxopts::Options& options, const Args& args, GlobalOptions& globals,
                        cxxopts::ParseResult& result) {
  result = parse_options(options, args);
  if (result.count("help")) {
    std::cout << options.help();
    return false;
  }
  merge_global_options(result, globals);
  return true;
}

int report(const GlobalOptions& globals, const Error& error) {
  std::string lang = "en";
  try {
    lang = resolve_language(globals.lang);
  } catch (const Error&) {
  }
  for (const auto& d : error.diagnostics()) std::cerr << render(d, lang);
  const std::string& category = error.first().category;
  if (category == "UsageError") return kUsageError;
  if (category == "PluginError") return kPluginError;
  if (category == "IOError") return kIoError;
  if (category == "InternalError") return kInternalError;
  if (category == "RuntimeError") return kRuntimeError;
  return kInvalidSpec;
}

}  // namespace eulerstack::cli
