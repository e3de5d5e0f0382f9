#pragma once
// The shared first half of validate, explain and compile: find the spec
// (--preset NAME_OR_PATH or a positional path), parse it, run the front end.

#include <optional>
#include <string>

#include <cxxopts.hpp>

#include "eulerstack/spec/frontend.hpp"
#include "session.hpp"

namespace eulerstack::cli {

// Adds --preset and the positional spec path.
void add_spec_options(cxxopts::Options& options);

struct LoadedSpec {
  std::string file;
  spec::CompileResult result;
};

// Throws Error (UsageError when no spec is named, IOError when unreadable,
// ValidationError for YAML-level problems). With `keep_document`, the parsed
// spec is kept there too, for locating later errors (located_in_spec).
LoadedSpec load_and_compile(Session& session, const cxxopts::ParseResult& parsed,
                            std::optional<spec::SpecDocument>* keep_document = nullptr);
// The same for a spec named directly: a bundled preset's name or a path.
LoadedSpec load_and_compile(Session& session, const std::string& name,
                            std::optional<spec::SpecDocument>* keep_document = nullptr);

// An error from building or running a block names the block's spec path
// (argument `yaml_path`, see core/runtime/src/block_site.hpp); this gives such
// diagnostics the file:line:column of that path in `spec`.
Error located_in_spec(const Error& error, const spec::SpecDocument& spec);

// The IR read back from an exported model's config.json, recompiled from its
// own sections (spec/exported_ir.hpp) so that nothing is built from an IR the
// front end would refuse. Prints the errors and returns nullopt when the
// sections do not validate; throws Error(IOError, model.ir_mismatch) when they
// compile to another IR than the stored one.
std::optional<Json> checked_exported_ir(Session& session, const Json& stored, const std::string& file);

// A diagnostic as JSON, rendered in `lang`.
Json diagnostic_json(const Diagnostic& d, const std::string& lang);

// "1.48B", "12.3M", "4.1K", "512"
std::string short_count(std::int64_t n);
// "1,481,235,456"
std::string grouped(std::int64_t n);

}  // namespace eulerstack::cli
