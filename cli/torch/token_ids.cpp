#include "token_ids.hpp"

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

at::Tensor parse_token_ids(const std::string& text, std::int64_t vocab) {
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
  for (std::size_t i = 1; i < rows.size(); ++i)
    if (rows[i].size() != rows[0].size())
      throw bad_tokens("row " + std::to_string(i) + " has " + std::to_string(rows[i].size()) + " ids, row 0 has " +
                           std::to_string(rows[0].size()),
                       vocab);
  auto ids = at::empty({static_cast<std::int64_t>(rows.size()), static_cast<std::int64_t>(rows[0].size())},
                       at::TensorOptions().dtype(at::kLong));
  auto access = ids.accessor<std::int64_t, 2>();
  for (std::size_t r = 0; r < rows.size(); ++r)
    for (std::size_t c = 0; c < rows[r].size(); ++c) access[r][c] = rows[r][c];
  return ids;
}

}  // namespace eulerstack::cli
