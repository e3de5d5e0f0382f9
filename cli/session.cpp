#include "session.hpp"

#include <iostream>

#include "eulerstack/messages.hpp"
#include "eulerstack/plugin_host.hpp"
#include "eulerstack/plugin_permissions.hpp"

namespace eulerstack::cli {

Session::Session(GlobalOptions options) : options_(std::move(options)), lang_(resolve_language(options_.lang)) {}

Registry& Session::registry() {
  if (!registry_) {
    registry_ = std::make_unique<Registry>();
    PluginSearchOptions search;
    search.plugin_dirs = options_.plugin_dirs;
    search.executable_dir = executable_dir();
    const auto path = plugin_search_path(search);
    print(writable_plugin_paths(path));
    load_plugins(*registry_, path);
  }
  return *registry_;
}

std::string Session::text(const std::string& id, const MessageArgs& args) const {
  return message_text(lang_, id, "msg", args);
}

void Session::print(const std::vector<Diagnostic>& diagnostics) const {
  for (const auto& d : diagnostics) std::cerr << render(d, lang_);
}

}  // namespace eulerstack::cli
