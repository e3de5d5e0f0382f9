// The parameter schema helpers: constraints text, defaults, defects, JSON.

#include <doctest/doctest.h>

#include "eulerstack/param_schema.hpp"

namespace param = eulerstack::param;
using eulerstack::describe_constraints;
using eulerstack::Json;
using eulerstack::ParamSpec;
using eulerstack::schema_defect;

TEST_CASE("describe_constraints: type, default and range") {
  CHECK(describe_constraints(param::integer("n", 128).range(1, 1024)) == "int, default 128, range [1, 1024]");
  CHECK(describe_constraints(param::number("p", 0.0).range(0.0, 1.0)) == "float, default 0.0, range [0, 1]");
  CHECK(describe_constraints(param::number("s", 1.0).range(0.5, 2.5)) == "float, default 1.0, range [0.5, 2.5]");
  CHECK(describe_constraints(param::boolean("bias", true)) == "bool, default true");
  CHECK(describe_constraints(param::text("act", std::string("silu"))) == "string, default \"silu\"");
}

TEST_CASE("describe_constraints: half-open and exclusive ranges, null, required") {
  CHECK(describe_constraints(param::integer("window", std::nullopt).at_least(1).or_null()) ==
        "int or null, default null, range [1, inf)");
  CHECK(describe_constraints(param::integer("latent", std::nullopt).above(0).or_null()) ==
        "int or null, default null, range (0, inf)");
  CHECK(describe_constraints(param::number("p", 0.5).at_most(1)) == "float, default 0.5, range (-inf, 1]");
  CHECK(describe_constraints(param::integer("n", std::nullopt).mandatory()) == "int, required");
}

TEST_CASE("describe_constraints: enum choices and objects") {
  CHECK(describe_constraints(param::choice("mode", {"standard", "sliding"}, std::string("standard"))) ==
        "enum {standard|sliding}, default \"standard\"");
  CHECK(describe_constraints(param::object("cfg", {param::integer("x", 1).describe("x")})) == "object");
}

TEST_CASE("defaults_of fills defaults, nests objects and leaves out required parameters") {
  const std::vector<ParamSpec> params{
      param::integer("width", 2).describe("w"),
      param::integer("window", std::nullopt).or_null().describe("w"),
      param::integer("experts", std::nullopt).mandatory().describe("e"),
      param::object("router", {param::number("jitter", 0.0).describe("j"), param::boolean("norm", true).describe("n")}),
      param::object("aux", {param::integer("k", 1).describe("k")}).or_null().describe("a"),
  };
  const Json expected = Json::parse(R"({"width": 2, "window": null, "router": {"jitter": 0.0, "norm": true}, "aux": null})");
  CHECK(eulerstack::defaults_of(params) == expected);
  CHECK(eulerstack::defaults_of(params).dump() == expected.dump());  // declaration order kept
  CHECK(eulerstack::defaults_of({}) == Json::object());
}

TEST_CASE("schema_defect accepts a complete table") {
  const std::vector<ParamSpec> params{
      param::integer("n", 4).range(1, 8).describe("n"),
      param::integer("latent", std::nullopt).above(0).or_null().describe("l"),
      param::integer("required", std::nullopt).mandatory().describe("r"),
      param::choice("mode", {"a", "b"}, std::string("b")).describe("m"),
      param::number_list("scales", {1.0, 2.0}).describe("s"),
      param::object("cfg", {param::boolean("on", false).describe("o")}).describe("c"),
  };
  CHECK(schema_defect(params) == "");
  CHECK(schema_defect({}) == "");
}

TEST_CASE("schema_defect names what is wrong") {
  auto wrong = [](ParamSpec spec) { return schema_defect({std::move(spec)}); };

  CHECK(wrong(param::integer("", 1).describe("d")) == "a parameter has no name");
  CHECK(schema_defect({param::integer("n", 1).describe("a"), param::integer("n", 2).describe("b")}) ==
        "parameter 'n' is declared twice");
  CHECK(wrong(param::integer("n", 1)) == "parameter 'n' has no description");
  CHECK(wrong(param::choice("mode", {}, std::nullopt).or_null().describe("m")) ==
        "enum parameter 'mode' lists no choices");
  CHECK(wrong(param::integer("n", 1).range(5, 2).describe("d")) == "parameter 'n' has an empty range");
  CHECK(wrong(param::object("cfg", {}).describe("c")) == "object parameter 'cfg' has no fields");
  CHECK(wrong(param::object("cfg", {param::integer("inner", 1)}).describe("c")) ==
        "cfg.parameter 'inner' has no description");
  CHECK(wrong(param::integer("n", std::nullopt).describe("d")) ==
        "optional parameter 'n' has neither a default nor null");
}

TEST_CASE("schema_defect checks the default against the type and the range") {
  auto wrong = [](ParamSpec spec) { return schema_defect({std::move(spec)}); };

  auto int_with_float = param::integer("n", 1).describe("d");
  int_with_float.default_value = 1.5;
  CHECK(wrong(int_with_float) == "parameter 'n': default has the wrong type");

  auto bool_with_int = param::boolean("b", true).describe("d");
  bool_with_int.default_value = 1;
  CHECK(wrong(bool_with_int) == "parameter 'b': default is not a bool");

  auto text_with_int = param::text("t", std::string("x")).describe("d");
  text_with_int.default_value = 3;
  CHECK(wrong(text_with_int) == "parameter 't': default is not a string");

  auto list_with_number = param::number_list("l", {}).describe("d");
  list_with_number.default_value = 1.0;
  CHECK(wrong(list_with_number) == "parameter 'l': default is not a list");

  auto object_with_default = param::object("o", {param::integer("x", 1).describe("x")}).describe("d");
  object_with_default.default_value = Json::object();
  CHECK(wrong(object_with_default) == "parameter 'o': objects take their defaults from their fields");

  CHECK(wrong(param::integer("n", 0).at_least(1).describe("d")) == "parameter 'n': default is below the minimum");
  CHECK(wrong(param::integer("n", 0).above(0).describe("d")) == "parameter 'n': default is below the minimum");
  CHECK(wrong(param::number("p", 1.5).range(0, 1).describe("d")) == "parameter 'p': default is above the maximum");
  CHECK(wrong(param::choice("m", {"a", "b"}, std::string("c")).describe("d")) ==
        "parameter 'm': default is not one of the choices");

  // Boundaries that are allowed.
  CHECK(wrong(param::integer("n", 1).at_least(1).describe("d")) == "");
  CHECK(wrong(param::number("p", 1.0).range(0, 1).describe("d")) == "");
  CHECK(wrong(param::integer("n", 2).above(1).describe("d")) == "");
}

TEST_CASE("to_json describes every field of a parameter") {
  auto window = param::integer("window", std::nullopt).at_least(1).at_most(4096).or_null().describe("sliding window");
  CHECK(eulerstack::to_json(window) == Json::parse(R"({"name": "window", "type": "int", "doc": "sliding window",
      "required": false, "nullable": true, "default": null, "min": 1.0, "max": 4096.0})"));

  auto latent = param::integer("latent", std::nullopt).above(0).mandatory().describe("latent size");
  const Json j = eulerstack::to_json(latent);
  CHECK(j["exclusive_min"] == 0.0);
  CHECK_FALSE(j.contains("min"));
  CHECK_FALSE(j.contains("default"));  // required: no default
  CHECK(j["required"] == true);

  auto mode = param::choice("mode", {"a", "b"}, std::string("a")).describe("m");
  CHECK(eulerstack::to_json(mode)["choices"] == Json::parse(R"(["a", "b"])"));
  CHECK(eulerstack::to_json(mode)["type"] == "enum");

  auto router = param::text("router", std::string("softmax")).names_block("router").describe("r");
  CHECK(eulerstack::to_json(router)["refers_to"] == "router");

  auto cfg = param::object("cfg", {param::boolean("on", false).describe("o")}).describe("c");
  const Json c = eulerstack::to_json(cfg);
  CHECK(c["type"] == "object");
  CHECK_FALSE(c.contains("default"));
  REQUIRE(c["fields"].size() == 1);
  CHECK(c["fields"][0]["name"] == "on");
  CHECK(c["fields"][0]["default"] == false);

  const Json list = eulerstack::to_json(std::vector<ParamSpec>{window, mode});
  REQUIRE(list.is_array());
  CHECK(list.size() == 2);
  CHECK(list[1]["name"] == "mode");
  CHECK(eulerstack::to_json(std::vector<ParamSpec>{}) == Json::array());
}

TEST_CASE("ParamType names") {
  using eulerstack::ParamType;
  CHECK(std::string(eulerstack::to_string(ParamType::FloatList)) == "list[float]");
  CHECK(std::string(eulerstack::to_string(ParamType::Enum)) == "enum");
  CHECK(std::string(eulerstack::to_string(ParamType::Bool)) == "bool");
}
