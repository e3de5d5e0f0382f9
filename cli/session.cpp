#include "session.hpp"

#include <iostream>

#include "eulerstack/messages.hpp"
#include "eulerstack/plugin_host.hpp"
#include "eulerstack/plugin_permissions.hpp"

namespace eulerstack::cli {

Session::Session(GlobalOptions options) : options_(std::move(options)), lang_(resolve_language(options_.lang)) {}

std::vector<SearchDir> Session::search_path() const {
  PluginSearchOptions search;
  search.plugin_dirs = options_.plugin_dirs;
  search.executable_dir = executable_dir();
  return plugin_search_path(search);
}

Registry& Session::registry() {
  if (!registry_) {
    registry_ = std::make_unique<Registry>();
    const auto path = search_path();
    print(writable_plugin_paths(path));
    load_plugins(*registry_, path);
    if (warn_about_failures_) print(failure_warnings(registry_->report()));
  }
  return *registry_;
}

std::vector<Diagnostic> Session::failure_warnings(const LoadReport& report) const {
  // Said up front, not only once a block turns out to be missing.
  std::vector<Diagnostic> warnings;
  for (const auto& failure : report.failures) {
    Diagnostic warning = make_error("PluginWarning", "plugin.not_loaded",
                                    {{"file", failure.file.string()},
                                     {"reason", message_text(lang_, failure.diagnostic.id, "msg", failure.diagnostic.args)}});
    warning.severity = Severity::Warning;
    warnings.push_back(std::move(warning));
  }
  return warnings;
}

std::string Session::text(const std::string& id, const MessageArgs& args) const {
  return message_text(lang_, id, "msg", args);
}

void Session::print(const std::vector<Diagnostic>& diagnostics) const {
  for (const auto& d : diagnostics) std::cerr << render(d, lang_);
}

}  // namespace eulerstack::cli
