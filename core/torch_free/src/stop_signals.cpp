#include "eulerstack/stop_signals.hpp"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>

namespace eulerstack {
namespace {

struct State {
  std::mutex mutex;
  bool started = false;
  int deferring = 0;   // open StopDeferred scopes
  int flagging = 0;    // open StopRequestedFlag scopes
  int pending = 0;     // a signal that arrived while deferred
  std::atomic<bool> requested{false};
};

State& state() {
  static auto* s = new State();  // never destroyed: the waiting thread outlives main
  return *s;
}

sigset_t stop_set() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  return set;
}

// The signal's default action, taken now by the calling thread.
[[noreturn]] void end_with(int signal) {
  ::signal(signal, SIG_DFL);
  sigset_t one;
  sigemptyset(&one);
  sigaddset(&one, signal);
  pthread_sigmask(SIG_UNBLOCK, &one, nullptr);
  ::raise(signal);
  ::_exit(128 + signal);  // the default action of all three ends the process; this is not reached
}

// With the mutex held: what a signal does now.
void act_on(State& s, int signal) {
  if (s.deferring > 0) {
    if (!s.pending) s.pending = signal;
  } else if (s.flagging > 0) {
    s.requested = true;
  } else {
    end_with(signal);
  }
}

void wait_for_signals() {
  const sigset_t set = stop_set();
  for (;;) {
    int signal = 0;
    if (sigwait(&set, &signal) != 0) continue;
    State& s = state();
    std::lock_guard<std::mutex> lock(s.mutex);
    act_on(s, signal);
  }
}

}  // namespace

void start_stop_signal_thread() {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (s.started) return;
  const sigset_t set = stop_set();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread(wait_for_signals).detach();
  s.started = true;
}

StopDeferred::StopDeferred() {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  ++s.deferring;
}

StopDeferred::~StopDeferred() {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (--s.deferring > 0 || !s.pending) return;
  const int signal = s.pending;
  s.pending = 0;
  act_on(s, signal);
}

StopRequestedFlag::StopRequestedFlag() {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  ++s.flagging;
}

StopRequestedFlag::~StopRequestedFlag() {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  --s.flagging;
}

bool stop_requested() { return state().requested; }

}  // namespace eulerstack
