#include "weights_writer.hpp"

#include <cmath>
#include <cstdio>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <set>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "../atomic_file.hpp"
#include "eulerstack/diagnostics.hpp"
#include "eulerstack/runtime/initialize.hpp"
#include "eulerstack/safetensors.hpp"
#include "hf_files.hpp"
#include "output_dir.hpp"

namespace fs = std::filesystem;

namespace eulerstack::cli {
namespace {

std::string safetensors_dtype(at::ScalarType dtype) {
  switch (dtype) {
    case at::kFloat: return "F32";
    case at::kBFloat16: return "BF16";
    case at::kHalf: return "F16";
    default: throw std::logic_error(std::string("no safetensors dtype for ") + c10::toString(dtype));
  }
}

struct Shard {
  std::vector<safetensors::TensorEntry> entries;
  std::uint64_t bytes = 0;
};

struct PieceJob {
  const safetensors::TensorEntry* entry;
  const InitRule* rule;
  at::IntArrayRef shape;
  at::ScalarType dtype;
  std::int64_t k;
};

// Sets LibTorch's intra-op threads for its lifetime. The export's workers each
// convert their own pieces: an OpenMP team per conversion would only contend
// with the other workers (a profile showed a fifth of the time in OpenMP's spin).
class IntraOpThreads {
 public:
  explicit IntraOpThreads(int threads) : saved_(at::get_num_threads()) { at::set_num_threads(threads); }
  ~IntraOpThreads() { at::set_num_threads(saved_); }
  IntraOpThreads(const IntraOpThreads&) = delete;
  IntraOpThreads& operator=(const IntraOpThreads&) = delete;

 private:
  int saved_;
};

// Draws and converts the pieces on up to `threads` worker threads, `threads`
// pieces ahead, and hands them to `write` in order on this thread. Drawing
// dominates an export: a normal draw is several times slower than converting
// and writing.
void draw_in_order(const std::vector<PieceJob>& jobs, std::uint64_t seed, int threads,
                   const std::function<void(const at::Tensor&)>& write) {
  const IntraOpThreads one_each(1);
  auto draw = [seed](const PieceJob& job) {
    return initial_piece(*job.rule, seed, job.entry->name, job.shape, job.k).to(job.dtype).contiguous();
  };
  std::deque<std::future<at::Tensor>> ahead;
  std::size_t next = 0;
  auto launch = [&] { ahead.push_back(std::async(std::launch::async, draw, std::cref(jobs[next++]))); };
  for (std::size_t done = 0; done < jobs.size(); ++done) {
    while (next < jobs.size() && ahead.size() < static_cast<std::size_t>(threads)) launch();
    const at::Tensor piece = ahead.front().get();
    ahead.pop_front();
    write(piece);
  }
}

}  // namespace

std::uint64_t parse_size(const std::string& text) {
  static const std::map<std::string, double> units{{"", 1},      {"B", 1},      {"KB", 1e3},         {"MB", 1e6},
                                                   {"GB", 1e9},  {"TB", 1e12},  {"KIB", 1024.0},     {"MIB", 1048576.0},
                                                   {"GIB", 1073741824.0}, {"TIB", 1099511627776.0}};
  std::size_t used = 0;
  double number = -1;
  try {
    number = std::stod(text, &used);
  } catch (const std::exception&) {
  }
  std::string unit = text.substr(used);
  for (char& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto it = units.find(unit);
  // Less than a byte would give one shard per tensor; 2^63 bytes and more do not fit the count.
  const double bytes = it == units.end() ? -1 : number * it->second;
  if (number <= 0 || !std::isfinite(bytes) || bytes < 1 || bytes >= 9.2e18)
    throw Error(make_error("UsageError", "cli.usage",
                           {{"reason", "--max-shard-size '" + text + "' is not a size like 50GB, 500MB or 2GiB (1 byte to 9.2 EB)"},
                            {"command", "compile"}}));
  return static_cast<std::uint64_t>(bytes);
}

WrittenWeights write_weights(torch::nn::Module& model, std::uint64_t seed, const fs::path& dir,
                             std::uint64_t max_shard_bytes, int draw_threads,
                             const ProgressLine::Formatter& progress_text) {
  const auto rules = init_rules(model);
  std::map<std::string, at::Tensor> parameters;
  std::vector<Shard> shards(1);
  WrittenWeights written;
  auto add = [&](const std::string& name, const at::Tensor& value, at::ScalarType dtype) {
    safetensors::TensorEntry entry{name, safetensors_dtype(dtype), value.sizes().vec()};
    const std::uint64_t bytes = safetensors::byte_size(entry);
    if (shards.back().bytes > 0 && shards.back().bytes + bytes > max_shard_bytes) shards.emplace_back();
    shards.back().entries.push_back(entry);
    shards.back().bytes += bytes;
    written.tensor_bytes += bytes;
    parameters[name] = value;
  };
  for (const auto& p : model.named_parameters()) {
    add(p.key(), p.value(), p.value().scalar_type());
    written.parameters += p.value().numel();
  }
  // The modules' buffers are model state too (the MoE router's expert_bias):
  // float32, and zero before any training.
  std::set<std::string> buffers;
  for (const auto& b : model.named_buffers()) {
    add(b.key(), b.value(), at::kFloat);
    buffers.insert(b.key());
  }

  const InitRule zero_state = init::zeros();
  ProgressLine progress(written.tensor_bytes, progress_text);
  nlohmann::json weight_map = nlohmann::json::object();
  for (std::size_t i = 0; i < shards.size(); ++i) {
    char name[64];
    std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", i + 1, shards.size());
    const std::string file_name = shards.size() == 1 ? "model.safetensors" : name;
    const fs::path file = dir / file_name;
    OutputFile out(file);
    const std::string head = safetensors::frame(shards[i].entries, {{"format", "pt"}});
    out.write(head.data(), head.size());
    std::vector<PieceJob> jobs;
    for (const auto& entry : shards[i].entries) {
      const at::Tensor& tensor = parameters.at(entry.name);
      const bool buffer = buffers.count(entry.name) > 0;
      const InitRule* rule = buffer ? &zero_state : rules.at(entry.name);
      for (std::int64_t k = 0; k < initial_piece_count(*rule, tensor.sizes()); ++k)
        jobs.push_back({&entry, rule, tensor.sizes(), buffer ? at::kFloat : tensor.scalar_type(), k});
      weight_map[entry.name] = file_name;
    }
    draw_in_order(jobs, seed, draw_threads, [&](const at::Tensor& value) {
      check_interrupted();
      out.write(value.const_data_ptr(), value.nbytes());
      progress.advance(value.nbytes());
    });
    out.close();
    written.files.push_back(file_name);
  }
  if (shards.size() > 1) {
    const nlohmann::json index = {{"metadata", {{"total_size", written.tensor_bytes}}}, {"weight_map", weight_map}};
    write_json(dir / "model.safetensors.index.json", index);
    written.files.push_back("model.safetensors.index.json");
  }
  return written;
}

}  // namespace eulerstack::cli
