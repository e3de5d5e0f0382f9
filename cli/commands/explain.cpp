// eulerstack explain [--preset] SPEC [--json | --format text|svg|html|mermaid] [--compare SPEC2] [--output FILE]:
// what model the spec describes, as a report or a picture.

#include <algorithm>
#include <iostream>
#include <optional>

#include "../atomic_file.hpp"
#include "../command.hpp"
#include "../exit_codes.hpp"
#include "../explain_report.hpp"
#include "../picture/compare_svg.hpp"
#include "../picture/html_page.hpp"
#include "../picture/mermaid.hpp"
#include "../spec_loader.hpp"
#include "../picture/architecture_svg.hpp"
#include "eulerstack/json_text.hpp"
#include "eulerstack/messages.hpp"

namespace eulerstack::cli {
namespace {

const std::vector<std::string> kFormats{"text", "svg", "html", "mermaid"};

std::string chosen_format(const cxxopts::ParseResult& parsed) {
  const std::string format = parsed.count("format") ? parsed["format"].as<std::string>() : "text";
  if (std::find(kFormats.begin(), kFormats.end(), format) == kFormats.end())
    throw Error(make_error("UsageError", "cli.unknown_format", {{"format", format}, {"choices", "text, svg, html, mermaid"}}));
  if (parsed.count("json") && (parsed.count("format") || parsed.count("compare")))
    throw Error(make_error("UsageError", "cli.json_with_format", {}));
  return format;
}

// The text form of --compare: each report, then what differs.
std::string compare_text(const Session& s, const spec::CompileResult& a, const spec::CompileResult& b) {
  const auto differences = picture::ir_differences(a.ir, b.ir);
  const auto layers = picture::differing_layers(a.ir, b.ir);
  std::string out = s.text("picture.differences", {{"count", std::to_string(differences.size())}}) + "\n";
  if (differences.empty() && layers.empty()) out += "  " + s.text("picture.no_differences") + "\n";
  if (!layers.empty()) out += "  " + s.text("picture.differing_layers", {{"layers", picture::index_ranges(layers)}}) + "\n";
  for (const auto& d : differences) out += "  " + picture::difference_line(d) + "\n";
  return out;
}

std::string render(Session& session, const std::string& format, const spec::CompileResult& a,
                   const spec::CompileResult* b) {
  const picture::Texts text = [&](const std::string& id, const MessageArgs& args) { return session.text(id, args); };
  const auto model_a = picture::picture_model(a, session.registry());
  if (!b) {
    if (format == "text") return explain_text(session, a);
    if (format == "mermaid") return picture::architecture_mermaid(model_a, text);
    const std::string svg = picture::architecture_svg(model_a, text);
    if (format == "svg") return svg;
    return picture::html_page(model_a.name, session.lang(), svg, session.text("picture.text_report"),
                              explain_text(session, a));
  }
  const auto model_b = picture::picture_model(*b, session.registry());
  const std::string title = session.text("picture.compare_title", {{"a", model_a.name}, {"b", model_b.name}});
  const std::string report = explain_text(session, a) + "\n" + explain_text(session, *b) + "\n" + compare_text(session, a, *b);
  if (format == "text") return report;
  if (format == "mermaid")
    return picture::compare_mermaid(model_a, model_b, picture::differing_layers(a.ir, b->ir), text);
  const std::string svg = picture::compare_svg({model_a, a.ir}, {model_b, b->ir}, text);
  if (format == "svg") return svg;
  return picture::html_page(title, session.lang(), svg, session.text("picture.text_report"), report);
}

}  // namespace

int run_explain(const Args& args, GlobalOptions globals) {
  cxxopts::Options options("eulerstack explain", "Explain a spec: templates, schedule, exact parameter count.");
  add_global_options(options);
  add_spec_options(options);
  options.add_options()("json", "machine-readable output")(
      "format", "text (default), svg (the architecture drawn), html (a page with the picture and the report), mermaid",
      cxxopts::value<std::string>())("compare", "a second spec to draw beside the first, what differs marked",
                                     cxxopts::value<std::string>())(
      "output", "write to FILE (atomically) instead of stdout", cxxopts::value<std::string>());
  cxxopts::ParseResult parsed;
  try {
    if (!parse_command_line(options, args, globals, parsed)) return kSuccess;
    const std::string format = chosen_format(parsed);
    Session session(globals);
    auto [file, r] = load_and_compile(session, parsed);
    if (!r.ok()) {
      session.print(r.diagnostics.errors);
      return kInvalidSpec;
    }
    std::optional<LoadedSpec> other;
    if (parsed.count("compare")) {
      other = load_and_compile(session, parsed["compare"].as<std::string>());
      if (!other->result.ok()) {
        session.print(other->result.diagnostics.errors);
        return kInvalidSpec;
      }
    }
    const std::string content =
        parsed.count("json") ? json_text(explain_json(r), 2) + "\n"
                             : render(session, format, r, other ? &other->result : nullptr);
    if (parsed.count("output")) {
      const std::string target = parsed["output"].as<std::string>();
      write_file_atomically(target, content);
      std::cout << session.text("explain.written", {{"path", target}}) << "\n";
    } else {
      std::cout << content;
    }
    return kSuccess;
  } catch (const Error& e) {
    return report(globals, e);
  }
}

}  // namespace eulerstack::cli
