#include "ir_diff.hpp"

#include <map>

#include "eulerstack/json_text.hpp"

namespace eulerstack::cli::picture {
namespace {

void flatten(const Json& value, const std::string& path, std::vector<std::pair<std::string, std::string>>& out) {
  if (value.is_object() && !value.empty()) {
    for (const auto& [key, item] : value.items()) flatten(item, path.empty() ? key : path + "." + key, out);
  } else if (value.is_array() && !value.empty()) {
    for (std::size_t i = 0; i < value.size(); ++i) flatten(value[i], path + "[" + std::to_string(i) + "]", out);
  } else {
    out.emplace_back(path, json_text(value));
  }
}

bool compared_whole(const std::string& path) {
  return path.rfind("layers[", 0) == 0 || path.rfind("params.layers[", 0) == 0;
}

}  // namespace

std::vector<Difference> ir_differences(const Json& a, const Json& b) {
  std::vector<std::pair<std::string, std::string>> left, right;
  flatten(a, "", left);
  flatten(b, "", right);
  std::map<std::string, std::string> right_by_path(right.begin(), right.end());
  std::map<std::string, std::string> left_by_path(left.begin(), left.end());
  std::vector<Difference> out;
  for (const auto& [path, value] : left) {
    if (compared_whole(path)) continue;
    auto it = right_by_path.find(path);
    if (it == right_by_path.end()) out.push_back({path, value, std::nullopt});
    else if (it->second != value) out.push_back({path, value, it->second});
  }
  for (const auto& [path, value] : right)
    if (!compared_whole(path) && !left_by_path.count(path)) out.push_back({path, std::nullopt, value});
  return out;
}

std::set<int> differing_layers(const Json& a, const Json& b) {
  const Json& la = a.at("layers");
  const Json& lb = b.at("layers");
  std::set<int> out;
  for (std::size_t i = 0; i < std::max(la.size(), lb.size()); ++i)
    if (i >= la.size() || i >= lb.size() || la[i] != lb[i]) out.insert(static_cast<int>(i));
  return out;
}

}  // namespace eulerstack::cli::picture
