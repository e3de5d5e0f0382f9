#pragma once
// The error handling every LibTorch command shares: LibTorch's own errors
// (c10::Error: a position past a learned table, a shape it refuses) become
// RuntimeError runtime.failed, and every Error is printed in the user's
// language and mapped to an exit code.

#include <optional>

#include <c10/util/Exception.h>

#include "../command.hpp"
#include "../spec_loader.hpp"

namespace eulerstack::cli {

// `globals` is read after `body` ran, so options the body parsed (--lang after
// the command name) apply to the error message too. When the body keeps the
// spec it ran in `spec`, errors naming a block's spec path are located in it.
template <class Body>
int guarded_command(const GlobalOptions& globals, Body body, const std::optional<spec::SpecDocument>* spec = nullptr) {
  try {
    try {
      return body();
    } catch (const c10::Error& e) {
      throw Error(make_error("RuntimeError", "runtime.failed", {{"reason", e.what_without_backtrace()}}));
    }
  } catch (const Error& e) {
    return report(globals, spec && *spec ? located_in_spec(e, **spec) : e);
  }
}

}  // namespace eulerstack::cli
