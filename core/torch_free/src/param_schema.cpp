#include "eulerstack/param_schema.hpp"

#include <set>
#include <utility>

#include <fmt/format.h>

namespace eulerstack {

const char* to_string(ParamType type) {
  switch (type) {
    case ParamType::Bool: return "bool";
    case ParamType::Int: return "int";
    case ParamType::Float: return "float";
    case ParamType::String: return "string";
    case ParamType::Enum: return "enum";
    case ParamType::Object: return "object";
    case ParamType::FloatList: return "list[float]";
    case ParamType::StringList: return "list[string]";
  }
  return "?";
}

ParamSpec& ParamSpec::describe(std::string text) { doc = std::move(text); return *this; }
ParamSpec& ParamSpec::range(double lo, double hi) { min = lo; max = hi; return *this; }
ParamSpec& ParamSpec::at_least(double lo) { min = lo; min_exclusive = false; return *this; }
ParamSpec& ParamSpec::above(double lo) { min = lo; min_exclusive = true; return *this; }
ParamSpec& ParamSpec::at_most(double hi) { max = hi; return *this; }
ParamSpec& ParamSpec::or_null() { nullable = true; return *this; }
ParamSpec& ParamSpec::mandatory() { required = true; return *this; }
ParamSpec& ParamSpec::names_block(std::string kind) { refers_to = std::move(kind); return *this; }
ParamSpec& ParamSpec::overridable() { per_layer = true; return *this; }
ParamSpec& ParamSpec::labels_block() { in_label = true; return *this; }

namespace param {

namespace {
ParamSpec make(std::string name, ParamType type, Json default_value) {
  ParamSpec spec;
  spec.name = std::move(name);
  spec.type = type;
  spec.default_value = std::move(default_value);
  return spec;
}
}  // namespace

ParamSpec boolean(std::string name, bool default_value) {
  return make(std::move(name), ParamType::Bool, default_value);
}
ParamSpec integer(std::string name, std::optional<long long> default_value) {
  return make(std::move(name), ParamType::Int, default_value ? Json(*default_value) : Json());
}
ParamSpec number(std::string name, std::optional<double> default_value) {
  return make(std::move(name), ParamType::Float, default_value ? Json(*default_value) : Json());
}
ParamSpec text(std::string name, std::optional<std::string> default_value) {
  return make(std::move(name), ParamType::String, default_value ? Json(*default_value) : Json());
}
ParamSpec choice(std::string name, std::vector<std::string> choices, std::optional<std::string> default_value) {
  auto spec = make(std::move(name), ParamType::Enum, default_value ? Json(*default_value) : Json());
  spec.choices = std::move(choices);
  return spec;
}
ParamSpec object(std::string name, std::vector<ParamSpec> fields) {
  auto spec = make(std::move(name), ParamType::Object, Json());
  spec.fields = std::move(fields);
  return spec;
}
ParamSpec number_list(std::string name, std::vector<double> default_value) {
  return make(std::move(name), ParamType::FloatList, Json(default_value));
}
ParamSpec text_list(std::string name, std::vector<std::string> default_value) {
  return make(std::move(name), ParamType::StringList, Json(default_value));
}

}  // namespace param

namespace {

std::string value_defect(const ParamSpec& spec, const Json& v) {
  if (v.is_null()) return {};
  switch (spec.type) {
    case ParamType::Bool:
      if (!v.is_boolean()) return "default is not a bool";
      break;
    case ParamType::Int:
    case ParamType::Float:
      if (!v.is_number() || (spec.type == ParamType::Int && !v.is_number_integer())) return "default has the wrong type";
      if (spec.min && (v.get<double>() < *spec.min || (spec.min_exclusive && v.get<double>() == *spec.min)))
        return "default is below the minimum";
      if (spec.max && v.get<double>() > *spec.max) return "default is above the maximum";
      break;
    case ParamType::String:
      if (!v.is_string()) return "default is not a string";
      break;
    case ParamType::Enum: {
      if (!v.is_string()) return "default is not a string";
      bool listed = false;
      for (const auto& c : spec.choices) listed = listed || c == v.get<std::string>();
      if (!listed) return "default is not one of the choices";
      break;
    }
    case ParamType::Object:
      return "objects take their defaults from their fields";
    case ParamType::FloatList:
    case ParamType::StringList:
      if (!v.is_array()) return "default is not a list";
      break;
  }
  return {};
}

}  // namespace

std::string schema_defect(const std::vector<ParamSpec>& params) {
  std::set<std::string> seen;
  for (const auto& spec : params) {
    if (spec.name.empty()) return "a parameter has no name";
    if (!seen.insert(spec.name).second) return fmt::format("parameter '{}' is declared twice", spec.name);
    if (spec.doc.empty()) return fmt::format("parameter '{}' has no description", spec.name);
    if (spec.type == ParamType::Enum && spec.choices.empty())
      return fmt::format("enum parameter '{}' lists no choices", spec.name);
    if (spec.min && spec.max && *spec.min > *spec.max)
      return fmt::format("parameter '{}' has an empty range", spec.name);
    if (spec.type == ParamType::Object) {
      if (spec.fields.empty()) return fmt::format("object parameter '{}' has no fields", spec.name);
      if (auto inner = schema_defect(spec.fields); !inner.empty()) return spec.name + "." + inner;
    } else if (!spec.required && spec.default_value.is_null() && !spec.nullable) {
      return fmt::format("optional parameter '{}' has neither a default nor null", spec.name);
    }
    if (auto bad = value_defect(spec, spec.default_value); !bad.empty())
      return fmt::format("parameter '{}': {}", spec.name, bad);
  }
  return {};
}

Json defaults_of(const std::vector<ParamSpec>& params) {
  Json out = Json::object();
  for (const auto& spec : params) {
    if (spec.type == ParamType::Object) {
      if (!spec.nullable) out[spec.name] = defaults_of(spec.fields);
      else out[spec.name] = nullptr;
    } else if (!spec.required) {
      out[spec.name] = spec.default_value;
    }
  }
  return out;
}

Json to_json(const ParamSpec& spec) {
  Json j;
  j["name"] = spec.name;
  j["type"] = to_string(spec.type);
  j["doc"] = spec.doc;
  j["required"] = spec.required;
  j["nullable"] = spec.nullable;
  if (spec.type != ParamType::Object && !spec.required) j["default"] = spec.default_value;
  if (spec.min) j[spec.min_exclusive ? "exclusive_min" : "min"] = *spec.min;
  if (spec.max) j["max"] = *spec.max;
  if (!spec.choices.empty()) j["choices"] = spec.choices;
  if (!spec.fields.empty()) j["fields"] = to_json(spec.fields);
  if (!spec.refers_to.empty()) j["refers_to"] = spec.refers_to;
  if (spec.per_layer) j["overridable"] = true;
  return j;
}

Json to_json(const std::vector<ParamSpec>& params) {
  Json out = Json::array();
  for (const auto& spec : params) out.push_back(to_json(spec));
  return out;
}

namespace {
std::string number_text(double v) {
  if (v == static_cast<double>(static_cast<long long>(v))) return fmt::format("{}", static_cast<long long>(v));
  return fmt::format("{}", v);
}
}  // namespace

std::string describe_constraints(const ParamSpec& spec) {
  std::string out = to_string(spec.type);
  if (spec.type == ParamType::Enum) {
    out += " {";
    for (std::size_t i = 0; i < spec.choices.size(); ++i) out += (i ? "|" : "") + spec.choices[i];
    out += "}";
  }
  if (spec.nullable) out += " or null";
  if (spec.required) out += ", required";
  else if (spec.type != ParamType::Object) out += ", default " + spec.default_value.dump();
  if (spec.min || spec.max) {
    out += ", range ";
    out += spec.min ? (spec.min_exclusive ? "(" : "[") + number_text(*spec.min) : "(-inf";
    out += ", ";
    out += spec.max ? number_text(*spec.max) + "]" : "inf)";
  }
  return out;
}

}  // namespace eulerstack
