// The subcommands, in the order `eulerstack --help` lists them.

#include "command.hpp"

namespace eulerstack::cli {

const std::vector<Command>& commands() {
  static const std::vector<Command> table{
      {"validate", "check a spec: schema, cross-field rules, realism warnings", run_validate},
      {"explain", "show templates, schedule and the exact parameter count", run_explain},
      {"compile", "compile a spec to the JSON runtime config", run_compile},
      {"plugins", "list loaded plugins and their block types; 'plugins info NAME' shows parameters", run_plugins},
      {"schema", "print the spec schema: core blocks and every loaded plugin's parameters", run_schema},
      {"presets", "'presets list' lists the bundled presets", run_presets},
      {"run", "build a model with LibTorch, run token ids through it, greedy-generate", run_run},
  };
  return table;
}

}  // namespace eulerstack::cli
