#include "eulerstack/spec/check_params.hpp"

#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "eulerstack/suggest.hpp"

namespace eulerstack::spec {
namespace {

std::string number_text(double v) {
  if (std::floor(v) == v && std::fabs(v) < 1e15) return fmt::format("{}", static_cast<long long>(v));
  return fmt::format("{}", v);
}

std::string show(const Json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

}  // namespace

std::string value_type_name(const Json& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "bool";
  if (v.is_number_integer()) return "int";
  if (v.is_number()) return "float";
  if (v.is_string()) return "string";
  if (v.is_array()) return "list";
  return "mapping";
}

bool is_reserved_key(const std::string& key) {
  for (const char* prefix : {"experimental.", "future.", "vendor."})
    if (key.rfind(prefix, 0) == 0) return true;
  return false;
}

Diagnostic error_at(const SpecDocument& doc, const std::string& path, std::string id, MessageArgs args, bool at_key) {
  args.emplace("path", path);
  return make_error("ValidationError", std::move(id), std::move(args), at_key ? doc.key_at(path) : doc.at(path));
}

static bool is_whole_expression(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  const auto last = text.find_last_not_of(" \t\r\n");
  return first != std::string_view::npos && last - first >= 2 && text.substr(first, 2) == "${" && text[last] == '}';
}

Json check_value(const Json& value, const ParamSpec& spec, const std::string& path, const SpecDocument& doc,
                 Diagnostics& out) {
  auto wrong_type = [&](const char* expected) {
    // A whole `${...}` still a string failed, and its error is already reported; text
    // around a `${...}` is no expression (never evaluated) and is a wrong type like any text.
    if (value.is_string() && is_whole_expression(value.get<std::string>())) return spec.default_value;
    out.errors.push_back(error_at(doc, path, "spec.wrong_type",
                                  {{"expected", expected}, {"actual", value_type_name(value)}, {"value", show(value)}}));
    return spec.default_value;
  };
  if (value.is_null()) {
    if (spec.nullable) return Json();
    if (spec.type == ParamType::Object) return check_params(Json::object(), spec.fields, path, doc, out);
    out.errors.push_back(error_at(doc, path, "spec.null_not_allowed", {}));
    return spec.default_value;
  }
  switch (spec.type) {
    case ParamType::Bool:
      return value.is_boolean() ? value : wrong_type("bool");
    case ParamType::String:
      return value.is_string() ? value : wrong_type("string");
    case ParamType::Enum: {
      if (!value.is_string()) return wrong_type("string");
      const auto text = value.get<std::string>();
      for (const auto& c : spec.choices)
        if (c == text) return value;
      Diagnostic d = error_at(doc, path, "spec.not_in_choices",
                              {{"value", text}, {"choices", fmt::format("{}", fmt::join(spec.choices, ", "))}});
      if (auto near = nearest_names(text, spec.choices); !near.empty())
        d.notes.push_back({"note.did_you_mean", {{"names", fmt::format("{}", fmt::join(near, ", "))}}});
      out.errors.push_back(std::move(d));
      return spec.default_value;
    }
    case ParamType::Int:
    case ParamType::Float: {
      if (!value.is_number() || value.is_boolean()) return wrong_type(spec.type == ParamType::Int ? "int" : "float");
      Json result = value;
      if (spec.type == ParamType::Int && !value.is_number_integer()) {
        double v = value.get<double>();
        if (std::floor(v) != v || std::fabs(v) > 9.2e18) {
          out.errors.push_back(error_at(doc, path, "spec.not_integer", {{"value", show(value)}}));
          return spec.default_value;
        }
        result = static_cast<long long>(v);
      }
      if (spec.type == ParamType::Float) result = value.get<double>();
      const double v = value.get<double>();
      if (spec.min && (v < *spec.min || (spec.min_exclusive && v == *spec.min))) {
        out.errors.push_back(error_at(doc, path, spec.min_exclusive ? "spec.not_above" : "spec.below_min",
                                      {{"value", show(value)}, {"min", number_text(*spec.min)}}));
      } else if (spec.max && v > *spec.max) {
        out.errors.push_back(error_at(doc, path, "spec.above_max", {{"value", show(value)}, {"max", number_text(*spec.max)}}));
      }
      return result;
    }
    case ParamType::FloatList:
    case ParamType::StringList: {
      const bool numbers = spec.type == ParamType::FloatList;
      if (!value.is_array()) return wrong_type(numbers ? "list of numbers" : "list of strings");
      Json result = Json::array();
      for (std::size_t i = 0; i < value.size(); ++i) {
        const Json& item = value[i];
        bool ok = numbers ? (item.is_number() && !item.is_boolean()) : item.is_string();
        if (!ok) {
          out.errors.push_back(error_at(doc, index_path(path, i), "spec.wrong_type",
                                        {{"expected", numbers ? "number" : "string"}, {"actual", value_type_name(item)},
                                         {"value", show(item)}}));
          continue;
        }
        result.push_back(numbers ? Json(item.get<double>()) : item);
      }
      return result;
    }
    case ParamType::Object:
      if (!value.is_object()) return wrong_type("mapping");
      return check_params(value, spec.fields, path, doc, out);
  }
  return value;
}

Json check_params(const Json& value, const std::vector<ParamSpec>& params, const std::string& path,
                  const SpecDocument& doc, Diagnostics& out, const MappingRules& rules) {
  Json result = Json::object();
  const Json empty = Json::object();
  const Json* mapping = &value;
  bool reported = false;  // the mapping itself is wrong: its missing children would repeat that one error
  if (value.is_null()) {
    mapping = &empty;
  } else if (!value.is_object()) {
    out.errors.push_back(error_at(doc, path, "spec.expected_mapping", {{"actual", value_type_name(value)}}));
    mapping = &empty;
    reported = true;
  }
  std::vector<std::string> known;
  for (const auto& p : params) known.push_back(p.name);
  for (const auto& k : rules.extra_keys) known.push_back(k);

  for (const auto& [key, item] : mapping->items()) {
    const std::string key_path = child_path(path, key);
    bool is_param = false;
    for (const auto& p : params) is_param = is_param || p.name == key;
    if (is_param || rules.extra_keys.count(key)) continue;
    if (is_reserved_key(key)) {
      Diagnostic w = error_at(doc, key_path, "spec.reserved_key", {{"key", key}}, true);
      w.severity = Severity::Warning;
      w.category = "ValidationWarning";
      out.warnings.push_back(std::move(w));
      continue;
    }
    if (auto owner = rules.foreign_keys.find(key); owner != rules.foreign_keys.end()) {
      out.errors.push_back(error_at(doc, key_path, "spec.key_of_other_block", {{"key", key}, {"owner", owner->second}}, true));
      continue;
    }
    Diagnostic d = error_at(doc, key_path, "spec.unknown_key",
                            {{"key", key}, {"where", path.empty() ? "@msg:word.top_level" : path},
                             {"allowed", fmt::format("{}", fmt::join(known, ", "))}},
                            true);
    if (auto near = nearest_names(key, known); !near.empty())
      d.notes.push_back({"note.did_you_mean", {{"names", fmt::format("{}", fmt::join(near, ", "))}}});
    out.errors.push_back(std::move(d));
  }
  for (const auto& p : params) {
    const std::string key_path = child_path(path, p.name);
    auto it = mapping->find(p.name);
    if (it == mapping->end()) {
      if (p.required) {
        if (!reported)
          out.errors.push_back(error_at(doc, path, "spec.missing_field",
                                        {{"field", p.name}, {"where", path.empty() ? "@msg:word.top_level" : path}}));
        continue;
      }
      if (p.type == ParamType::Object)
        result[p.name] = p.nullable ? Json() : check_params(Json::object(), p.fields, key_path, doc, out);
      else
        result[p.name] = p.default_value;
      continue;
    }
    result[p.name] = check_value(*it, p, key_path, doc, out);
  }
  return result;
}

}  // namespace eulerstack::spec
