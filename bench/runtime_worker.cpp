// eulerstack_bench_worker MODEL_DIR DTYPE THREADS
// Loads an exported HF directory into the C++ runtime and answers timing
// requests on stdin, one per line, with one JSON line on stdout:
//   prefill T         -> {"seconds": s}  one forward of T tokens with a fresh cache
//   decode P N        -> {"seconds": s}  N greedy single-token steps after a P-token prefill (steps only)
//   memory T          -> {"peak_rss_delta": bytes} peak RSS growth over one prefill of T tokens
//   params            -> {"params": n}
//   floor T           -> {"seconds": s}  the model's matrix products alone for T tokens (see gemm_floor)
// The Python contenders (bench/python_worker.py) speak the same protocol, so
// bench/run.py can alternate them run by run.

#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>

#include "eulerstack/plugin_host.hpp"
#include "eulerstack/runtime/checkpoint.hpp"
#include "eulerstack/runtime/model.hpp"

using namespace eulerstack;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Resets the kernel's peak-RSS mark (VmHWM), so a later peak covers only what
// follows (loading the weights may have peaked higher).
void reset_peak_rss() {
  std::ofstream("/proc/self/clear_refs") << "5";
}

long status_kib(const std::string& field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  return 0;
}

at::Tensor random_tokens(std::int64_t count, std::int64_t vocab) {
  return at::randint(vocab, {1, count}, at::TensorOptions().dtype(at::kLong));
}

at::Tensor greedy_next(const at::Tensor& logits) {
  return logits.select(1, logits.size(1) - 1).argmax(-1, true);
}

// The matrix products a forward of T tokens cannot avoid: every 2-D weight
// (the token embedding only when it is also the head) applied to T random
// rows, MoE experts to their share of the tokens (T * top_k / experts rows
// each; at T * top_k < experts, that many experts with one row). No attention
// scores, scans or elementwise work: a lower bound for any implementation of
// the same model on the same BLAS. At T = 1 it reads every weight a decode
// step reads once, the memory-bound floor of decoding.
double gemm_floor(CausalLM& model, const Json& ir, std::int64_t tokens) {
  const auto params = model.named_parameters();
  const bool untied_head = params.contains("lm_head.weight");
  std::vector<std::pair<at::Tensor, at::Tensor>> products;  // (weight, input)
  for (const auto& item : params) {
    const at::Tensor& weight = item.value();
    const std::string& name = item.key();
    if (weight.dim() != 2 || (name == "model.embed_tokens.weight" && untied_head)) continue;
    std::int64_t rows = tokens;
    const std::string experts_marker = ".experts.";
    const auto experts_at = name.find(experts_marker);
    if (experts_at != std::string::npos) {
      const std::int64_t layer = std::stoll(name.substr(std::string("model.layers.").size()));
      const Json& moe = ir.at("layers").at(layer).at("ffn").at("params");
      const std::int64_t experts = moe.at("experts").get<std::int64_t>(), top_k = moe.at("top_k").get<std::int64_t>();
      if (tokens * top_k >= experts) {
        rows = (tokens * top_k + experts - 1) / experts;
      } else {
        const std::int64_t expert = std::stoll(name.substr(experts_at + experts_marker.size()));
        if (expert >= tokens * top_k) continue;
        rows = 1;
      }
    }
    products.emplace_back(weight, at::randn({rows, weight.size(1)}, weight.options()));
  }
  auto run = [&] {
    for (const auto& [weight, input] : products) at::linear(input, weight);
  };
  run();  // warm-up
  const auto start = Clock::now();
  run();
  return seconds_since(start);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: eulerstack_bench_worker MODEL_DIR DTYPE THREADS\n";
    return 2;
  }
  try {
    at::set_num_threads(std::stoi(argv[3]));
    Registry registry;
    PluginSearchOptions search;
    search.executable_dir = executable_dir();
    load_plugins(registry, plugin_search_path(search));
    ModuleCatalog catalog(registry);
    const Json ir = read_exported_ir(argv[1]);
    BuildOptions build;
    build.dtype = dtype_named(argv[2]);
    CausalLM model(ir, catalog, build);
    load_weights(model, argv[1]);
    model.eval();
    c10::NoGradGuard no_grad;
    const std::int64_t vocab = ir.at("model").at("vocab_size").get<std::int64_t>();
    std::cout << "{\"ready\": true}" << std::endl;

    std::string line;
    while (std::getline(std::cin, line)) {
      std::istringstream request(line);
      std::string command;
      request >> command;
      if (command == "prefill") {
        std::int64_t length = 0;
        request >> length;
        const at::Tensor tokens = random_tokens(length, vocab);
        DecodeState state = model.new_state();
        const auto start = Clock::now();
        model.forward(tokens, &state);
        std::cout << "{\"seconds\": " << seconds_since(start) << "}" << std::endl;
      } else if (command == "decode") {
        std::int64_t prompt = 0, steps = 0;
        request >> prompt >> steps;
        DecodeState state = model.new_state();
        at::Tensor next = greedy_next(model.forward(random_tokens(prompt, vocab), &state).logits);
        const auto start = Clock::now();
        for (std::int64_t i = 0; i < steps; ++i) next = greedy_next(model.forward(next, &state).logits);
        std::cout << "{\"seconds\": " << seconds_since(start) << "}" << std::endl;
      } else if (command == "memory") {
        std::int64_t length = 0;
        request >> length;
        const at::Tensor tokens = random_tokens(length, vocab);
        reset_peak_rss();
        const long before = status_kib("VmRSS");
        DecodeState state = model.new_state();
        model.forward(tokens, &state);
        std::cout << "{\"peak_rss_delta\": " << (status_kib("VmHWM") - before) * 1024L << "}" << std::endl;
      } else if (command == "floor") {
        std::int64_t length = 0;
        request >> length;
        std::cout << "{\"seconds\": " << gemm_floor(model, ir, length) << "}" << std::endl;
      } else if (command == "params") {
        std::cout << "{\"params\": " << model.parameter_count() << "}" << std::endl;
      } else {
        std::cout << "{\"error\": \"unknown request: " << command << "\"}" << std::endl;
      }
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
}
