#pragma once
// Errors and warnings as data: a message id from the catalogs plus its
// arguments, a category and a source location. Rendering into a language
// happens once, at the edge (CLI), so one diagnostic prints in en, ko, zh, ja or es.

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace eulerstack {

struct SourceLocation {
  std::string file;
  int line = 0;    // 1-based; 0 = unknown
  int column = 0;  // 1-based; 0 = unknown
};

enum class Severity { Error, Warning };

using MessageArgs = std::map<std::string, std::string>;

// An indented detail line under the message ("did you mean: ...", "search path: ...").
struct Note {
  std::string id;
  MessageArgs args;
};

struct Diagnostic {
  Severity severity = Severity::Error;
  std::string category;  // "ValidationError", "PluginError", ... (never translated)
  std::string id;        // catalog id, e.g. "plugin.abi_mismatch"
  MessageArgs args;
  SourceLocation where;
  std::vector<Note> notes;
};

Diagnostic make_error(std::string category, std::string id, MessageArgs args = {},
                      SourceLocation where = {});

// A failure that carries its diagnostic(s) to whoever renders them.
class Error : public std::runtime_error {
 public:
  explicit Error(Diagnostic diagnostic);
  explicit Error(std::vector<Diagnostic> diagnostics);
  const std::vector<Diagnostic>& diagnostics() const { return diagnostics_; }
  const Diagnostic& first() const { return diagnostics_.front(); }

 private:
  std::vector<Diagnostic> diagnostics_;
};

}  // namespace eulerstack
