#pragma once
// Token ids from the command line or a file: rows separated by newlines or
// ';', ids by spaces or commas. Rows may differ in length: shorter rows are
// left-padded with id 0, and the mask says which ids are real.

#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>

namespace eulerstack::cli {

struct TokenRows {
  at::Tensor ids;             // [rows, longest] int64, left-padded with 0
  at::Tensor attention_mask;  // [rows, longest] int64 0/1, or undefined when every row has the same length
  at::Tensor lengths;         // [rows] int64: the real ids of each row
};

// Throws Error(UsageError, run.bad_tokens) for empty input, a non-integer or
// an id outside [0, vocab).
TokenRows parse_token_ids(const std::string& text, std::int64_t vocab);

}  // namespace eulerstack::cli
