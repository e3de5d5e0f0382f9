#include "eulerstack/plugin_notes.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace eulerstack {

std::vector<Note> failed_plugin_notes(const LoadReport& report) {
  std::vector<Note> notes;
  for (const auto& failure : report.failures) {
    // A failed plugin's own message is rendered inside the note (see message_text).
    MessageArgs args = failure.diagnostic.args;
    args["file"] = failure.file.string();
    args["reason_id"] = failure.diagnostic.id;
    notes.push_back({"note.failed_plugin", std::move(args)});
  }
  return notes;
}

Note search_path_note(const LoadReport& report) {
  std::vector<std::string> dirs;
  for (const auto& dir : report.search_path) dirs.push_back(fmt::format("{} ({})", dir.dir.string(), dir.origin));
  return {"note.search_path", {{"dirs", dirs.empty() ? "-" : fmt::format("{}", fmt::join(dirs, ", "))}}};
}

}  // namespace eulerstack
