#include "eulerstack/runtime/checkpoint.hpp"

#include <map>
#include <optional>
#include <set>

#include <ATen/ATen.h>

#include "eulerstack/bounded_json.hpp"
#include "eulerstack/checked_file.hpp"
#include "eulerstack/diagnostics.hpp"
#include "eulerstack/safetensors.hpp"

namespace fs = std::filesystem;

namespace eulerstack {
namespace {

Error mismatch(const fs::path& where, const std::string& reason) {
  return Error(make_error("IOError", "weights.mismatch", {{"file", where.string()}, {"reason", reason}}));
}

// config.json of the largest stack the front end allows is some tens of MB.
constexpr std::uintmax_t kMaxJsonBytes = 64u << 20;
constexpr std::size_t kMaxJsonDepth = 64;

// A JSON file of the model directory, read within bounds; nullopt with `why` when it is not usable JSON.
std::optional<Json> read_json_file(const fs::path& file, std::string& why) {
  return parse_bounded_json(read_checked_file(file, kMaxJsonBytes), kMaxJsonDepth, why);
}

at::ScalarType scalar_type_of(const std::string& dtype) {
  if (dtype == "F32") return at::kFloat;
  if (dtype == "BF16") return at::kBFloat16;
  if (dtype == "F16") return at::kHalf;
  return at::kByte;  // not a parameter dtype; refused by the caller
}

// The safetensors files of a directory: the index's shards, or model.safetensors.
std::vector<fs::path> weight_files(const fs::path& dir) {
  const fs::path index = dir / "model.safetensors.index.json";
  std::error_code ec;
  if (fs::exists(index, ec)) {
    std::string why;
    const auto parsed = read_json_file(index, why);
    if (!parsed) throw mismatch(index, "the index is not usable JSON: " + why);
    const Json& json = *parsed;
    if (!json.is_object() || !json.contains("weight_map") || !json["weight_map"].is_object())
      throw mismatch(index, "the index has no weight_map");
    std::set<std::string> files;
    for (const auto& [name, file] : json["weight_map"].items()) {
      if (!file.is_string()) throw mismatch(index, "weight_map['" + name + "'] is not a file name");
      files.insert(file.get<std::string>());
    }
    std::vector<fs::path> out;
    for (const auto& file : files) {
      if (fs::path(file).has_parent_path()) throw mismatch(index, "shard '" + file + "' is not a file in the directory");
      out.push_back(dir / file);
    }
    return out;
  }
  if (!fs::exists(dir / "model.safetensors", ec))
    throw Error(make_error("IOError", "io.cannot_read", {{"path", (dir / "model.safetensors").string()}}));
  return {dir / "model.safetensors"};
}

// transformers edits config.json's own fields (resize_token_embeddings changes
// vocab_size; save_pretrained writes the dtype the model was saved in) and may
// leave eulerstack_ir as it was: where they disagree, the top-level fields win.
void with_hf_fields(Json& ir, const Json& config) {
  if (!ir.contains("model") || !ir["model"].is_object()) return;  // the front end reports it
  if (config.contains("vocab_size")) ir["model"]["vocab_size"] = config["vocab_size"];
  for (const char* key : {"dtype", "torch_dtype"})  // transformers >= 4.56 writes dtype, older ones torch_dtype
    if (config.contains(key) && config[key].is_string()) {
      ir["model"]["dtype"] = config[key];
      break;
    }
  if (config.contains("tie_word_embeddings") && config["tie_word_embeddings"].is_boolean() && ir.contains("head") &&
      ir["head"].is_object() && ir["head"].value("tied", Json()) != config["tie_word_embeddings"] &&
      ir.contains("embedding") && ir["embedding"].is_object()) {
    ir["embedding"]["tie_word_embeddings"] = config["tie_word_embeddings"];
    ir["head"]["tie_weights"] = config["tie_word_embeddings"];
  }
}

}  // namespace

Json read_exported_ir(const fs::path& dir) {
  const fs::path file = dir / "config.json";
  std::string why;
  auto parsed = read_json_file(file, why);
  if (!parsed) throw mismatch(file, "config.json is not usable JSON: " + why);
  Json& config = *parsed;
  if (!config.is_object() || !config.contains("eulerstack_ir") || !config["eulerstack_ir"].is_object())
    throw mismatch(file, "config.json has no eulerstack_ir: the directory was not exported by eulerstack");
  Json ir = config["eulerstack_ir"];
  with_hf_fields(ir, config);
  return ir;
}

void load_weights(CausalLM& model, const fs::path& dir) {
  auto parameters = model.named_parameters();
  auto buffers = model.named_buffers();
  std::map<std::string, bool> loaded;
  for (const auto& p : parameters) loaded[p.key()] = false;
  std::set<std::string> loaded_buffers;
  const bool tied = model.ir().at("head").at("tied").get<bool>();

  at::NoGradGuard no_grad;
  for (const auto& file : weight_files(dir)) {
    const auto header = safetensors::read_header(file);
    for (const auto& entry : header.tensors) {
      const bool is_buffer = !loaded.count(entry.name) && buffers.contains(entry.name);
      if (!loaded.count(entry.name) && !is_buffer) {
        if (tied && entry.name == "lm_head.weight") continue;  // a tied head saved twice
        throw mismatch(file, "unexpected tensor '" + entry.name + "': the model has no such parameter");
      }
      const bool twice = is_buffer ? !loaded_buffers.insert(entry.name).second : loaded[entry.name];
      if (twice) throw mismatch(file, "tensor '" + entry.name + "' is stored twice");
      at::Tensor target = is_buffer ? buffers[entry.name] : parameters[entry.name];
      if (entry.shape != target.sizes().vec())
        throw mismatch(file, "tensor '" + entry.name + "' has shape " + Json(entry.shape).dump() + ", the model needs " +
                                 Json(target.sizes().vec()).dump());
      const at::ScalarType stored = scalar_type_of(entry.dtype);
      if (stored == at::kByte)
        throw mismatch(file, "tensor '" + entry.name + "' is " + entry.dtype + ", not a float type (F32, BF16, F16)");
      at::Tensor buffer = at::empty(target.sizes(), at::TensorOptions().dtype(stored));
      safetensors::read_tensor(file, header, entry, buffer.mutable_data_ptr());
      target.copy_(buffer);
      if (!is_buffer) loaded[entry.name] = true;
    }
  }
  // A buffer the files lack (exports from before buffers were saved) keeps its initial value.
  for (const auto& [name, done] : loaded)
    if (!done) throw mismatch(dir, "missing tensor '" + name + "'");
}

}  // namespace eulerstack
