#pragma once
// Checking an IR read back from an exported model (config.json's eulerstack_ir)
// before anything is built from it: the IR's sections are turned back into a
// spec, that spec goes through the whole front end (limits included), and the
// IR it compiles to must be the one stored. A hand-edited, truncated or hostile
// IR is thus refused with the front end's own errors, never trusted.

#include <optional>
#include <string>

#include "eulerstack/registry.hpp"
#include "eulerstack/spec/document.hpp"

namespace eulerstack::spec {

// The spec whose compile gives `ir` (its sections, blocks back in YAML form).
// Parts of `ir` of the wrong shape are passed on as they are, for the front end to report.
SpecDocument spec_of_ir(const Json& ir, const Registry& registry, std::string file);

// JSON Pointer of the first difference between a stored IR and the IR its spec
// compiles to, ignoring `let` (already substituted), plugin versions and the
// derived parameter counts (`params`), and block parameters the stored IR
// lacks (added since the export: the compile gives their defaults); nullopt when equal.
std::optional<std::string> ir_difference(const Json& stored, const Json& compiled);

}  // namespace eulerstack::spec
