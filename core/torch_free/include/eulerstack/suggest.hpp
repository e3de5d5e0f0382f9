#pragma once
// "Did you mean": the known names closest to a misspelled one.

#include <string>
#include <string_view>
#include <vector>

namespace eulerstack {

std::size_t edit_distance(std::string_view a, std::string_view b);

// Candidates within a distance that scales with the name's length, nearest first.
std::vector<std::string> nearest_names(std::string_view name, const std::vector<std::string>& known,
                                       std::size_t max_results = 3);

}  // namespace eulerstack
