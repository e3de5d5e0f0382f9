// eulerstack compile [--preset] SPEC --output-dir DIR [--force] [--seed N] [--max-shard-size SIZE]
// Exports a HuggingFace model directory that AutoModelForCausalLM loads with
// trust_remote_code=True on a machine without eulerstack: config.json,
// generation_config.json, the weights (streamed, see weights_writer.hpp), the
// modeling code of core and of every plugin the model uses.

#include <boost/dll/alias.hpp>
#include <iostream>

#include <ATen/ATen.h>

#include "../atomic_file.hpp"
#include "../command.hpp"
#include "../compile_options.hpp"
#include "../exit_codes.hpp"
#include "../spec_loader.hpp"
#include "guarded_command.hpp"
#include "eulerstack/runtime/model.hpp"
#include "hf_files.hpp"
#include "output_dir.hpp"
#include "threads_option.hpp"
#include "weights_writer.hpp"

namespace eulerstack::cli {
namespace {


int export_model(const Args& args, GlobalOptions globals) {
  cxxopts::Options options("eulerstack compile", "Export a HuggingFace model directory.");
  add_global_options(options);
  add_spec_options(options);
  add_compile_options(options);
  cxxopts::ParseResult parsed;
  std::optional<spec::SpecDocument> spec_document;
  return guarded_command(globals, [&]() -> int {
    if (!parse_command_line(options, args, globals, parsed)) return kSuccess;
    require_one_compile_mode(parsed);
    const std::uint64_t max_shard = parse_size(parsed["max-shard-size"].as<std::string>());
    apply_threads_option(parsed, "compile");
    Session session(globals);
    auto [file, r] = load_and_compile(session, parsed, &spec_document);
    session.print(r.diagnostics.errors);
    session.print(r.diagnostics.warnings);
    if (!r.ok()) return kInvalidSpec;
    const std::uint64_t seed = parsed.count("seed") ? parsed["seed"].as<std::uint64_t>()
                                                    : r.ir.at("training_hints").at("seed").get<std::uint64_t>();
    // On the meta device the model has names, shapes and init rules but no memory.
    ModuleCatalog catalog(session.registry());
    BuildOptions build;
    build.device = at::kMeta;
    CausalLM model(r.ir, catalog, build);

    StagedDirectory dir(parsed["output-dir"].as<std::string>(), parsed.count("force") > 0);
    write_python_files(session.registry(), r.ir, dir.path());
    write_json(dir.path() / "config.json", hf_config(r.ir, seed));
    write_json(dir.path() / "generation_config.json", generation_config());
    const WrittenWeights weights =
        write_weights(model, seed, dir.path(), max_shard, at::get_num_threads(), [&](const ProgressFigures& figures) {
          return session.text("export.progress", {{"done", figures.done},
                                                  {"total", figures.total},
                                                  {"rate", figures.rate},
                                                  {"eta", std::to_string(figures.eta_seconds)}});
        });
    if (auto leftover = dir.publish()) {
      leftover->severity = Severity::Warning;
      session.print(*leftover);
    }

    const std::string path = parsed["output-dir"].as<std::string>();
    std::cout << session.text("export.saved", {{"path", path}}) << "\n"
              << session.text("export.model_type", {{"model_type", "eulerstack"}}) << "\n"
              << session.text("export.params", {{"short", short_count(weights.parameters)},
                                                {"exact", grouped(weights.parameters)}})
              << "\n"
              << session.text("export.layers", {{"layers", std::to_string(r.ir.at("layers").size())}}) << "\n"
              << session.text("export.load", {{"path", path}}) << "\n";
    return kSuccess;
  }, &spec_document);
}

}  // namespace
}  // namespace eulerstack::cli

BOOST_DLL_ALIAS(eulerstack::cli::export_model, eulerstack_cli_export)
