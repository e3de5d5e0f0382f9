#pragma once
// SIGINT, SIGTERM and SIGHUP for a process that writes files it must not leave
// half-written. The signals are blocked before any thread starts (so every
// thread, LibTorch's workers included, inherits the mask) and one thread waits
// for them. What a signal then does depends on what the process is doing:
//   - outside any scope below: the default action, the process ends;
//   - inside a StopDeferred scope (a temporary file written and renamed): the
//     default action once the last such scope ends;
//   - inside a StopRequestedFlag scope (an export, which cleans up after
//     itself): stop_requested() becomes true, and the work stops at its next check.
// A process that never calls start_stop_signal_thread() keeps the usual
// signal behaviour, and the scopes do nothing. Torch-free.

namespace eulerstack {

void start_stop_signal_thread();

class StopDeferred {
 public:
  StopDeferred();
  ~StopDeferred();
  StopDeferred(const StopDeferred&) = delete;
  StopDeferred& operator=(const StopDeferred&) = delete;
};

class StopRequestedFlag {
 public:
  StopRequestedFlag();
  ~StopRequestedFlag();
  StopRequestedFlag(const StopRequestedFlag&) = delete;
  StopRequestedFlag& operator=(const StopRequestedFlag&) = delete;
};

// Whether a stop signal arrived while a StopRequestedFlag existed.
bool stop_requested();

}  // namespace eulerstack
