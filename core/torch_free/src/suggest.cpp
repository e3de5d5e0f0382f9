#include "eulerstack/suggest.hpp"

#include <algorithm>
#include <cctype>
#include <numeric>
#include <utility>

namespace eulerstack {

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  std::iota(row.begin(), row.end(), 0);
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      bool same = std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                  std::tolower(static_cast<unsigned char>(b[j - 1]));
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (same ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::vector<std::string> nearest_names(std::string_view name, const std::vector<std::string>& known,
                                       std::size_t max_results) {
  const std::size_t limit = std::max<std::size_t>(2, name.size() / 3);
  std::vector<std::pair<std::size_t, std::string>> scored;
  for (const auto& candidate : known) {
    std::size_t d = edit_distance(name, candidate);
    bool prefix = !name.empty() && candidate.rfind(std::string(name), 0) == 0;
    if (d <= limit || prefix) scored.emplace_back(prefix ? std::min(d, limit) : d, candidate);
  }
  std::stable_sort(scored.begin(), scored.end(),
                   [](const auto& x, const auto& y) { return x.first < y.first; });
  std::vector<std::string> out;
  for (auto& [d, candidate] : scored) {
    if (out.size() == max_results) break;
    out.push_back(std::move(candidate));
  }
  return out;
}

}  // namespace eulerstack
