#pragma once
// `let:` variables and `${...}` expressions, resolved before validation.
//
//   let:
//     n_heads: 16
//     d_head: 64
//     d_model: ${let.n_heads * let.d_head}   # let entries may use each other
//   model:
//     d_model: ${let.d_model}
//
// Inside ${...}: int and float literals, let.<name>, unary + -, binary
// + - * / // %, parentheses. Results are integers whenever exact (1024 / 8 is
// the integer 128); // and % follow Python's floor semantics. Integer
// overflow, division by zero, unknown names and cycles between let entries
// are errors. Only a whole scalar `${...}` is an expression; text around it
// is not interpolated (as upstream).

#include <string>
#include <string_view>
#include <vector>

#include "eulerstack/diagnostics.hpp"
#include "eulerstack/param_schema.hpp"
#include "eulerstack/spec/document.hpp"

namespace eulerstack::spec {

// Evaluates every let entry and replaces each `${...}` string in doc.root.
// Removes `let` from doc.root and returns the evaluated scope (an object).
// Every problem found is appended to `errors` (category ValidationError, ids
// expr.*, with the scalar's location); the offending values are left as they were.
Json resolve_expressions(SpecDocument& doc, std::vector<Diagnostic>& errors);

// One expression without the ${ }; `scope` maps let names to numbers.
// Throws Error (ValidationError, expr.*) without a location.
Json evaluate_expression(std::string_view expression, const Json& scope);

}  // namespace eulerstack::spec
