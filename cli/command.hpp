#pragma once
// The subcommand table and the option handling they share.

#include <string>
#include <vector>

#include <cxxopts.hpp>

#include "session.hpp"

namespace eulerstack::cli {

using Args = std::vector<std::string>;  // the arguments after the command name

struct Command {
  const char* name;
  const char* summary;
  int (*run)(const Args& args, GlobalOptions globals);
};

const std::vector<Command>& commands();

// Adds --lang, --plugin-dir and --help, accepted after the command name too.
void add_global_options(cxxopts::Options& options);

// Parses `args` (the program name is added); throws Error(UsageError).
cxxopts::ParseResult parse_options(cxxopts::Options& options, const Args& args);
// Adds --lang and --plugin-dir from `result` to `globals`.
void merge_global_options(const cxxopts::ParseResult& result, GlobalOptions& globals);

// Parses `args` for a command. Merges global options into `globals`. Returns
// false after printing help (the command should exit 0). Throws Error(UsageError).
bool parse_command_line(cxxopts::Options& options, const Args& args, GlobalOptions& globals,
                        cxxopts::ParseResult& result);

// Prints a thrown Error in the requested language (English when the language
// itself is what was wrong) and maps it to an exit code.
int report(const GlobalOptions& globals, const Error& error);

// Command entry points (one file each under commands/).
int run_validate(const Args& args, GlobalOptions globals);
int run_explain(const Args& args, GlobalOptions globals);
int run_compile(const Args& args, GlobalOptions globals);
int run_plugins(const Args& args, GlobalOptions globals);
int run_schema(const Args& args, GlobalOptions globals);
int run_presets(const Args& args, GlobalOptions globals);
// Commands that need LibTorch live in a library opened on first use, so that
// the others never load it (torch_command.cpp).
int run_run(const Args& args, GlobalOptions globals);
int run_export(const Args& args, GlobalOptions globals);  // compile --output-dir
int run_plugins_test(const Args& args, GlobalOptions globals);  // plugins test [PLUGIN...]

}  // namespace eulerstack::cli
