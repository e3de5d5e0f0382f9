#include "eulerstack/spec/document.hpp"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <unordered_map>
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

const std::string kCoreTagPrefix = "tag:yaml.org,2002:";

std::string shown_tag(const std::string& tag) {
  return tag.rfind(kCoreTagPrefix, 0) == 0 ? "!!" + tag.substr(kCoreTagPrefix.size()) : tag;
}

// yaml-cpp reports "?" for an untagged node and "!" for a quoted scalar (or
// the non-specific tag `!`); anything else is an explicit tag.
bool untagged(const YAML::Node& node) { return node.Tag().empty() || node.Tag() == "?" || node.Tag() == "!"; }

// A scalar with an explicit core tag, constructed as PyYAML's safe loader does.
Json tagged_scalar(const std::string& tag, const std::string& text, const SourceLocation& where) {
  const std::string name = tag.rfind(kCoreTagPrefix, 0) == 0 ? tag.substr(kCoreTagPrefix.size()) : "";
  if (name == "str") return text;
  if (name == "null") return nullptr;
  if (name == "map" || name == "seq") fail("spec.bad_tagged_value", {{"tag", shown_tag(tag)}, {"value", text}}, where);
  if (name == "int" || name == "float" || name == "bool") {
    Json value = resolve_plain_scalar(text, where);
    if (name == "int" && value.is_number_integer()) return value;
    if (name == "float" && value.is_number()) return value.get<double>();
    if (name == "bool" && value.is_boolean()) return value;
    fail("spec.bad_tagged_value", {{"tag", shown_tag(tag)}, {"value", text}}, where);
  }
  fail("spec.unsupported_tag", {{"tag", shown_tag(tag)}}, where);
}

class Converter {
 public:
  Converter(SpecDocument& doc, std::string_view text, const LoadLimits& limits) : doc_(doc), text_(text), limits_(limits) {}

  Json convert(const YAML::Node& node, const std::string& path, std::size_t depth) {
    const SourceLocation where = location(doc_.file, node.Mark());
    count_node(where);
    if (depth > limits_.max_depth) fail("spec.too_deep", {{"limit", std::to_string(limits_.max_depth)}}, where);
    switch (node.Type()) {
      case YAML::NodeType::Null:
      case YAML::NodeType::Undefined:
        return untagged(node) ? Json() : tagged_scalar(node.Tag(), "", where);
      case YAML::NodeType::Scalar:
        if (node.Tag() == "?") return resolve_plain_scalar(node.Scalar(), where);
        if (node.Tag() == "!") return node.Scalar();  // quoted: always a string
        return tagged_scalar(node.Tag(), node.Scalar(), where);
      case YAML::NodeType::Sequence: {
        require_collection_tag(node, "seq", where);
        Json out = Json::array();
        std::size_t i = 0;
        for (const auto& item : node) {
          std::string item_path = index_path(path, i++);
          const SourceLocation item_where = is_empty(item) ? where : location(doc_.file, item.Mark());
          doc_.record(item_path, item_where, item_where);
          out.push_back(convert(item, item_path, depth + 1));
        }
        return out;
      }
      case YAML::NodeType::Map: {
        require_collection_tag(node, "map", where);
        Json out = Json::object();
        // ordered_json finds keys by a linear scan: append directly, or a
        // mapping with many keys costs quadratic time.
        auto& members = static_cast<Json::object_t::Container&>(out.get_ref<Json::object_t&>());
        for (const auto& entry : merged_entries(node, path, depth)) {
          std::string key_path = child_path(path, entry.key);
          const SourceLocation key_where = location(doc_.file, entry.key_node.Mark());
          const SourceLocation value_where = is_empty(entry.value) ? key_where : location(doc_.file, entry.value.Mark());
          doc_.record(key_path, value_where, key_where);
          members.emplace_back(entry.key, convert(entry.value, key_path, depth + 1));
        }
        return out;
      }
    }
    return nullptr;
  }

 private:
  struct Entry {
    std::string key;
    YAML::Node key_node;
    YAML::Node value;
  };

  // An empty value (`head:` and nothing) has no text of its own: yaml-cpp
  // places it at the next token, often lines later, so its key stands for it.
  bool is_empty(const YAML::Node& node) const {
    if (!node.IsNull() || !node.Tag().empty()) return false;
    const YAML::Mark mark = node.Mark();
    if (mark.is_null() || mark.pos < 0 || static_cast<std::size_t>(mark.pos) >= text_.size()) return true;
    const std::string_view rest = text_.substr(static_cast<std::size_t>(mark.pos));
    for (std::string_view word : {"~", "null", "Null", "NULL"}) {
      if (rest.substr(0, word.size()) != word) continue;
      const char next = rest.size() > word.size() ? rest[word.size()] : ' ';
      if (!std::isalnum(static_cast<unsigned char>(next)) && next != '_' && next != ':') return false;
    }
    return true;
  }

  void count_node(const SourceLocation& where) {
    if (++nodes_ > limits_.max_nodes)
      fail("spec.too_many_nodes", {{"limit", std::to_string(limits_.max_nodes)}}, where);
  }

  // A mapping may carry !!map, a list !!seq; another core tag does not fit, any other tag is unknown.
  void require_collection_tag(const YAML::Node& node, const char* name, const SourceLocation& where) {
    const std::string& tag = node.Tag();
    if (untagged(node) || tag == kCoreTagPrefix + name) return;
    if (tag.rfind(kCoreTagPrefix, 0) != 0) fail("spec.unsupported_tag", {{"tag", shown_tag(tag)}}, where);
    fail("spec.bad_tagged_value", {{"tag", shown_tag(tag)}, {"value", node.IsMap() ? "mapping" : "list"}}, where);
  }

  // The entries of a mapping with its merge keys (`<<: *base`, `<<: [*a, *b]`)
  // resolved as the YAML merge-key type defines and PyYAML orders them:
  // merged entries first, a list's earlier mappings winning over later ones,
  // the mapping's own keys winning over all merged ones; a key keeps the
  // position where it first appeared. Each entry keeps its own nodes, so
  // locations point at the text it came from.
  std::vector<Entry> merged_entries(const YAML::Node& node, const std::string& path, std::size_t depth) {
    std::vector<Entry> flat;
    flatten(node, path, depth, false, flat);
    std::vector<Entry> out;
    std::unordered_map<std::string, std::size_t> position;
    for (auto& entry : flat) {
      auto [it, inserted] = position.emplace(entry.key, out.size());
      if (inserted) out.push_back(std::move(entry));
      else out[it->second] = std::move(entry);  // the winner's text, in the first one's place
    }
    return out;
  }

  // Entries reached through merge keys count as nodes: merging one anchor
  // many times must not get around the node limit.
  void flatten(const YAML::Node& node, const std::string& path, std::size_t depth, bool merged_in, std::vector<Entry>& out) {
    const SourceLocation where = location(doc_.file, node.Mark());
    if (depth > limits_.max_depth) fail("spec.too_deep", {{"limit", std::to_string(limits_.max_depth)}}, where);
    std::vector<Entry> merged, own;
    std::unordered_set<std::string> seen;
    const std::string shown_path = path.empty() ? "root" : path;
    for (const auto& pair : node) {
      const SourceLocation key_where = location(doc_.file, pair.first.Mark());
      if (!pair.first.IsScalar()) fail("spec.non_scalar_key", {{"path", shown_path}}, key_where);
      const std::string key = pair.first.Scalar();
      if (!seen.insert(key).second) fail("spec.duplicate_key", {{"key", key}, {"path", shown_path}}, key_where);
      if (key != "<<" || pair.first.Tag() != "?") {  // a quoted "<<" is an ordinary key
        if (merged_in) count_node(key_where);
        own.push_back({key, pair.first, pair.second});
        continue;
      }
      const YAML::Node& source = pair.second;
      if (source.IsMap()) {
        flatten(source, path, depth + 1, true, merged);
      } else if (source.IsSequence()) {
        std::vector<std::vector<Entry>> parts;
        for (const auto& item : source) {
          if (!item.IsMap()) fail("spec.bad_merge", {{"path", shown_path}}, location(doc_.file, item.Mark()));
          flatten(item, path, depth + 1, true, parts.emplace_back());
        }
        for (auto part = parts.rbegin(); part != parts.rend(); ++part)
          merged.insert(merged.end(), std::make_move_iterator(part->begin()), std::make_move_iterator(part->end()));
      } else {
        fail("spec.bad_merge", {{"path", shown_path}}, is_empty(source) ? key_where : location(doc_.file, source.Mark()));
      }
    }
    out.insert(out.end(), std::make_move_iterator(merged.begin()), std::make_move_iterator(merged.end()));
    out.insert(out.end(), std::make_move_iterator(own.begin()), std::make_move_iterator(own.end()));
  }

  SpecDocument& doc_;
  std::string_view text_;
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
  // YAML breaks lines at CR LF, LF or a lone CR; yaml-cpp knows only the first two.
  const std::string source = with_lf_line_breaks(text);
  try {
    node = YAML::Load(source);
  } catch (const YAML::Exception& e) {
    fail("spec.yaml_syntax", {{"reason", e.msg}}, location(doc.file, e.mark));
  }
  doc.root = Converter(doc, source, limits).convert(node, "", 0);
  if (!doc.root.is_object()) fail("spec.root_not_mapping", {}, location(doc.file, node.Mark()));
  return doc;
}

SpecDocument load_spec_file(const std::filesystem::path& path, const LoadLimits& limits) {
  return parse_spec(read_spec_bytes(path, limits), path.string(), limits);
}

}  // namespace eulerstack::spec
