#include "eulerstack/spec/document.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <unordered_set>

#include <yaml-cpp/yaml.h>

#include "input_limits.hpp"

namespace eulerstack::spec {
namespace {

SourceLocation location(const std::string& file, const YAML::Mark& mark) {
  if (mark.is_null()) return {file, 0, 0};
  return {file, mark.line + 1, mark.column + 1};
}

[[noreturn]] void fail(const std::string& id, MessageArgs args, SourceLocation where) {
  throw Error(make_error("ValidationError", id, std::move(args), std::move(where)));
}

std::string strip_underscores(std::string text) {
  text.erase(std::remove(text.begin(), text.end(), '_'), text.end());
  return text;
}

// Plain scalars typed as upstream's PyYAML loader types them, plus the YAML 1.2
// float forms without a dot (1e-3), which PyYAML would leave as strings.
Json resolve_plain_scalar(const std::string& s, const SourceLocation& where) {
  static const std::set<std::string> nulls{"", "~", "null", "Null", "NULL"};
  static const std::set<std::string> trues{"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"};
  static const std::set<std::string> falses{"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"};
  static const std::regex decimal(R"([-+]?(0|[1-9][0-9_]*))");
  static const std::regex hex(R"([-+]?0x[0-9a-fA-F_]+)");
  static const std::regex octal(R"([-+]?0o?[0-7_]+)");
  static const std::regex binary(R"([-+]?0b[01_]+)");
  static const std::regex floating(R"([-+]?([0-9][0-9_]*)?\.[0-9_]*([eE][-+]?[0-9]+)?|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+)");
  static const std::regex special(R"([-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN))");

  if (nulls.count(s)) return nullptr;
  if (trues.count(s)) return true;
  if (falses.count(s)) return false;
  auto parse_int = [&](std::string digits, int base) -> Json {
    bool negative = !digits.empty() && digits[0] == '-';
    if (!digits.empty() && (digits[0] == '-' || digits[0] == '+')) digits.erase(0, 1);
    if (base == 16 || base == 2) digits.erase(0, 2);
    if (base == 8 && digits.size() > 1 && digits[1] == 'o') digits.erase(0, 2);
    errno = 0;
    char* end = nullptr;
    unsigned long long magnitude = std::strtoull(digits.c_str(), &end, base);
    const unsigned long long limit = negative ? 9223372036854775808ULL : 9223372036854775807ULL;
    if (errno == ERANGE || magnitude > limit) fail("spec.number_out_of_range", {{"value", s}}, where);
    if (negative) return magnitude == limit ? INT64_MIN : -static_cast<long long>(magnitude);
    return static_cast<long long>(magnitude);
  };
  if (std::regex_match(s, decimal)) return parse_int(strip_underscores(s), 10);
  if (std::regex_match(s, hex)) return parse_int(strip_underscores(s), 16);
  if (std::regex_match(s, binary)) return parse_int(strip_underscores(s), 2);
  if (std::regex_match(s, octal)) return parse_int(strip_underscores(s), 8);
  if (std::regex_match(s, floating) && s.find_first_of("0123456789") != std::string::npos) {
    double v = std::strtod(strip_underscores(s).c_str(), nullptr);
    if (!std::isfinite(v)) fail("spec.number_out_of_range", {{"value", s}}, where);
    return v;
  }
  if (std::regex_match(s, special)) fail("spec.non_finite_number", {{"value", s}}, where);
  return s;
}

class Converter {
 public:
  Converter(SpecDocument& doc, const LoadLimits& limits) : doc_(doc), limits_(limits) {}

  Json convert(const YAML::Node& node, const std::string& path, std::size_t depth) {
    const SourceLocation where = location(doc_.file, node.Mark());
    if (++nodes_ > limits_.max_nodes)
      fail("spec.too_many_nodes", {{"limit", std::to_string(limits_.max_nodes)}}, where);
    if (depth > limits_.max_depth) fail("spec.too_deep", {{"limit", std::to_string(limits_.max_depth)}}, where);
    switch (node.Type()) {
      case YAML::NodeType::Null:
      case YAML::NodeType::Undefined:
        return nullptr;
      case YAML::NodeType::Scalar:
        if (node.Tag() == "!" ) return node.Scalar();  // quoted: always a string
        return resolve_plain_scalar(node.Scalar(), where);
      case YAML::NodeType::Sequence: {
        Json out = Json::array();
        std::size_t i = 0;
        for (const auto& item : node) {
          std::string item_path = index_path(path, i++);
          doc_.record(item_path, location(doc_.file, item.Mark()), location(doc_.file, item.Mark()));
          out.push_back(convert(item, item_path, depth + 1));
        }
        return out;
      }
      case YAML::NodeType::Map: {
        Json out = Json::object();
        // ordered_json finds keys by a linear scan: track them in a hash set and
        // append directly, or a mapping with many keys costs quadratic time.
        auto& members = static_cast<Json::object_t::Container&>(out.get_ref<Json::object_t&>());
        std::unordered_set<std::string> seen;
        for (const auto& pair : node) {
          if (!pair.first.IsScalar())
            fail("spec.non_scalar_key", {{"path", path.empty() ? "root" : path}}, location(doc_.file, pair.first.Mark()));
          const std::string key = pair.first.Scalar();
          const SourceLocation key_where = location(doc_.file, pair.first.Mark());
          if (!seen.insert(key).second)
            fail("spec.duplicate_key", {{"key", key}, {"path", path.empty() ? "root" : path}}, key_where);
          std::string key_path = child_path(path, key);
          doc_.record(key_path, location(doc_.file, pair.second.Mark()), key_where);
          members.emplace_back(key, convert(pair.second, key_path, depth + 1));
        }
        return out;
      }
    }
    return nullptr;
  }

 private:
  SpecDocument& doc_;
  const LoadLimits& limits_;
  std::size_t nodes_ = 0;
};

}  // namespace

std::string child_path(std::string_view parent, std::string_view key) {
  return parent.empty() ? std::string(key) : std::string(parent) + "." + std::string(key);
}

std::string index_path(std::string_view parent, std::size_t index) {
  return std::string(parent) + "[" + std::to_string(index) + "]";
}

void SpecDocument::record(std::string path, SourceLocation value, SourceLocation key) {
  keys_[path] = std::move(key);
  values_[std::move(path)] = std::move(value);
}

SourceLocation SpecDocument::at(std::string_view path) const {
  std::string p(path);
  while (!p.empty()) {
    if (auto it = values_.find(p); it != values_.end()) return it->second;
    auto cut = p.find_last_of(".[");
    p = cut == std::string::npos ? "" : p.substr(0, cut);
  }
  return {file, 0, 0};
}

SourceLocation SpecDocument::key_at(std::string_view path) const {
  if (auto it = keys_.find(path); it != keys_.end()) return it->second;
  return at(path);
}

SpecDocument parse_spec(std::string_view text, std::string file, const LoadLimits& limits) {
  SpecDocument doc;
  doc.file = std::move(file);
  check_spec_input(text, doc.file, limits);
  YAML::Node node;
  try {
    node = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    fail("spec.yaml_syntax", {{"reason", e.msg}}, location(doc.file, e.mark));
  }
  doc.root = Converter(doc, limits).convert(node, "", 0);
  if (!doc.root.is_object())
    fail("spec.root_not_mapping", {}, {doc.file, 1, 1});
  return doc;
}

SpecDocument load_spec_file(const std::filesystem::path& path, const LoadLimits& limits) {
  return parse_spec(read_spec_bytes(path, limits), path.string(), limits);
}

}  // namespace eulerstack::spec
