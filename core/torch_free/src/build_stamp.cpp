#include "eulerstack/build_stamp.hpp"

#include <cstring>

#include <fmt/format.h>

namespace eulerstack {
namespace {

// "0.1.3" -> "0.1": plugins load into any core of the same major.minor.
std::string major_minor(const char* version) {
  std::string v(version ? version : "");
  auto first = v.find('.');
  if (first == std::string::npos) return v;
  auto second = v.find('.', first + 1);
  return second == std::string::npos ? v : v.substr(0, second);
}

bool same(const char* a, const char* b) { return a && b && std::strcmp(a, b) == 0; }

}  // namespace

const BuildStamp& host_build_stamp() {
  static const BuildStamp stamp = EULERSTACK_BUILD_STAMP;
  return stamp;
}

std::string describe(const BuildStamp& stamp) {
  return fmt::format("core {}, torch {}, C++11 ABI {}, {}", stamp.core_version ? stamp.core_version : "?",
                     stamp.torch_version ? stamp.torch_version : "?", stamp.cxx11_abi,
                     stamp.compiler ? stamp.compiler : "?");
}

std::string stamp_incompatibility(const BuildStamp& host, const BuildStamp& plugin) {
  if (major_minor(host.core_version) != major_minor(plugin.core_version)) return "@msg:word.core_version";
  if (!same(host.torch_version, plugin.torch_version)) return "@msg:word.torch_version";
  if (host.cxx11_abi != plugin.cxx11_abi) return "@msg:word.cxx11_abi";
  return {};
}

}  // namespace eulerstack
