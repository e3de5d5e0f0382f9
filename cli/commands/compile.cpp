// eulerstack compile [--preset] SPEC (--print-config | --output FILE | --validate-only)

#include <iostream>

#include "../atomic_file.hpp"
#include "../command.hpp"
#include "../exit_codes.hpp"
#include "../spec_loader.hpp"

namespace eulerstack::cli {

int run_compile(const Args& args, GlobalOptions globals) {
  cxxopts::Options options("eulerstack compile", "Compile a spec to the JSON runtime config (the normalized IR).");
  add_global_options(options);
  add_spec_options(options);
  options.add_options()("print-config", "print the JSON config to stdout")(
      "output", "write the JSON config to FILE (atomically)", cxxopts::value<std::string>())(
      "validate-only", "stop after validation");
  cxxopts::ParseResult parsed;
  try {
    if (!parse_command_line(options, args, globals, parsed)) return kSuccess;
    const int modes = static_cast<int>(parsed.count("print-config") + parsed.count("output") + parsed.count("validate-only"));
    if (modes != 1)
      throw Error(make_error("UsageError", "cli.usage",
                             {{"reason", "choose exactly one of --print-config, --output FILE, --validate-only"},
                              {"command", "compile"}}));
    Session session(globals);
    auto [file, r] = load_and_compile(session, parsed);
    session.print(r.diagnostics.errors);
    session.print(r.diagnostics.warnings);
    if (!r.ok()) return kInvalidSpec;
    if (parsed.count("validate-only")) {
      std::cout << session.text("validate.ok", {{"file", file}, {"warnings", std::to_string(r.diagnostics.warnings.size())}})
                << "\n";
      return kSuccess;
    }
    const std::string json = r.ir.dump(2) + "\n";
    if (parsed.count("print-config")) {
      std::cout << json;
      return kSuccess;
    }
    const std::string target = parsed["output"].as<std::string>();
    write_file_atomically(target, json);
    std::cout << session.text("compile.json_written", {{"path", target}}) << "\n";
    return kSuccess;
  } catch (const Error& e) {
    return report(globals, e);
  }
}

}  // namespace eulerstack::cli
