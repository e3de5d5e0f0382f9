#pragma once
// Token ids from the command line or a file: rows separated by newlines or
// ';', ids by spaces or commas. All rows must have the same length.

#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>

namespace eulerstack::cli {

// [rows, length] int64. Throws Error(UsageError, run.bad_tokens) for empty
// input, a non-integer, an id outside [0, vocab) or ragged rows.
at::Tensor parse_token_ids(const std::string& text, std::int64_t vocab);

}  // namespace eulerstack::cli
