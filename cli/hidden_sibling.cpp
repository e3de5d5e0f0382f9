#include "hidden_sibling.hpp"

#include <climits>

namespace eulerstack::cli {

std::string hidden_sibling_template(const std::filesystem::path& target, const char* tag) {
  const std::string suffix = std::string(".") + tag + "-XXXXXX";
  std::string name = target.filename().string();
  const std::size_t room = NAME_MAX - 1 - suffix.size();  // 1 for the leading dot
  if (name.size() > room) name.resize(room);  // bytes: a cut UTF-8 character is still a legal name
  const std::filesystem::path dir = target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
  return (dir / ("." + name + suffix)).string();
}

}  // namespace eulerstack::cli
