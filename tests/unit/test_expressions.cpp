// `let:` variables and `${...}` expressions (spec/expressions.hpp).

#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "eulerstack/messages.hpp"
#include "eulerstack/spec/document.hpp"
#include "eulerstack/spec/expressions.hpp"
#include "support.hpp"

using eulerstack::Diagnostic;
using eulerstack::Error;
using eulerstack::Json;
using eulerstack::spec::evaluate_expression;
using eulerstack::spec::parse_spec;
using eulerstack::spec::resolve_expressions;

namespace {

const Json kScope = {{"d", 1024}, {"n_heads", 16}, {"d_head", 64}, {"half", 0.5}, {"zero", 0}, {"neg", -7}};

Json eval(const std::string& expression, const Json& scope = kScope) { return evaluate_expression(expression, scope); }

bool is_int(const Json& value, long long expected) {
  return value.is_number_integer() && value.get<long long>() == expected;
}
bool is_float(const Json& value, double expected) {
  return value.is_number_float() && value.get<double>() == expected;
}

// The one diagnostic evaluate_expression throws.
Diagnostic eval_error(const std::string& expression, const Json& scope = kScope) {
  try {
    Json value = evaluate_expression(expression, scope);
    FAIL("no error for '", expression, "', got ", value.dump());
  } catch (const Error& e) {
    REQUIRE(e.diagnostics().size() == 1);
    return e.first();
  }
  return {};
}

std::string en(const Diagnostic& d) { return eulerstack::render(d, "en"); }

struct Resolved {
  eulerstack::spec::SpecDocument doc;
  Json let;
  std::vector<Diagnostic> errors;
};

Resolved resolve(const std::string& yaml) {
  Resolved r{parse_spec(yaml, "spec.yml"), {}, {}};
  r.let = resolve_expressions(r.doc, r.errors);
  return r;
}

}  // namespace

TEST_CASE("literals: integers, floats, underscores, hex, octal and binary") {
  CHECK(is_int(eval("42"), 42));
  CHECK(is_int(eval("  42  "), 42));
  CHECK(is_int(eval("1_000_000"), 1000000));
  CHECK(is_int(eval("0"), 0));
  CHECK(is_int(eval("000"), 0));
  CHECK(is_int(eval("0x40"), 64));
  CHECK(is_int(eval("0o17"), 15));
  CHECK(is_int(eval("0b101"), 5));
  CHECK(is_int(eval("9223372036854775807"), 9223372036854775807LL));
  CHECK(is_float(eval("3.5"), 3.5));
  CHECK(is_float(eval(".5"), 0.5));
  CHECK(is_float(eval("2."), 2.0));
  CHECK(is_float(eval("1e-3"), 1e-3));
  CHECK(is_float(eval("1E3"), 1000.0));  // a float, as in Python
  CHECK(is_float(eval("1_0.2_5"), 10.25));
  CHECK(is_float(eval("1e-400"), 0.0));  // underflow is zero
}

TEST_CASE("every operator, on integers") {
  CHECK(is_int(eval("7 + 2"), 9));
  CHECK(is_int(eval("7 - 2"), 5));
  CHECK(is_int(eval("7 * 2"), 14));
  CHECK(is_int(eval("8 / 2"), 4));
  CHECK(is_int(eval("7 // 2"), 3));
  CHECK(is_int(eval("7 % 2"), 1));
  CHECK(is_int(eval("-7"), -7));
  CHECK(is_int(eval("+7"), 7));
}

TEST_CASE("integer results whenever exact, floats otherwise") {
  CHECK(is_int(eval("let.d / 8"), 128));
  CHECK(is_int(eval("-1024 / 8"), -128));
  CHECK(is_float(eval("7 / 2"), 3.5));
  CHECK(is_float(eval("-7 / 2"), -3.5));
  CHECK(is_float(eval("1 / 3"), 1.0 / 3.0));
  // A float operand makes a float, as in Python.
  CHECK(is_float(eval("2.0 * 3"), 6.0));
  CHECK(is_float(eval("let.half * 4"), 2.0));
  CHECK(is_float(eval("1 + 0.5"), 1.5));
  CHECK(is_float(eval("7.0 // 2"), 3.0));
  CHECK(is_float(eval("7.5 % 2"), 1.5));
}

TEST_CASE("precedence, associativity, parentheses and unary signs") {
  CHECK(is_int(eval("2 + 3 * 4"), 14));
  CHECK(is_int(eval("(2 + 3) * 4"), 20));
  CHECK(is_int(eval("10 - 4 - 3"), 3));        // left to right
  CHECK(is_int(eval("100 // 10 // 3"), 3));    // (100 // 10) // 3
  CHECK(is_int(eval("2 * 9 % 4"), 2));         // (2 * 9) % 4
  CHECK(is_int(eval("20 % 7 * 2"), 12));       // (20 % 7) * 2
  CHECK(is_int(eval("64 / 8 / 2"), 4));
  CHECK(is_int(eval("1 + 2 * 3 - 4 // 2 + 5 % 3"), 7));
  CHECK(is_int(eval("((((1 + 2))))"), 3));
  CHECK(is_int(eval("-2 * -3"), 6));
  CHECK(is_int(eval("- -2"), 2));
  CHECK(is_int(eval("--2"), 2));
  CHECK(is_int(eval("-+-+2"), 2));
  CHECK(is_int(eval("-(2 + 3)"), -5));
  CHECK(is_int(eval("2 - -3"), 5));
  CHECK(is_int(eval("-7 // 2"), -4));           // unary binds tighter: (-7) // 2
  CHECK(is_int(eval("-let.neg"), 7));
  CHECK(is_int(eval("let.n_heads*let.d_head"), 1024));  // no spaces needed
  CHECK(is_int(eval("let . d_head"), 64));              // spaces around the dot, as Python
}

TEST_CASE("// and % follow Python's floor semantics") {
  CHECK(is_int(eval("7 // 2"), 3));
  CHECK(is_int(eval("-7 // 2"), -4));
  CHECK(is_int(eval("7 // -2"), -4));
  CHECK(is_int(eval("-7 // -2"), 3));
  CHECK(is_int(eval("-8 // 2"), -4));
  CHECK(is_int(eval("7 % 3"), 1));
  CHECK(is_int(eval("-7 % 3"), 2));
  CHECK(is_int(eval("7 % -3"), -2));
  CHECK(is_int(eval("-7 % -3"), -1));
  CHECK(is_int(eval("-6 % 3"), 0));
  CHECK(is_int(eval("(-9223372036854775807 - 1) % -1"), 0));
  CHECK(is_int(eval("(-9223372036854775807 - 1) // 1"), -9223372036854775807LL - 1));

  CHECK(is_float(eval("-7.0 // 2"), -4.0));
  CHECK(is_float(eval("7.0 // -2"), -4.0));
  CHECK(is_float(eval("-7.5 % 2"), 0.5));
  CHECK(is_float(eval("7.5 % -2"), -0.5));
  CHECK(is_float(eval("-7.5 % -2"), -1.5));
  CHECK(is_float(eval("-0.5 // 1"), -1.0));
  CHECK(is_float(eval("6.0 % 3"), 0.0));
}

TEST_CASE("let references") {
  CHECK(is_int(eval("let.n_heads * let.d_head"), 1024));
  CHECK(is_float(eval("let.half"), 0.5));
  CHECK(is_int(eval("let.zero"), 0));
  // Numbers of every JSON flavour; booleans are not numbers.
  CHECK(is_int(eval("let.u", Json{{"u", 5u}}), 5));
  CHECK(eval_error("let.flag", Json{{"flag", true}}).id == "expr.not_numeric");
}

TEST_CASE("integer overflow is an error, never a wrap-around") {
  for (const char* e : {"9223372036854775807 + 1", "-9223372036854775807 - 2", "4611686018427387904 * 2",
                        "-(-9223372036854775807 - 1)", "(-9223372036854775807 - 1) // -1",
                        "(-9223372036854775807 - 1) / -1", "3037000500 * 3037000500"}) {
    CAPTURE(e);
    Diagnostic d = eval_error(e);
    CHECK(d.id == "expr.integer_overflow");
    CHECK(d.category == "ValidationError");
  }
  // The message shows the failing step with its values.
  Diagnostic d = eval_error("let.d * 9007199254740993 * 1024");
  CHECK(test::contains(en(d), "integer overflow in 'let.d * 9007199254740993 * 1024': "
                              "1024 * 9007199254740993 does not fit in a 64-bit integer\n"));
  // Floats overflow to an error too (never inf).
  CHECK(eval_error("1e308 * 10").id == "expr.float_overflow");
  CHECK(eval_error("1e400").id == "expr.number_out_of_range");
  CHECK(eval_error("9223372036854775808").id == "expr.number_out_of_range");
  CHECK(eval_error("0x1_0000_0000_0000_0000").id == "expr.number_out_of_range");
}

TEST_CASE("division and modulo by zero are errors") {
  for (const char* e : {"1 / 0", "1 // 0", "1 % 0", "1.5 / 0", "1 / 0.0", "1 // -0.0", "2.5 % 0", "let.d / let.zero",
                        "1 / (2 - 2)"}) {
    CAPTURE(e);
    CHECK(eval_error(e).id == "expr.division_by_zero");
  }
  CHECK(test::contains(en(eval_error("let.d % let.zero")), "division by zero in 'let.d % let.zero': 1024 % 0"));
}

TEST_CASE("an unknown name is an error with suggestions") {
  Diagnostic d = eval_error("let.n_head * let.d_head");
  CHECK(d.id == "expr.unknown_name");
  CHECK(d.args.at("name") == "n_head");
  REQUIRE(d.notes.size() == 1);
  CHECK(d.notes[0].id == "note.did_you_mean");
  CHECK(d.notes[0].args.at("names") == "let.n_heads, let.d_head");  // both one edit away
  CHECK(en(d) == "ValidationError: let.n_head is not defined (used in 'let.n_head * let.d_head')\n"
                 "  did you mean: let.n_heads, let.d_head\n"
                 "Fix: Define n_head in the top-level let: block, or correct the name.\n"
                 "See: docs/SPEC.md#expressions\n");
  // Nothing close: no note. No scope at all: still an unknown name.
  CHECK(eval_error("let.vocabulary").notes.empty());
  CHECK(eval_error("let.x", Json::object()).id == "expr.unknown_name");
  CHECK(eval_error("let.x", Json()).id == "expr.unknown_name");
}

TEST_CASE("a name without let. is not a reference") {
  Diagnostic d = eval_error("n_heads * 2");
  CHECK(d.id == "expr.bad_reference");
  CHECK(d.args.at("found") == "n_heads");
  CHECK(d.args.at("position") == "1");
  REQUIRE(d.notes.size() == 1);
  CHECK(d.notes[0].args.at("names").rfind("let.n_heads, ", 0) == 0);  // the exact name first
  CHECK(eval_error("let").id == "expr.bad_reference");
  CHECK(eval_error("let.").id == "expr.bad_reference");
  CHECK(eval_error("let.1x").args.at("found") == "let.1x");
  CHECK(eval_error("model.d_model").id == "expr.bad_reference");
  CHECK(eval_error("foo(1)").id == "expr.bad_reference");
  CHECK(eval_error("True").id == "expr.bad_reference");
}

TEST_CASE("non-numeric let values are errors where they are used") {
  const Json scope = {{"s", "abc"}, {"b", false}, {"l", {1, 2}}, {"m", {{"x", 1}}}, {"z", nullptr}};
  for (const auto& [name, type] : std::vector<std::pair<std::string, std::string>>{
           {"s", "string"}, {"b", "bool"}, {"l", "list"}, {"m", "mapping"}, {"z", "null"}}) {
    CAPTURE(name);
    Diagnostic d = eval_error("1 + let." + name, scope);
    CHECK(d.id == "expr.not_numeric");
    CHECK(d.args.at("type") == type);
  }
  CHECK(test::contains(en(eval_error("let.s", scope)), "let.s has type string, not a number"));
}

TEST_CASE("syntax errors say at which character") {
  struct Case {
    const char* expression;
    const char* id;
    const char* position;
    const char* found;
  };
  const Case cases[] = {
      {"1 +", "expr.unexpected_end", "4", ""},
      {"1 + * 2", "expr.expected_operand", "5", "*"},
      {"* 2", "expr.expected_operand", "1", "*"},
      {"()", "expr.expected_operand", "2", ")"},
      {"2 3", "expr.expected_operator", "3", "3"},
      {"let.d let.d", "expr.expected_operator", "7", "let.d"},
      {"2 (3)", "expr.expected_operator", "3", "("},
      {"(1 + 2", "expr.unclosed_paren", "1", "("},
      {"1 + (2 * (3)", "expr.unclosed_paren", "5", "("},
      {"(1 2)", "expr.expected_operator", "4", "2"},
      {"1 + 2)", "expr.unmatched_paren", "6", ")"},
      {"2 ** 3", "expr.unsupported_operator", "3", "**"},
      {"2 ^ 3", "expr.unsupported_operator", "3", "^"},
      {"1 < 2", "expr.unsupported_operator", "3", "<"},
      {"1 == 2", "expr.unsupported_operator", "3", "=="},
      {"1, 2", "expr.unexpected_character", "2", ","},
      {"'a'", "expr.unexpected_character", "1", "'"},
      {"1 # comment", "expr.unexpected_character", "3", "#"},
      {"2 × 3", "expr.unexpected_character", "3", "×"},       // a whole UTF-8 character
      {"× 3 + ×", "expr.unexpected_character", "1", "×"},
      {"1 + 2 $", "expr.unexpected_character", "7", "$"},
      {"let.d.x", "expr.unexpected_character", "6", "."},
      {"1e", "expr.bad_number", "1", "1e"},
      {"1.2.3", "expr.bad_number", "1", "1.2.3"},
      {"1__0", "expr.bad_number", "1", "1__0"},
      {"1_", "expr.bad_number", "1", "1_"},
      {"007", "expr.bad_number", "1", "007"},
      {"0x", "expr.bad_number", "1", "0x"},
      {"0b102", "expr.bad_number", "1", "0b102"},
      {"2j", "expr.bad_number", "1", "2j"},
      {"3abc + 1", "expr.bad_number", "1", "3abc"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.expression);
    Diagnostic d = eval_error(c.expression);
    CHECK(d.id == c.id);
    CHECK(d.category == "ValidationError");
    CHECK(d.args["position"] == c.position);
    CHECK(d.args["found"] == c.found);
    CHECK(d.args["expr"] == c.expression);
    CHECK(d.where.line == 0);  // evaluate_expression has no location
  }
  CHECK(eval_error("").id == "expr.empty");
  CHECK(eval_error("   ").id == "expr.empty");
  CHECK(en(eval_error("2 ** 3")).rfind("ValidationError: operator '**' at character 3 of '2 ** 3' is not supported\n", 0) == 0);
}

TEST_CASE("a syntax error wins over an unknown name; evaluation stops at the first error") {
  CHECK(eval_error("let.nope +").id == "expr.unexpected_end");
  CHECK(eval_error("1 / 0 + let.nope").id == "expr.division_by_zero");
}

TEST_CASE("deep nesting is bounded; long flat expressions are fine") {
  CHECK(eval_error(std::string(101, '(') + "1" + std::string(101, ')')).id == "expr.too_deep");
  CHECK(is_int(eval(std::string(100, '(') + "1" + std::string(100, ')')), 1));
  std::string sum = "1";
  for (int k = 0; k < 200000; ++k) sum += "+1";
  CHECK(is_int(eval(sum), 200001));
  CHECK(is_int(eval(std::string(200001, '-') + "1"), -1));
}

// ---- documents

TEST_CASE("resolve_expressions: replaces whole ${...} scalars and removes let") {
  auto r = resolve(R"(schema_version: 1
let:
  n_heads: 16
  d_head: 64
  ratio: ${7 / 2}
model:
  d_model: ${let.n_heads * let.d_head}
  n_heads: "${let.n_heads}"
  spaced: "  ${ let.d_head // 2 }  "
  name: my-model
  text: "d = ${let.d_head}"
  partial: ${let.d_head
  literal: "$let.d_head"
  number: 3
  flag: true
  nothing:
layer_schedule:
  - repeat: ${let.n_heads // 4}
  - repeat: 2
  - - ${let.d_head}
    - "${let.d_head / 2}"
    - plain
    - 5
  - ["${let.n_heads}", "$ {let.n_heads}"]
)");
  CHECK(r.errors.empty());
  CHECK_FALSE(r.doc.root.contains("let"));
  CHECK(r.doc.root["schema_version"] == 1);
  const Json& model = r.doc.root["model"];
  CHECK(is_int(model["d_model"], 1024));
  CHECK(is_int(model["n_heads"], 16));
  CHECK(is_int(model["spaced"], 32));
  CHECK(model["name"] == "my-model");
  CHECK(model["text"] == "d = ${let.d_head}");  // not interpolated
  CHECK(model["partial"] == "${let.d_head");
  CHECK(model["literal"] == "$let.d_head");
  CHECK(model["number"] == 3);
  CHECK(model["flag"] == true);
  CHECK(model["nothing"].is_null());
  CHECK(is_int(r.doc.root["layer_schedule"][0]["repeat"], 4));
  CHECK(r.doc.root["layer_schedule"][1]["repeat"] == 2);
  CHECK(r.doc.root["layer_schedule"][2] == Json::parse(R"([64, 32, "plain", 5])"));
  CHECK(r.doc.root["layer_schedule"][3] == Json::parse(R"([16, "$ {let.n_heads}"])"));
  CHECK(r.let == Json::parse(R"({"n_heads": 16, "d_head": 64, "ratio": 3.5})"));
  CHECK(r.let.is_object());
}

TEST_CASE("resolve_expressions: without let, plain documents are untouched") {
  auto r = resolve("model:\n  d_model: 512\n  name: ${not an expression\n");
  CHECK(r.errors.empty());
  CHECK(r.let == Json::object());
  CHECK(r.doc.root == Json::parse(R"({"model": {"d_model": 512, "name": "${not an expression"}})"));
}

TEST_CASE("resolve_expressions: let entries may use each other, in any order") {
  auto r = resolve(R"(let:
  d_model: ${let.n_heads * let.d_head}
  d_ff: ${let.d_model * 4}
  n_heads: 16
  d_head: ${let.base / 2}
  base: 128
  chain: ${let.d_ff // let.d_model + let.n_heads}
model:
  d_model: ${let.d_model}
  d_ff: ${let.d_ff}
)");
  CHECK(r.errors.empty());
  CHECK(r.let == Json::parse(
                     R"({"d_model": 1024, "d_ff": 4096, "n_heads": 16, "d_head": 64, "base": 128, "chain": 20})"));
  CHECK(r.doc.root["model"] == Json::parse(R"({"d_model": 1024, "d_ff": 4096})"));
}

TEST_CASE("resolve_expressions: a long chain of let entries does not exhaust the stack") {
  std::string yaml = "let:\n";
  const int n = 20000;
  for (int k = n; k > 0; --k) yaml += "  v" + std::to_string(k) + ": ${let.v" + std::to_string(k - 1) + " + 1}\n";
  yaml += "  v0: 0\nmodel:\n  x: ${let.v" + std::to_string(n) + "}\n";
  auto r = resolve(yaml);
  CHECK(r.errors.empty());
  CHECK(is_int(r.doc.root["model"]["x"], n));
}

TEST_CASE("resolve_expressions: a cycle is one error naming the chain") {
  auto r = resolve(R"(let:
  a: ${let.b + 1}
  b: ${let.c * 2}
  c: ${let.a}
  d: ${let.a + 1}
  e: 5
model:
  x: ${let.d}
  y: ${let.e}
)");
  REQUIRE(r.errors.size() == 1);
  const Diagnostic& d = r.errors[0];
  CHECK(d.id == "expr.cycle");
  CHECK(d.args.at("chain") == "let.a -> let.b -> let.c -> let.a");
  CHECK(d.where.file == "spec.yml");
  CHECK(d.where.line == 2);
  CHECK(d.where.column == 6);
  CHECK(test::contains(en(d), "spec.yml:2:6: ValidationError: let entries depend on each other in a cycle: "
                              "let.a -> let.b -> let.c -> let.a\n"));
  // Values that depend on the cycle are left as they were; the rest resolves.
  CHECK(r.doc.root["model"]["x"] == "${let.d}");
  CHECK(is_int(r.doc.root["model"]["y"], 5));
  CHECK(r.let["a"] == "${let.b + 1}");
  CHECK(r.let["e"] == 5);
}

TEST_CASE("resolve_expressions: self reference and two separate cycles") {
  auto r = resolve(R"(let:
  a: ${let.a + 1}
  x: 1
  p: ${let.q}
  q: ${let.p}
)");
  REQUIRE(r.errors.size() == 2);
  CHECK(r.errors[0].args.at("chain") == "let.a -> let.a");
  CHECK(r.errors[1].args.at("chain") == "let.p -> let.q -> let.p");
  CHECK(r.errors[1].where.line == 4);
}

TEST_CASE("resolve_expressions: one report per root cause; errors carry the scalar's line and column") {
  auto r = resolve(R"(schema_version: 1
let:
  n_heads: 16
  bad: ${1 / 0}
  uses_bad: ${let.bad * 2}
  name: gpt
model:
  d_model: ${let.n_head * 64}
  n_heads: ${let.bad}
  vocab: ${let.name}
  x: [1, 2]
layer_schedule:
  - 1
  - repeat:   ${(let.n_heads}
  -   "${2 ** 3}"
)");
  REQUIRE(r.errors.size() == 5);
  CHECK(r.errors[0].id == "expr.division_by_zero");
  CHECK(r.errors[0].where.line == 4);
  CHECK(r.errors[0].where.column == 8);
  CHECK(r.errors[1].id == "expr.unknown_name");
  CHECK(r.errors[1].where.line == 8);
  CHECK(r.errors[1].where.column == 12);
  REQUIRE(r.errors[1].notes.size() == 1);
  CHECK(r.errors[1].notes[0].args.at("names") == "let.n_heads");
  CHECK(r.errors[2].id == "expr.not_numeric");
  CHECK(r.errors[2].args.at("type") == "string");
  CHECK(r.errors[2].where.line == 10);
  CHECK(r.errors[3].id == "expr.unclosed_paren");
  CHECK(r.errors[3].where.line == 14);
  CHECK(r.errors[3].where.column == 15);
  CHECK(r.errors[3].args.at("position") == "3");  // counted in the whole ${...}
  CHECK(r.errors[3].args.at("expr") == "${(let.n_heads}");
  CHECK(r.errors[4].id == "expr.unsupported_operator");
  CHECK(r.errors[4].where.line == 15);
  CHECK(r.errors[4].where.column == 7);
  CHECK(r.errors[4].args.at("position") == "5");
  for (const auto& d : r.errors) {
    CHECK(d.category == "ValidationError");
    CHECK(d.where.file == "spec.yml");
  }
  CHECK(en(r.errors[3]).rfind("spec.yml:14:15: ValidationError: the '(' at character 3 of '${(let.n_heads}' is never closed\n", 0) == 0);
  // The offending values stay as they were; the rest is resolved.
  CHECK(r.doc.root["model"]["d_model"] == "${let.n_head * 64}");
  CHECK(r.doc.root["model"]["n_heads"] == "${let.bad}");
  CHECK(r.let["bad"] == "${1 / 0}");
  CHECK(r.let["uses_bad"] == "${let.bad * 2}");
  CHECK(r.let["n_heads"] == 16);
  CHECK(r.let["name"] == "gpt");
  CHECK_FALSE(r.doc.root.contains("let"));
}

TEST_CASE("resolve_expressions: syntax errors and non-numeric values inside let") {
  auto r = resolve(R"(let:
  a: ${}
  b: ${let.a + 1}
  flag: yes
  c: ${let.flag * 2}
  list: [1, 2]
  d: ${let.list}
  m: {x: 1}
  e: ${let.m}
)");
  REQUIRE(r.errors.size() == 4);
  CHECK(r.errors[0].id == "expr.empty");
  CHECK(r.errors[0].where.line == 2);
  CHECK(r.errors[1].id == "expr.not_numeric");
  CHECK(r.errors[1].args.at("type") == "bool");
  CHECK(r.errors[1].where.line == 5);
  CHECK(r.errors[2].args.at("type") == "list");
  CHECK(r.errors[3].args.at("type") == "mapping");
}

TEST_CASE("resolve_expressions: ${...} inside let lists and mappings is resolved too") {
  auto r = resolve(R"(let:
  n: 4
  sizes:
    - ${let.n * 2}
    - 3
  nested: {a: "${let.n + 1}"}
model:
  x: ${let.n}
)");
  CHECK(r.errors.empty());
  CHECK(r.let == Json::parse(R"({"n": 4, "sizes": [8, 3], "nested": {"a": 5}})"));
}

TEST_CASE("resolve_expressions: let must be a mapping") {
  for (const char* let : {"let: 5", "let: [1, 2]", "let: hello", "let:"}) {
    CAPTURE(let);
    auto r = resolve(std::string(let) + "\nmodel:\n  d_model: ${let.d}\n");
    REQUIRE(r.errors.size() == 1);  // no extra "unknown name" for the uses
    CHECK(r.errors[0].id == "expr.let_not_mapping");
    CHECK(r.errors[0].where.line == 1);  // the key: an empty value has no place of its own
    CHECK(r.errors[0].where.column == 1);
    CHECK_FALSE(r.doc.root.contains("let"));
    CHECK(r.doc.root["model"]["d_model"] == "${let.d}");
  }
  auto r = resolve("let: [1]\n");
  CHECK(r.errors[0].args.at("type") == "list");
  CHECK(test::contains(en(r.errors[0]), "Fix: Write let: as a mapping, e.g. let: {n_heads: 16, d_head: 64}.\n"));
}

TEST_CASE("resolve_expressions: an unknown name in let itself, with a suggestion") {
  auto r = resolve("let:\n  d_head: 64\n  d_model: ${let.d_haed * 16}\nmodel:\n  d_model: ${let.d_model}\n");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].id == "expr.unknown_name");
  CHECK(r.errors[0].where.line == 3);
  REQUIRE(r.errors[0].notes.size() == 1);
  CHECK(r.errors[0].notes[0].args.at("names") == "let.d_head");
  CHECK(r.doc.root["model"]["d_model"] == "${let.d_model}");
}

TEST_CASE("expr messages render in every language with the same placeholders") {
  Diagnostic d = eval_error("let.d / let.zero");
  for (const auto& lang : eulerstack::supported_languages()) {
    CAPTURE(lang);
    const std::string text = eulerstack::render(d, lang);
    CHECK(test::contains(text, "'let.d / let.zero'"));
    CHECK(test::contains(text, "1024 / 0"));
    CHECK_FALSE(test::contains(text, "{"));
    CHECK(test::contains(text, "docs/SPEC.md#expressions"));
    if (lang != "en") CHECK(text != eulerstack::render(d, "en"));
  }
  for (const auto& id : eulerstack::message_ids("en")) {
    if (id.rfind("expr.", 0) != 0) continue;
    CAPTURE(id);
    CHECK(eulerstack::message_has("en", id, "see"));
    for (const auto& lang : eulerstack::supported_languages()) {
      CHECK(eulerstack::message_has(lang, id, "msg"));
      CHECK(eulerstack::message_has(lang, id, "fix"));
    }
  }
}
