// The commands that need LibTorch run from libeulerstack_cli_torch.so, opened
// only when one of them is invoked: loading LibTorch costs about half a second
// that validate, explain and compile must not pay.

#include <filesystem>

#include "command.hpp"
#include "eulerstack/plugin_host.hpp"

namespace eulerstack::cli {
namespace {

namespace fs = std::filesystem;

using TorchCommand = int(const Args&, GlobalOptions);

constexpr const char* kLibrary = "libeulerstack_cli_torch.so";

int call(const char* symbol, const Args& args, GlobalOptions globals) {
  // Build tree: beside the executable. Installed: <libdir>/eulerstack/.
  const fs::path here = executable_dir();
  fs::path library = here / kLibrary;
  std::error_code ec;
  if (!fs::exists(library, ec)) library = here / EULERSTACK_INSTALLED_TORCH_COMMAND_DIR / kLibrary;
  TorchCommand* command = nullptr;
  try {
    command = reinterpret_cast<TorchCommand*>(open_alias(library, symbol));
  } catch (const Error& e) {
    const auto& args = e.first().args;
    auto reason = args.count("reason") ? args.at("reason") : args.count("symbol") ? "no entry " + args.at("symbol") : "";
    return report(globals, Error(make_error("InternalError", "cli.torch_library_missing",
                                            {{"file", library.string()}, {"reason", reason}})));
  }
  return command(args, std::move(globals));
}

}  // namespace

int run_run(const Args& args, GlobalOptions globals) { return call("eulerstack_cli_run", args, std::move(globals)); }
int run_export(const Args& args, GlobalOptions globals) {
  return call("eulerstack_cli_export", args, std::move(globals));
}
int run_plugins_test(const Args& args, GlobalOptions globals) {
  return call("eulerstack_cli_plugins_test", args, std::move(globals));
}

}  // namespace eulerstack::cli
