// eulerstack compile [--preset] SPEC (--print-config | --output FILE | --output-dir DIR | --validate-only)

#include <iostream>

#include "../atomic_file.hpp"
#include "../command.hpp"
#include "../compile_options.hpp"
#include "../exit_codes.hpp"
#include "../spec_loader.hpp"
#include "eulerstack/json_text.hpp"

namespace eulerstack::cli {

int run_compile(const Args& args, GlobalOptions globals) {
  cxxopts::Options options("eulerstack compile",
                           "Compile a spec to the JSON runtime config (the normalized IR) or a HuggingFace model directory.");
  add_global_options(options);
  add_spec_options(options);
  add_compile_options(options);
  cxxopts::ParseResult parsed;
  try {
    const GlobalOptions before_parsing = globals;  // the export parses `args` again
    if (!parse_command_line(options, args, globals, parsed)) return kSuccess;
    require_one_compile_mode(parsed);
    if (parsed.count("output-dir")) return run_export(args, before_parsing);
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
    const std::string json = json_text(r.ir, 2) + "\n";
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
