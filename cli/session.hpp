#pragma once
// What every command shares: the chosen language, the plugin search options,
// the registry (loaded on first use), and printing of diagnostics.

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "eulerstack/diagnostics.hpp"
#include "eulerstack/registry.hpp"

namespace eulerstack::cli {

struct GlobalOptions {
  std::optional<std::string> lang;
  std::vector<std::filesystem::path> plugin_dirs;
};

class Session {
 public:
  explicit Session(GlobalOptions options);

  const std::string& lang() const { return lang_; }
  const GlobalOptions& options() const { return options_; }

  // Loads plugins on first use; failures are recorded in the report, not
  // thrown, and printed as warnings unless the command lists them itself.
  Registry& registry();
  void list_failures_myself() { warn_about_failures_ = false; }

  // The plugin search path, without loading anything.
  std::vector<SearchDir> search_path() const;

  // A catalog message in the session's language.
  std::string text(const std::string& id, const MessageArgs& args = {}) const;

  // Renders diagnostics to stderr in the three-line form.
  void print(const std::vector<Diagnostic>& diagnostics) const;
  void print(const Diagnostic& diagnostic) const { print(std::vector<Diagnostic>{diagnostic}); }

 private:
  GlobalOptions options_;
  std::string lang_;
  std::vector<Diagnostic> failure_warnings(const LoadReport& report) const;

  std::unique_ptr<Registry> registry_;
  bool warn_about_failures_ = true;
};

}  // namespace eulerstack::cli
