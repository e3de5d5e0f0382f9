// eulerstack validate [--preset] SPEC [--report] [--json]

#include <iostream>

#include <fmt/format.h>

#include "../command.hpp"
#include "../exit_codes.hpp"
#include "../spec_loader.hpp"
#include "eulerstack/json_text.hpp"

namespace eulerstack::cli {
namespace {

void print_report(const Session& session, const spec::CompileResult& r) {
  const auto& ir = r.ir;
  std::cout << "\n" << session.text("report.header") << "\n";
  std::cout << "  " << session.text("report.params", {{"params", short_count(r.params.total) + " (" + grouped(r.params.total) + ")"}}) << "\n";
  if (ir["model"]["target_params"].is_number()) {
    const auto target = ir["model"]["target_params"].get<std::int64_t>();
    std::cout << "  " << session.text("report.target", {{"target", short_count(target)},
                                                        {"ratio", fmt::format("{:.1f}", 100.0 * r.params.total / target)}})
              << "\n";
  }
  std::cout << "  " << session.text("report.realism", {{"count", std::to_string(r.diagnostics.warnings.size())}}) << "\n";
}

}  // namespace

int run_validate(const Args& args, GlobalOptions globals) {
  cxxopts::Options options("eulerstack validate", "Validate a spec: schema, cross-field rules, realism warnings.");
  add_global_options(options);
  add_spec_options(options);
  options.add_options()("report", "add the parameter estimate and the realism section")("json", "machine-readable report");
  cxxopts::ParseResult parsed;
  try {
    if (!parse_command_line(options, args, globals, parsed)) return kSuccess;
    Session session(globals);
    LoadedSpec loaded;
    try {
      loaded = load_and_compile(session, parsed);
    } catch (const Error& e) {
      // A file that does not even parse still gets a machine-readable report.
      if (!parsed.count("json") || e.first().category != "ValidationError") throw;
      Json errors = Json::array();
      for (const auto& d : e.diagnostics()) errors.push_back(diagnostic_json(d, session.lang()));
      std::cout << json_text(Json{{"file", e.first().where.file}, {"valid", false}, {"failed_stage", 1}, {"errors", errors},
                        {"warnings", Json::array()}}, 2)
                << "\n";
      return kInvalidSpec;
    }
    auto& [file, r] = loaded;
    const auto& diags = r.diagnostics;
    if (parsed.count("json")) {
      Json errors = Json::array(), warnings = Json::array();
      for (const auto& d : diags.errors) errors.push_back(diagnostic_json(d, session.lang()));
      for (const auto& d : diags.warnings) warnings.push_back(diagnostic_json(d, session.lang()));
      Json out{{"file", file}, {"valid", r.ok()}, {"failed_stage", r.failed_stage}, {"errors", errors}, {"warnings", warnings}};
      if (r.ok()) {
        out["params"] = r.params.total;
        out["target_params"] = r.ir["model"]["target_params"];
      }
      std::cout << json_text(out, 2) << "\n";
      return r.ok() ? kSuccess : kInvalidSpec;
    }
    session.print(diags.errors);
    session.print(diags.warnings);
    if (!r.ok()) {
      std::cerr << session.text("validate.failed", {{"file", file}, {"count", std::to_string(diags.errors.size())},
                                                    {"stage", std::to_string(r.failed_stage)},
                                                    {"stage_name", session.text("stage." + std::to_string(r.failed_stage))}})
                << "\n";
      return kInvalidSpec;
    }
    std::cout << session.text("validate.ok", {{"file", file}, {"warnings", std::to_string(diags.warnings.size())}}) << "\n";
    if (parsed.count("report")) print_report(session, r);
    return kSuccess;
  } catch (const Error& e) {
    return report(globals, e);
  }
}

}  // namespace eulerstack::cli
