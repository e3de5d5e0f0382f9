// edit_distance and nearest_names ("did you mean").

#include <doctest/doctest.h>

#include "eulerstack/suggest.hpp"

using eulerstack::edit_distance;
using eulerstack::nearest_names;
using Names = std::vector<std::string>;

TEST_CASE("edit_distance counts insertions, deletions and substitutions") {
  CHECK(edit_distance("", "") == 0);
  CHECK(edit_distance("abc", "") == 3);
  CHECK(edit_distance("", "abc") == 3);
  CHECK(edit_distance("attention", "attention") == 0);
  CHECK(edit_distance("kitten", "sitting") == 3);
  CHECK(edit_distance("atention", "attention") == 1);  // insertion
  CHECK(edit_distance("mamba", "mambo") == 1);         // substitution
  CHECK(edit_distance("retnett", "retnet") == 1);      // deletion
  CHECK(edit_distance("flaw", "lawn") == edit_distance("lawn", "flaw"));
}

TEST_CASE("edit_distance ignores ASCII case") {
  CHECK(edit_distance("Attention", "attention") == 0);
  CHECK(edit_distance("GATED_MLP", "gated_mlp") == 0);
}

TEST_CASE("nearest_names finds close misspellings and drops far names") {
  const Names known{"attention", "mamba", "retnet", "mlp"};
  CHECK(nearest_names("atention", known) == Names{"attention"});
  CHECK(nearest_names("mambaa", known) == Names{"mamba"});
  CHECK(nearest_names("transformer", known).empty());
  CHECK(nearest_names("anything", {}).empty());
}

TEST_CASE("nearest_names sorts nearest first and keeps the given order on ties") {
  // "mlq": mlp 1, mlpx 2, moe 2; the limit for a 3-letter name is 2.
  CHECK(nearest_names("mlq", {"mlpx", "mlp", "moe", "attention"}) == Names{"mlp", "mlpx", "moe"});
}

TEST_CASE("nearest_names includes names that start with the query") {
  // "gated" -> "gated_mlp" is 4 edits (over the limit) but a prefix.
  CHECK(nearest_names("gated", {"gated_mlp", "mamba"}) == Names{"gated_mlp"});
}

TEST_CASE("nearest_names returns at most max_results names") {
  const Names known{"ab", "ac", "ad", "ae"};
  CHECK(nearest_names("aa", known).size() == 3);
  CHECK(nearest_names("aa", known, 2) == Names{"ab", "ac"});
  CHECK(nearest_names("aa", known, 10).size() == 4);
}
