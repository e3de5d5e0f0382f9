// eulerstack schema [--json]: the sections core owns, then every loaded block type.

#include <iostream>

#include "../block_printer.hpp"
#include "../command.hpp"
#include "../exit_codes.hpp"
#include "eulerstack/json_text.hpp"
#include "eulerstack/spec/core_schema.hpp"

namespace eulerstack::cli {
namespace {

struct CoreSection {
  const char* path;
  const std::vector<ParamSpec>& (*params)();
};

const std::vector<CoreSection>& core_sections() {
  static const std::vector<CoreSection> sections{
      {"model", spec::model_params},
      {"tokenizer_contract", spec::tokenizer_params},
      {"embedding", spec::embedding_params},
      {"layer_templates.<name>.norm", spec::norm_params},
      {"layer_templates.<name>.residual", spec::residual_params},
      {"layer_templates.<name>.state", spec::state_params},
      {"head", spec::head_params},
      {"training_hints", spec::training_hints_params},
      {"compatibility", spec::compatibility_params},
  };
  return sections;
}

}  // namespace

int run_schema(const Args& args, GlobalOptions globals) {
  cxxopts::Options options("eulerstack schema", "Print the spec schema: core sections, then every loaded block type.");
  add_global_options(options);
  options.add_options()("json", "machine-readable output");
  cxxopts::ParseResult result;
  try {
    if (!parse_command_line(options, args, globals, result)) return kSuccess;
    Session session(globals);
    const Registry& registry = session.registry();
    if (result.count("json")) {
      Json core = Json::object();
      for (const auto& section : core_sections()) core[section.path] = to_json(section.params());
      Json blocks = Json::object();
      for (BlockKind kind : kAllBlockKinds) {
        Json list = Json::array();
        for (const auto& entry : registry.entries(kind)) list.push_back(block_json(entry));
        blocks[to_string(kind)] = list;
      }
      std::cout << json_text(Json{{"schema_version", 1}, {"core", core}, {"blocks", blocks}}, 2) << "\n";
      return kSuccess;
    }
    std::cout << "schema_version: 1\n\n";
    for (const auto& section : core_sections()) {
      std::cout << section.path << ":\n";
      print_param_table(section.params(), "    ", std::cout);
      std::cout << "\n";
    }
    for (BlockKind kind : kAllBlockKinds)
      for (const auto& entry : registry.entries(kind)) print_block(session, entry, std::cout);
    return kSuccess;
  } catch (const Error& e) {
    return report(globals, e);
  }
}

}  // namespace eulerstack::cli
