#pragma once
// The parameter schema a plugin declares for each of its blocks. It drives
// validation, defaults, `explain`, `eulerstack schema` and `plugins info`:
// core never knows what a parameter means, only what this table says.

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace eulerstack {

using Json = nlohmann::ordered_json;

enum class ParamType { Bool, Int, Float, String, Enum, Object, FloatList, StringList };

const char* to_string(ParamType type);

struct ParamSpec {
  std::string name;
  ParamType type = ParamType::Int;
  std::string doc;                     // one line, shown by `plugins info`
  Json default_value;                  // null with required=false: no default
  bool required = false;
  bool nullable = false;               // `null` is a meaningful value (e.g. window: null)
  std::optional<double> min;           // inclusive unless min_exclusive
  std::optional<double> max;           // inclusive
  bool min_exclusive = false;
  std::vector<std::string> choices;    // Enum
  std::vector<ParamSpec> fields;       // Object: the nested parameters
  std::string refers_to;               // String naming a block of this kind: core checks it exists
  bool per_layer = false;              // may be changed by a schedule group's `override` (never changes the parameter count)
  bool in_label = false;               // part of the block's one-line label in explain's pictures

  // Fluent helpers so plugin tables read like documentation.
  ParamSpec& describe(std::string text);
  ParamSpec& range(double lo, double hi);
  ParamSpec& at_least(double lo);
  ParamSpec& above(double lo);          // exclusive lower bound
  ParamSpec& at_most(double hi);
  ParamSpec& or_null();
  ParamSpec& mandatory();
  ParamSpec& names_block(std::string kind);
  ParamSpec& overridable();
  ParamSpec& labels_block();
};

namespace param {
ParamSpec boolean(std::string name, bool default_value);
ParamSpec integer(std::string name, std::optional<long long> default_value);
ParamSpec number(std::string name, std::optional<double> default_value);
ParamSpec text(std::string name, std::optional<std::string> default_value);
ParamSpec choice(std::string name, std::vector<std::string> choices,
                 std::optional<std::string> default_value);
ParamSpec object(std::string name, std::vector<ParamSpec> fields);
ParamSpec number_list(std::string name, std::vector<double> default_value);
ParamSpec text_list(std::string name, std::vector<std::string> default_value);
}  // namespace param

// Why a schema itself is malformed (a plugin bug), or empty when it is sound.
std::string schema_defect(const std::vector<ParamSpec>& params);

// The defaults of every parameter that has one, as a JSON object.
Json defaults_of(const std::vector<ParamSpec>& params);

// The schema as JSON, for `--json` output and docs.
Json to_json(const ParamSpec& spec);
Json to_json(const std::vector<ParamSpec>& params);

// "int, default 128, range [1, 1024]"
std::string describe_constraints(const ParamSpec& spec);

}  // namespace eulerstack
