// Stop and reload signals, in one place for every Ketenpoort binary (issue 12).
//
// InstallSignalHandlers() installs, with sigaction, handlers for SIGINT and
// SIGTERM ("stop") and SIGHUP ("reload"). A handler is async-signal-safe: it
// sets an atomic flag and writes one byte to a self-pipe (non-blocking,
// close-on-exec), nothing else. Code reads the flags (StopRequested,
// TakeReloadRequest) or waits for the pipe (WaitForSignal, signal_fd) instead
// of doing work inside a handler.
//
// SignalForwarder is how a long-running binary uses it: a thread that is the
// only receiver of the three signals and turns them into calls on the main
// object (Gateway::RequestStop/RequestReload, Agent::RequestStop). Call
// BlockStopAndReloadSignals() first thing in main(), before any thread is
// started: every thread then inherits the block, so a signal never interrupts
// a system call of the gateway's or the agent's own threads (no EINTR there),
// and it is handled on the forwarder's thread alone.
//
// The flags are process-wide, as signals are. Every function here is
// thread-safe.
#ifndef KETENPOORT_CORE_BASE_SIGNALS_H_
#define KETENPOORT_CORE_BASE_SIGNALS_H_

#include <functional>
#include <memory>
#include <thread>

#include "core/base/status.h"

namespace kp {

struct SignalOptions {
  // A second SIGINT/SIGTERM while a stop is under way ends the process at
  // once (_exit(128 + signal)): for interactive commands, where a second
  // Ctrl-C means "now". Long-running services leave it off and finish their
  // in-flight work.
  bool second_stop_exits = false;
};

// Installs the handlers (idempotent: a second call only updates `options`).
// Internal on failure (pipe or sigaction failed).
Status InstallSignalHandlers(SignalOptions options = {});

// True once SIGINT or SIGTERM arrived. Never cleared (except for tests).
bool StopRequested();
// The signal that asked to stop first (SIGINT or SIGTERM), 0 when none.
int StopSignal();
// True when SIGHUP arrived and was not taken yet.
bool ReloadRequested();
// Returns whether a reload was requested and clears the request, so each
// SIGHUP (or several close together) leads to one reload.
bool TakeReloadRequest();

// The read end of the self-pipe: readable after a signal. For poll().
// -1 before InstallSignalHandlers().
int signal_fd();
// Waits up to `timeout_ms` (-1: no limit) for the self-pipe to become
// readable and drains it. True when a signal arrived (since the last drain).
// A wait interrupted by the signal itself counts as woken.
bool WaitForSignal(int timeout_ms);

// Blocks SIGINT, SIGTERM and SIGHUP in the calling thread; threads started
// by it afterwards inherit the block. See the file comment.
Status BlockStopAndReloadSignals();

// What a service (gateway, agent) does first, before any thread starts:
// installs the handlers, then blocks the signals, so that every thread
// inherits the block and only a SignalForwarder's thread receives them.
Status SetUpServiceSignals();

// Clears the flags and drains the pipe. For tests only.
void ClearSignalRequestsForTesting();

// A thread that receives the stop and reload signals and calls `on_stop`
// (once, on the first SIGINT/SIGTERM) and `on_reload` (once per taken
// request, on SIGHUP) on its own thread. A signal that arrived before
// Start() is acted on right away. The callbacks must be thread-safe with
// respect to the rest of the program and must outlive the forwarder; either
// may be empty. Destruction stops and joins the thread.
class SignalForwarder {
 public:
  static Result<std::unique_ptr<SignalForwarder>> Start(std::function<void()> on_stop,
                                                        std::function<void()> on_reload,
                                                        SignalOptions options = {});
  ~SignalForwarder();
  SignalForwarder(const SignalForwarder&) = delete;
  SignalForwarder& operator=(const SignalForwarder&) = delete;

 private:
  SignalForwarder(std::function<void()> on_stop, std::function<void()> on_reload, int quit_read, int quit_write);
  void Loop();

  std::function<void()> on_stop_;
  std::function<void()> on_reload_;
  int quit_read_;   // written by the destructor to end Loop()
  int quit_write_;
  std::thread thread_;
};

}  // namespace kp

#endif  // KETENPOORT_CORE_BASE_SIGNALS_H_
