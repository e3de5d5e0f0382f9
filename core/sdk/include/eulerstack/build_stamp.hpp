#pragma once
// What a binary was built against. A plugin records its stamp at compile time
// (EULERSTACK_BUILD_STAMP expands in the plugin's own translation unit); the host
// compares it with its own before calling anything else in the plugin.

#include <string>

#if __has_include(<torch/headeronly/version.h>)
#include <torch/headeronly/version.h>  // torch >= 2.8: no heavy includes
#else
#include <torch/version.h>
#endif

#include "eulerstack/version.hpp"

#if defined(__clang__)
#define EULERSTACK_COMPILER "clang " __clang_version__
#elif defined(__GNUC__)
#define EULERSTACK_COMPILER "gcc " __VERSION__
#else
#define EULERSTACK_COMPILER "unknown"
#endif

namespace eulerstack {

// Plain C data: its layout must stay readable even when the rest of a plugin's
// descriptor comes from another ABI version.
struct BuildStamp {
  const char* core_version;
  const char* torch_version;
  int cxx11_abi;
  const char* compiler;
};

#define EULERSTACK_BUILD_STAMP                                                   \
  ::eulerstack::BuildStamp {                                                     \
    EULERSTACK_VERSION, TORCH_VERSION, _GLIBCXX_USE_CXX11_ABI,        \
        EULERSTACK_COMPILER                                                      \
  }

// The host's own stamp (compiled into the core library).
const BuildStamp& host_build_stamp();

// "core 0.1.0, torch 2.13.0, C++11 ABI 1, gcc 12.2.0"
std::string describe(const BuildStamp& stamp);

// Empty when `plugin` may be loaded by a host with stamp `host`; else what differs
// (a message reference, "@msg:<id>", rendered in the reader's language).
std::string stamp_incompatibility(const BuildStamp& host, const BuildStamp& plugin);

}  // namespace eulerstack
