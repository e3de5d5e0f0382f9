// Reading a spec file into JSON with locations (spec/document.hpp): YAML merge
// keys and core tags as upstream's loader (PyYAML safe_load) reads them.

#include <string>

#include <doctest/doctest.h>

#include "eulerstack/spec/document.hpp"

using eulerstack::Diagnostic;
using eulerstack::Error;
using eulerstack::Json;
using eulerstack::spec::LoadLimits;
using eulerstack::spec::parse_spec;
using eulerstack::spec::SpecDocument;

namespace {

SpecDocument parse(const std::string& yaml, const LoadLimits& limits = {}) { return parse_spec(yaml, "s.yml", limits); }

// The one diagnostic parse_spec throws.
Diagnostic parse_error(const std::string& yaml, const LoadLimits& limits = {}) {
  try {
    SpecDocument doc = parse(yaml, limits);
    FAIL("no error for:\n", yaml, "\ngot ", doc.root.dump());
  } catch (const Error& e) {
    REQUIRE(e.diagnostics().size() == 1);
    return e.first();
  }
  return {};
}

std::string at(const SpecDocument& doc, const std::string& path) {
  const auto where = doc.at(path);
  return std::to_string(where.line) + ":" + std::to_string(where.column);
}

std::string key_at(const SpecDocument& doc, const std::string& path) {
  const auto where = doc.key_at(path);
  return std::to_string(where.line) + ":" + std::to_string(where.column);
}

std::string keys(const Json& mapping) {
  std::string out;
  for (const auto& [key, value] : mapping.items()) out += (out.empty() ? "" : ",") + key;
  return out;
}

}  // namespace

TEST_CASE("a merge key brings in the anchored mapping, with the locations of its text") {
  const SpecDocument doc = parse(
      "base: &base\n"
      "  mixer: attention\n"
      "  ffn: mlp\n"
      "attn:\n"
      "  <<: *base\n"
      "  ffn: gated\n");
  CHECK(doc.root["attn"] == Json{{"mixer", "attention"}, {"ffn", "gated"}});
  CHECK(keys(doc.root["attn"]) == "mixer,ffn");
  CHECK(at(doc, "attn.mixer") == "2:10");      // where `attention` is written, under base
  CHECK(key_at(doc, "attn.mixer") == "2:3");
  CHECK(at(doc, "attn.ffn") == "6:8");         // the mapping's own key wins
}

TEST_CASE("the mapping's own keys win over merged ones wherever the merge key stands") {
  const SpecDocument doc = parse("a: &a {x: 1, y: 2}\nb: {x: 10, <<: *a}\n");
  CHECK(doc.root["b"] == Json{{"x", 10}, {"y", 2}});
  CHECK(keys(doc.root["b"]) == "x,y");
  CHECK(at(doc, "b.x") == "2:8");
  CHECK(key_at(doc, "b.x") == "2:5");
  CHECK(at(doc, "b.y") == "1:17");
}

TEST_CASE("a list of merged mappings: the earlier one wins, keys first seen in the later ones come first") {
  const SpecDocument doc = parse("a: &a {x: 1}\nb: &b {x: 2, y: 3}\nc: {<<: [*a, *b], z: 4}\n");
  CHECK(doc.root["c"] == Json{{"x", 1}, {"y", 3}, {"z", 4}});
  CHECK(keys(doc.root["c"]) == "x,y,z");
  CHECK(at(doc, "c.x") == "1:11");
  CHECK(at(doc, "c.y") == "2:17");
}

TEST_CASE("merges nest: a merged mapping's own merge keys are resolved too") {
  const SpecDocument doc = parse("a: &a {x: 1}\nb: &b {<<: *a, y: 2}\nc: {<<: *b}\n");
  CHECK(doc.root["c"] == Json{{"x", 1}, {"y", 2}});
}

TEST_CASE("a quoted '<<' is an ordinary key") {
  const SpecDocument doc = parse("a: {\"<<\": 1}\n");
  CHECK(doc.root["a"] == Json{{"<<", 1}});
}

TEST_CASE("a merge key needs a mapping or a list of mappings") {
  Diagnostic d = parse_error("a: &a 5\nb: {<<: *a}\n");
  CHECK(d.id == "spec.bad_merge");
  CHECK(d.where.line == 1);
  d = parse_error("a: 1\nb:\n  <<:\n\nc: 2\n");
  CHECK(d.id == "spec.bad_merge");
  CHECK((d.where.line == 3 && d.where.column == 3));  // an empty value: at its key
  d = parse_error("a: &a {x: 1}\nb: {<<: [*a, [1]]}\n");
  CHECK(d.id == "spec.bad_merge");
  CHECK((d.where.line == 2 && d.where.column == 14));
}

TEST_CASE("two merge keys in one mapping are a duplicate key") {
  CHECK(parse_error("a: &a {x: 1}\nb: {<<: *a, <<: *a}\n").id == "spec.duplicate_key");
}

TEST_CASE("merging one anchor over and over counts against the node limit") {
  LoadLimits limits;
  limits.max_nodes = 1000;
  std::string yaml = "a: &a {k0: 0, k1: 1, k2: 2, k3: 3, k4: 4, k5: 5, k6: 6, k7: 7, k8: 8, k9: 9}\n";
  yaml += "b: &b {<<: [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]}\n";
  yaml += "c: &c {<<: [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]}\n";
  yaml += "d: {<<: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]}\n";
  CHECK(parse_error(yaml, limits).id == "spec.too_many_nodes");
}

TEST_CASE("core tags set the type, as PyYAML's safe loader does") {
  const SpecDocument doc = parse(
      "s: !!str 123\n"
      "i: !!int \"0x10\"\n"
      "f: !!float 1\n"
      "b: !!bool \"yes\"\n"
      "n: !!null whatever\n"
      "e: !!str\n"
      "m: !!map {x: 1}\n"
      "l: !!seq [1]\n"
      "q: ! 5\n");
  CHECK(doc.root["s"] == Json("123"));
  CHECK((doc.root["i"].is_number_integer() && doc.root["i"] == 16));
  CHECK((doc.root["f"].is_number_float() && doc.root["f"] == 1.0));
  CHECK(doc.root["b"] == Json(true));
  CHECK(doc.root["n"].is_null());
  CHECK(doc.root["e"] == Json(""));
  CHECK(doc.root["m"] == Json{{"x", 1}});
  CHECK(doc.root["l"] == Json::array({1}));
  CHECK(doc.root["q"] == Json("5"));  // the non-specific tag: a string
}

TEST_CASE("a tag that is not a core tag, or a value that does not fit its tag, is an error at the value") {
  Diagnostic d = parse_error("a: 1\nb: !shout x\n");
  CHECK(d.id == "spec.unsupported_tag");
  CHECK(d.args.at("tag") == "!shout");
  CHECK((d.where.line == 2 && d.where.column == 4));
  d = parse_error("a: !!binary aGk=\n");
  CHECK(d.id == "spec.unsupported_tag");
  CHECK(d.args.at("tag") == "!!binary");
  d = parse_error("a: !!int 1.5\n");
  CHECK(d.id == "spec.bad_tagged_value");
  CHECK(d.args.at("tag") == "!!int");
  CHECK(parse_error("a: !!bool maybe\n").id == "spec.bad_tagged_value");
  CHECK(parse_error("a: !!float abc\n").id == "spec.bad_tagged_value");
  CHECK(parse_error("a: !!str {x: 1}\n").id == "spec.bad_tagged_value");
  CHECK(parse_error("a: !!map [1]\n").id == "spec.bad_tagged_value");
  CHECK(parse_error("a: !!seq x\n").id == "spec.bad_tagged_value");
}

TEST_CASE("an empty value is located at its key, an explicit null at itself") {
  const SpecDocument doc = parse("a: 1\nhead:\n\n\nb: null\nc: ~\nd:\n");
  CHECK(at(doc, "head") == "2:1");
  CHECK(at(doc, "b") == "5:4");
  CHECK(at(doc, "c") == "6:4");
  CHECK(at(doc, "d") == "7:1");
}

TEST_CASE("a root that is not a mapping is reported where the root starts") {
  Diagnostic d = parse_error("# a comment\n\n- a\n- b\n");
  CHECK(d.id == "spec.root_not_mapping");
  CHECK((d.where.line == 3 && d.where.column == 1));
  d = parse_error("# only a comment\n");
  CHECK(d.id == "spec.root_not_mapping");
  CHECK(d.where.line == 0);  // no root node at all: no location
}
