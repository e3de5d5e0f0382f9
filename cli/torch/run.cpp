// eulerstack run ([--preset] SPEC | --model DIR) (--tokens IDS | --tokens-file FILE) [--generate N]
//                [--logits-out FILE.npy] [--seed N] [--dtype D] [--top K] [--threads N]
// Builds the model with LibTorch from the spec (random weights from the seed)
// or from an exported HF directory (its weights), runs the token ids through it,
// prints the most likely next tokens, optionally greedy-generates with the
// caches and saves the logits as a NumPy array.

#include <boost/dll/alias.hpp>
#include <fstream>
#include <iostream>
#include <sstream>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "../atomic_file.hpp"
#include "../command.hpp"
#include "../exit_codes.hpp"
#include "../spec_loader.hpp"
#include "guarded_command.hpp"
#include "eulerstack/checked_file.hpp"
#include "eulerstack/runtime/checkpoint.hpp"
#include "eulerstack/runtime/model.hpp"
#include "npy.hpp"
#include "threads_option.hpp"
#include "token_ids.hpp"

namespace eulerstack::cli {
namespace {

// Token ids as text: 64 MiB holds millions of ids, far more than any context.
constexpr std::uint64_t kMaxTokensFileBytes = 64u << 20;

std::string join(const at::Tensor& ids) {
  std::string out;
  for (std::int64_t i = 0; i < ids.numel(); ++i) out += (i ? " " : "") + std::to_string(ids[i].item<std::int64_t>());
  return out;
}

std::string top_tokens(const at::Tensor& logits, std::int64_t k) {
  const auto [values, indices] = logits.to(at::kFloat).topk(std::min<std::int64_t>(k, logits.size(0)));
  std::ostringstream out;
  for (std::int64_t i = 0; i < indices.size(0); ++i)
    out << (i ? ", " : "") << indices[i].item<std::int64_t>() << " (" << values[i].item<float>() << ")";
  return out.str();
}

TokenRows read_tokens(const cxxopts::ParseResult& parsed, std::int64_t vocab) {
  if (parsed.count("tokens") + parsed.count("tokens-file") != 1)
    throw Error(make_error("UsageError", "cli.usage",
                           {{"reason", "give the input as exactly one of --tokens IDS or --tokens-file FILE"},
                            {"command", "run"}}));
  std::string text;
  if (parsed.count("tokens")) {
    text = parsed["tokens"].as<std::string>();
  } else {
    // Bounded like every input: a pipe is fine, /dev/zero is refused at the limit.
    text = read_checked_file(parsed["tokens-file"].as<std::string>(), kMaxTokensFileBytes, FileKind::StreamAllowed);
  }
  return parse_token_ids(text, vocab);
}

int run_model(const Args& args, GlobalOptions globals) {
  cxxopts::Options options("eulerstack run", "Build the model with LibTorch and run token ids through it.");
  add_global_options(options);
  add_spec_options(options);
  options.add_options()("model", "an exported HF model directory (instead of a spec): its IR and weights",
                        cxxopts::value<std::string>())(
      "tokens", "input token ids: '1 2 3', rows (of any lengths) separated by ';'", cxxopts::value<std::string>())(
      "tokens-file", "read token ids from FILE, one row per line", cxxopts::value<std::string>())(
      "generate", "greedy-generate N tokens after the input, with the caches", cxxopts::value<std::int64_t>())(
      "logits-out", "save the logits [rows, tokens, vocab] as float32 .npy (atomically)", cxxopts::value<std::string>())(
      "seed", "seed of the random weights (default: training_hints.seed)", cxxopts::value<std::uint64_t>())(
      "dtype", "float32, bfloat16 or float16 (default: model.dtype)", cxxopts::value<std::string>())(
      "top", "how many next-token candidates to print", cxxopts::value<std::int64_t>()->default_value("5"))(
      "threads", "CPU threads for LibTorch (default: LibTorch's, one per physical core)", cxxopts::value<int>());
  cxxopts::ParseResult parsed;
  std::optional<spec::SpecDocument> spec_document;
  return guarded_command(globals, [&]() -> int {
    if (!parse_command_line(options, args, globals, parsed)) return kSuccess;
    apply_threads_option(parsed, "run");
    Session session(globals);
    Json ir;
    const bool from_directory = parsed.count("model") > 0;
    if (from_directory) {
      if (parsed.count("preset") || parsed.count("spec") || parsed.count("seed"))
        throw Error(make_error("UsageError", "cli.usage",
                               {{"reason", "--model DIR brings its own spec and weights: drop the spec and --seed"},
                                {"command", "run"}}));
      const std::filesystem::path dir = parsed["model"].as<std::string>();
      auto checked = checked_exported_ir(session, read_exported_ir(dir), (dir / "config.json").string());
      if (!checked) return kInvalidSpec;
      ir = std::move(*checked);
    } else {
      auto [file, r] = load_and_compile(session, parsed, &spec_document);
      session.print(r.diagnostics.errors);
      session.print(r.diagnostics.warnings);
      if (!r.ok()) return kInvalidSpec;
      ir = std::move(r.ir);
    }
    const Json& model_section = ir.at("model");
    const TokenRows rows = read_tokens(parsed, model_section.at("vocab_size").get<std::int64_t>());
    const at::Tensor& tokens = rows.ids;
    const std::int64_t new_tokens = parsed.count("generate") ? parsed["generate"].as<std::int64_t>() : 0;
    if (new_tokens < 0)
      throw Error(make_error("UsageError", "cli.usage", {{"reason", "--generate needs N >= 0"}, {"command", "run"}}));

    BuildOptions build;
    if (parsed.count("dtype")) build.dtype = dtype_named(parsed["dtype"].as<std::string>());
    ModuleCatalog catalog(session.registry());
    CausalLM model(ir, catalog, build);
    const std::uint64_t seed = parsed.count("seed") ? parsed["seed"].as<std::uint64_t>()
                                                    : ir.at("training_hints").at("seed").get<std::uint64_t>();
    if (from_directory) load_weights(model, parsed["model"].as<std::string>());
    else model.initialize(seed);
    model.eval();
    std::cout << session.text("run.summary", {{"name", model_section.at("name").get<std::string>()},
                                              {"params", grouped(model.parameter_count())},
                                              {"layers", std::to_string(ir.at("layers").size())},
                                              {"dtype", dtype_name(model.parameters().front().scalar_type())},
                                              {"seed", from_directory ? "-" : std::to_string(seed)}})
              << "\n";
    at::NoGradGuard no_grad;
    // Shorter rows are left-padded: every row's last real token is in the last slot.
    at::Tensor logits = model.forward(tokens, nullptr, rows.attention_mask).logits;
    if (rows.attention_mask.defined()) logits = logits * rows.attention_mask.unsqueeze(-1).to(logits.scalar_type());
    const std::int64_t last = tokens.size(1) - 1;
    for (std::int64_t row = 0; row < tokens.size(0); ++row)
      std::cout << session.text("run.top", {{"row", std::to_string(row)},
                                            {"position", std::to_string(rows.lengths[row].item<std::int64_t>() - 1)},
                                            {"candidates", top_tokens(logits[row][last], parsed["top"].as<std::int64_t>())}})
                << "\n";
    if (new_tokens > 0) {
      const at::Tensor generated = model.generate(tokens, new_tokens, rows.attention_mask);
      for (std::int64_t row = 0; row < tokens.size(0); ++row)
        std::cout << session.text("run.generated", {{"row", std::to_string(row)},
                                                    {"tokens", join(generated[row].narrow(0, tokens.size(1), new_tokens))}})
                  << "\n";
    }
    if (parsed.count("logits-out")) {
      const auto path = parsed["logits-out"].as<std::string>();
      write_file_atomically(path, npy_float32(logits));
      std::cout << session.text("run.logits_written", {{"path", path}, {"shape", npy_shape(logits)}}) << "\n";
    }
    return kSuccess;
  }, &spec_document);
}

}  // namespace
}  // namespace eulerstack::cli

BOOST_DLL_ALIAS(eulerstack::cli::run_model, eulerstack_cli_run)
