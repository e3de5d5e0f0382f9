// explain's text report and its --json form.

#include "explain_report.hpp"

#include <sstream>

#include <fmt/format.h>

#include "eulerstack/json_text.hpp"
#include "spec_loader.hpp"

namespace eulerstack::cli {
namespace {

std::string value_text(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number_float()) {
    std::string s = fmt::format("{}", v.get<double>());
    return s.find_first_of(".e") == std::string::npos ? s + ".0" : s;
  }
  if (v.is_object()) {
    std::string out = "{";
    for (const auto& [k, item] : v.items()) out += (out.size() > 1 ? ", " : "") + k + ": " + value_text(item);
    return out + "}";
  }
  return json_text(v);
}

// "mamba {variant: mamba2, d_state: 128, ...}": the set scalar parameters, the
// first few of them; `explain --json` has them all.
std::string params_text(const Json& params) {
  constexpr std::size_t kShown = 6;
  std::string out;
  std::size_t shown = 0, hidden = 0;
  for (const auto& [key, value] : params.items()) {
    if (value.is_null() || value.is_object() || value.is_array()) continue;
    if (shown == kShown) {
      ++hidden;
      continue;
    }
    out += (shown++ ? ", " : "") + key + ": " + value_text(value);
  }
  if (hidden) out += ", ...";
  return out.empty() ? "" : " {" + out + "}";
}

std::string block_text(const Json& block) {
  std::string out = block["type"].get<std::string>() + params_text(block["params"]);
  if (block.contains("refs"))
    for (const auto& [name, ref] : block["refs"].items())
      out += "; " + name + ": " + ref["type"].get<std::string>() + params_text(ref["params"]);
  return out;
}

// Schedule groups as written, adjacent groups of one template merged: "mamba x1, attn x3".
std::string schedule_text(const Json& schedule) {
  std::vector<std::pair<std::string, std::int64_t>> runs;
  for (const auto& group : schedule) {
    const auto name = group["template"].get<std::string>();
    const auto repeat = group["repeat"].get<std::int64_t>();
    if (!runs.empty() && runs.back().first == name && group["override"].is_null()) runs.back().second += repeat;
    else runs.emplace_back(name, repeat);
  }
  std::string out;
  for (const auto& [name, repeat] : runs) out += (out.empty() ? "" : ", ") + fmt::format("{} x{}", name, repeat);
  return out;
}

}  // namespace

std::string explain_text(const Session& s, const spec::CompileResult& r) {
  const Json& ir = r.ir;
  const Json& m = ir["model"];
  std::ostringstream out;
  auto line = [&](const std::string& id, const std::string& value) { out << s.text(id) << ": " << value << "\n"; };
  line("explain.model", m["name"].get<std::string>());
  if (m["family_hint"].is_string()) line("explain.family_hint", m["family_hint"].get<std::string>());
  line("explain.dims", fmt::format("d_model={}, n_heads={}, n_kv_heads={}, mlp_ratio={}", m["d_model"].dump(),
                                   m["n_heads"].dump(), m["n_kv_heads"].dump(), m["mlp_ratio"].dump()));
  out << s.text("explain.vocab_line", {{"vocab", m["vocab_size"].dump()}, {"max_seq", m["max_seq_len"].dump()},
                                       {"dtype", m["dtype"].get<std::string>()}})
      << "\n";
  line("explain.positional", block_text(ir["embedding"]["positional"]));
  out << s.text("explain.templates") << ":\n";
  for (const auto& [name, t] : ir["layer_templates"].items()) {
    out << "  " << name << ":\n";
    out << "    mixer: " << block_text(t["mixer"]) << "\n";
    out << "    ffn: " << block_text(t["ffn"]) << "\n";
    out << "    norm: " << t["norm"]["type"].get<std::string>() << " (" << t["norm"]["position"].get<std::string>() << ")"
        << ", residual: " << t["residual"]["type"].get<std::string>() << " x" << value_text(t["residual"]["scaling"])
        << "\n";
    std::string state;
    for (const auto& [flag, on] : t["state"].items())
      if (on.get<bool>()) state += (state.empty() ? "" : ", ") + flag;
    out << "    state: " << (state.empty() ? "none" : state) << "\n";
  }
  out << s.text("explain.schedule") << ":\n  " << schedule_text(ir["layer_schedule"]) << "\n";
  line("explain.total_layers", std::to_string(ir["layers"].size()));
  line("explain.head", fmt::format("{}, tie_weights={}", ir["head"]["type"].get<std::string>(),
                                   ir["head"]["tied"].get<bool>() ? "True" : "False"));
  line("explain.compile_target", ir["compatibility"]["compile_target"].get<std::string>());
  const auto total = r.params.total;
  line("explain.estimated_params", fmt::format("{} ({})", short_count(total), grouped(total)));
  if (m["target_params"].is_number()) {
    const auto target = m["target_params"].get<std::int64_t>();
    out << s.text("explain.target_params",
                  {{"target", short_count(target)}, {"ratio", fmt::format("{:.1f}", 100.0 * total / target)}})
        << "\n";
  }
  return out.str();
}

Json explain_json(const spec::CompileResult& r) {
  const Json& ir = r.ir;
  Json templates = Json::object();
  for (const auto& [name, t] : ir["layer_templates"].items())
    templates[name] = {{"mixer", t["mixer"]}, {"ffn", t["ffn"]}, {"norm", t["norm"]}, {"residual", t["residual"]},
                       {"state", t["state"]}};
  Json out{{"model", ir["model"]["name"]},
           {"family_hint", ir["model"]["family_hint"]},
           {"dims", {{"d_model", ir["model"]["d_model"]}, {"n_heads", ir["model"]["n_heads"]},
                     {"n_kv_heads", ir["model"]["n_kv_heads"]}, {"mlp_ratio", ir["model"]["mlp_ratio"]}}},
           {"vocab_size", ir["model"]["vocab_size"]},
           {"max_seq_len", ir["model"]["max_seq_len"]},
           {"dtype", ir["model"]["dtype"]},
           {"positional", ir["embedding"]["positional"]},
           {"layer_templates", templates},
           {"layer_schedule", schedule_text(ir["layer_schedule"])},
           {"total_layers", ir["layers"].size()},
           {"head", {{"type", ir["head"]["type"]}, {"tie_weights", ir["head"]["tied"]}}},
           {"compile_target", ir["compatibility"]["compile_target"]},
           {"params", ir["params"]},
           {"target_params", ir["model"]["target_params"]}};
  return out;
}


}  // namespace eulerstack::cli
