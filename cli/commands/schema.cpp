// eulerstack schema [--json]: every loaded block type with its parameters.

#include <iostream>

#include "../block_printer.hpp"
#include "../command.hpp"
#include "../exit_codes.hpp"

namespace eulerstack::cli {

int run_schema(const Args& args, GlobalOptions globals) {
  cxxopts::Options options("eulerstack schema", "Print the schema: every loaded block type and its parameters.");
  add_global_options(options);
  options.add_options()("json", "machine-readable output");
  cxxopts::ParseResult result;
  try {
    if (!parse_command_line(options, args, globals, result)) return kSuccess;
    Session session(globals);
    const Registry& registry = session.registry();
    if (result.count("json")) {
      Json out = Json::object();
      for (BlockKind kind : kAllBlockKinds) {
        Json list = Json::array();
        for (const auto& entry : registry.entries(kind)) list.push_back(block_json(entry));
        out[to_string(kind)] = list;
      }
      std::cout << out.dump(2) << "\n";
      return kSuccess;
    }
    for (BlockKind kind : kAllBlockKinds)
      for (const auto& entry : registry.entries(kind)) print_block(session, entry, std::cout);
    return kSuccess;
  } catch (const Error& e) {
    return report(globals, e);
  }
}

}  // namespace eulerstack::cli
