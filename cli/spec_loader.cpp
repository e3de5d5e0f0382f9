#include "spec_loader.hpp"

#include <fmt/format.h>

#include "eulerstack/messages.hpp"
#include "eulerstack/spec/exported_ir.hpp"
#include "preset_locator.hpp"

namespace eulerstack::cli {

void add_spec_options(cxxopts::Options& options) {
  options.add_options()("preset", "spec to read: a bundled preset's name or a path to a .yml file",
                        cxxopts::value<std::string>())("spec", "", cxxopts::value<std::string>());
  options.parse_positional({"spec"});
  options.positional_help("[SPEC.yml]");
}

LoadedSpec load_and_compile(Session& session, const cxxopts::ParseResult& parsed,
                            std::optional<spec::SpecDocument>* keep_document) {
  std::string name;
  if (parsed.count("preset")) name = parsed["preset"].as<std::string>();
  else if (parsed.count("spec")) name = parsed["spec"].as<std::string>();
  else throw Error(make_error("UsageError", "cli.no_spec"));
  return load_and_compile(session, name, keep_document);
}

LoadedSpec load_and_compile(Session& session, const std::string& name, std::optional<spec::SpecDocument>* keep_document) {
  auto path = resolve_preset(name);
  if (!path) throw Error(make_error("UsageError", "cli.unknown_preset", {{"name", name}}));
  auto doc = spec::load_spec_file(*path);
  doc.file = name.find('/') == std::string::npos && !std::filesystem::exists(name) ? path->string() : name;
  if (keep_document) *keep_document = doc;
  return {doc.file, spec::compile_spec(std::move(doc), session.registry())};
}

Error located_in_spec(const Error& error, const spec::SpecDocument& spec) {
  std::vector<Diagnostic> diagnostics = error.diagnostics();
  for (auto& d : diagnostics) {
    auto path = d.args.find("yaml_path");
    if (d.where.file.empty() && path != d.args.end()) d.where = spec.at(path->second);
  }
  return Error(std::move(diagnostics));
}

std::optional<Json> checked_exported_ir(Session& session, const Json& stored, const std::string& file) {
  auto result = spec::compile_spec(spec::spec_of_ir(stored, session.registry(), file), session.registry());
  if (!result.ok()) {
    session.print(result.diagnostics.errors);
    return std::nullopt;
  }
  if (auto pointer = spec::ir_difference(stored, result.ir))
    throw Error(make_error("IOError", "model.ir_mismatch", {{"file", file}, {"pointer", *pointer}}));
  return std::move(result.ir);
}

Json diagnostic_json(const Diagnostic& d, const std::string& lang) {
  Json notes = Json::array();
  for (const auto& n : d.notes) notes.push_back(message_text(lang, n.id, "msg", n.args));
  return {{"severity", d.severity == Severity::Error ? "error" : "warning"},
          {"category", d.category},
          {"id", d.id},
          {"message", message_text(lang, d.id, "msg", d.args)},
          {"fix", message_text(lang, d.id, "fix", d.args)},
          {"see", message_text("en", d.id, "see", d.args)},
          {"file", d.where.file},
          // null, not 0, where the diagnostic has no line or column (a missing section, a file too large)
          {"line", d.where.line > 0 ? Json(d.where.line) : Json()},
          {"column", d.where.column > 0 ? Json(d.where.column) : Json()},
          {"notes", notes}};
}

std::string short_count(std::int64_t n) {
  const double v = static_cast<double>(n);
  if (n >= 1'000'000'000) return fmt::format("{:.2f}B", v / 1e9);
  if (n >= 1'000'000) return fmt::format("{:.1f}M", v / 1e6);
  if (n >= 1'000) return fmt::format("{:.1f}K", v / 1e3);
  return std::to_string(n);
}

std::string grouped(std::int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

}  // namespace eulerstack::cli
