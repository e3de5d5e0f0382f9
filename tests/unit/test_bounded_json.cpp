// The linear JSON reader for untrusted files: what it builds, and what it refuses as it streams.

#include "eulerstack/bounded_json.hpp"
#include "support.hpp"

using eulerstack::Json;
using eulerstack::parse_bounded_json;

TEST_CASE("parse_bounded_json builds the same value as nlohmann's parser, keys in file order") {
  const std::string text = R"({"z": 1, "a": [true, null, 2.5, -3, "s", {"k": {}}], "m": {"y": [], "b": 18446744073709551615}})";
  std::string why;
  const auto parsed = parse_bounded_json(text, 8, why);
  REQUIRE_MESSAGE(parsed, why);
  CHECK(*parsed == Json::parse(text));
  CHECK(parsed->dump() == Json::parse(text).dump());  // order kept: z, a, m
  CHECK((*parsed)["m"]["b"].is_number_unsigned());
}

TEST_CASE("parse_bounded_json refuses a key twice in one object, not in two") {
  std::string why;
  CHECK_FALSE(parse_bounded_json(R"({"a": 1, "b": 2, "a": 3})", 8, why));
  CHECK(why == "the key 'a' appears twice in one object");
  CHECK(parse_bounded_json(R"({"a": {"a": 1}, "b": {"a": 2}})", 8, why));
}

TEST_CASE("parse_bounded_json stops at the nesting limit and on malformed input") {
  std::string why;
  CHECK(parse_bounded_json("[[[]]]", 3, why));
  CHECK_FALSE(parse_bounded_json("[[[[]]]]", 3, why));
  CHECK(why == "it nests deeper than 3 levels");
  CHECK_FALSE(parse_bounded_json(R"({"a": 1e400})", 8, why));
  CHECK_FALSE(why.empty());
  CHECK_FALSE(parse_bounded_json(R"({"a": )", 8, why));
  CHECK_FALSE(why.empty());
  CHECK(parse_bounded_json("7", 0, why) == Json(7));
}
