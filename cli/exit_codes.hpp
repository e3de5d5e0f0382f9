#pragma once
// Process exit codes, documented in docs/CLI.md. Scripts rely on them.

namespace eulerstack::cli {

enum ExitCode : int {
  kSuccess = 0,
  kInvalidSpec = 1,   // the spec failed validation (errors were printed)
  kUsageError = 2,    // bad command line
  kPluginError = 3,   // a needed block or plugin is missing or broken
  kIoError = 4,       // a file could not be read or written
  kInternalError = 5,  // a bug: please report it
  kRuntimeError = 6    // the model could not be built or run (LibTorch side)
};

}  // namespace eulerstack::cli
