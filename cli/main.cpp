// eulerstack: validate, explain and compile LLM architecture specs.
// Global options may come before or after the command name.

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

#include "command.hpp"
#include "eulerstack/messages.hpp"
#include "eulerstack/version.hpp"
#include "exit_codes.hpp"
#include "eulerstack/stop_signals.hpp"
#include "terminal_safe_stream.hpp"

using namespace eulerstack;
using namespace eulerstack::cli;

namespace {

bool takes_value(const std::string& arg) { return arg == "--lang" || arg == "--plugin-dir"; }

void print_help() {
  std::cout << "eulerstack " EULERSTACK_VERSION " - an architecture description language for LLMs\n\n"
               "Usage: eulerstack [--lang LANG] [--plugin-dir DIR]... COMMAND [OPTIONS]\n\nCommands:\n";
  for (const auto& c : commands()) std::cout << "  " << c.name << std::string(10 - std::strlen(c.name), ' ') << c.summary << "\n";
  std::cout << "\nRun 'eulerstack COMMAND --help' for a command's options.\n"
               "Exit codes: 0 success, 1 invalid spec, 2 usage error, 3 plugin error, 4 I/O error, 5 internal error,\n"
               "6 runtime error (the model could not be built or run).\n";
}

// A command's output that did not reach stdout (a full disk, a closed pipe
// end) is an I/O error, not a success with the output cut short.
int with_stdout_checked(int code, const GlobalOptions& globals, const TerminalSafeStreams& streams) {
  errno = 0;
  std::cout.flush();
  const bool failed = !std::cout || std::fflush(stdout) != 0 || std::ferror(stdout);
  if (!failed) return code;
  const int error = streams.stdout_error() ? streams.stdout_error() : errno;
  std::cout.clear();
  const int io_code = report(globals, Error(make_error("IOError", "io.cannot_write",
                                                       {{"path", "standard output"},
                                                        {"reason", error ? std::strerror(error) : "write error"}})));
  return code == kSuccess ? io_code : code;
}

int run_command_line(const Args& args, GlobalOptions& globals);

}  // namespace

int main(int argc, char** argv) {
  // Past a file-size limit (ulimit -f) a write then fails with EFBIG and is
  // reported like a full disk, instead of the signal ending the process mid-write.
  std::signal(SIGXFSZ, SIG_IGN);
  // Before any thread exists, so that every thread inherits the blocked mask.
  start_stop_signal_thread();
  TerminalSafeStreams safe_streams;
  Args args(argv + 1, argv + argc);
  GlobalOptions globals;
  const int code = run_command_line(args, globals);
  return with_stdout_checked(code, globals, safe_streams);
}

namespace {

int run_command_line(const Args& args, GlobalOptions& globals) {
  std::size_t at = 0;
  while (at < args.size() && !args[at].empty() && args[at][0] == '-') at += takes_value(args[at]) ? 2 : 1;

  Args before(args.begin(), args.begin() + static_cast<long>(std::min(at, args.size())));
  cxxopts::Options options("eulerstack", "");
  add_global_options(options);
  options.add_options()("version", "print the version");
  try {
    const cxxopts::ParseResult parsed = parse_options(options, before);
    merge_global_options(parsed, globals);
    if (parsed.count("version")) {
      std::cout << "eulerstack " EULERSTACK_VERSION "\n";
      return kSuccess;
    }
    if (at >= args.size()) {
      print_help();
      return parsed.count("help") ? kSuccess : kUsageError;
    }
    const std::string name = args[at];
    for (const auto& command : commands()) {
      if (name == command.name) return command.run(Args(args.begin() + static_cast<long>(at) + 1, args.end()), globals);
    }
    std::string names;
    for (const auto& c : commands()) names += (names.empty() ? "" : ", ") + std::string(c.name);
    throw Error(make_error("UsageError", "cli.unknown_command", {{"command", name}, {"commands", names}}));
  } catch (const Error& e) {
    return report(globals, e);
  } catch (const std::exception& e) {
    std::cerr << "InternalError: " << e.what() << "\n";
    return kInternalError;
  }
}

}  // namespace
