#include "token_ids.hpp"

#include <algorithm>
#include <sstream>
#include <vector>

#include <ATen/ATen.h>

#include "eulerstack/diagnostics.hpp"

namespace eulerstack::cli {
namespace {

Error bad_tokens(std::string reason, std::int64_t vocab) {
  return Error(make_error("UsageError", "run.bad_tokens", {{"reason", std::move(reason)}, {"vocab", std::to_string(vocab)}}));
}

}  // namespace

TokenRows parse_token_ids(const std::string& text, std::int64_t vocab) {
  std::vector<std::vector<std::int64_t>> rows;
  std::string normalized = text;
  for (char& c : normalized) {
    if (c == ';') c = '\n';
    if (c == ',' || c == '\t' || c == '\r') c = ' ';
  }
  std::istringstream lines(normalized);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::vector<std::int64_t> row;
    for (std::string word; words >> word;) {
      std::size_t used = 0;
      long long id = -1;
      try {
        id = std::stoll(word, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != word.size()) throw bad_tokens("'" + word + "' is not an integer token id", vocab);
      if (id < 0 || id >= vocab)
        throw bad_tokens("token id " + word + " is outside the vocabulary [0, " + std::to_string(vocab) + ")", vocab);
      row.push_back(id);
    }
    if (!row.empty()) rows.push_back(std::move(row));
  }
  if (rows.empty()) throw bad_tokens("no token ids were given", vocab);
  std::size_t longest = 0;
  bool ragged = false;
  for (const auto& row : rows) {
    ragged = ragged || (longest != 0 && row.size() != longest);
    longest = std::max(longest, row.size());
  }
  const auto options = at::TensorOptions().dtype(at::kLong);
  const auto count = static_cast<std::int64_t>(rows.size());
  TokenRows out{at::zeros({count, static_cast<std::int64_t>(longest)}, options), at::Tensor(), at::empty({count}, options)};
  at::Tensor mask = at::zeros_like(out.ids);
  auto ids = out.ids.accessor<std::int64_t, 2>();
  auto real = mask.accessor<std::int64_t, 2>();
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const std::size_t pad = longest - rows[r].size();
    for (std::size_t c = 0; c < rows[r].size(); ++c) ids[r][pad + c] = rows[r][c], real[r][pad + c] = 1;
    out.lengths[static_cast<std::int64_t>(r)] = static_cast<std::int64_t>(rows[r].size());
  }
  if (ragged) out.attention_mask = mask;
  return out;
}

}  // namespace eulerstack::cli
