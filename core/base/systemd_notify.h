// Tells systemd how a service is doing (sd_notify(3)), for the units'
// Type=notify and WatchdogSec= (deploy/*.service, docs/operations.md,
// "Install on Debian"):
//   * Ready(): READY=1 once start-up is done (keys, registry, policy, data
//     folder and sockets in place), so `systemctl start` returns only then
//     and a failed start-up is reported as a failed start;
//   * Tick(): WATCHDOG=1, at most once per half of the interval systemd
//     gives in WATCHDOG_USEC. Call it from the thread that does the work
//     (the gateway's and the agent's loop), never from a timer thread: a
//     loop that hangs stops pinging and systemd kills and restarts it;
//   * Status(): STATUS=... (shown by `systemctl status`; ids and counts
//     only, never personal data);
//   * Stopping(): STOPPING=1 when a stop begins.
// Outside systemd (no NOTIFY_SOCKET: a test, a shell) every call does
// nothing. A child process (a command connector) inherits NOTIFY_SOCKET but
// cannot speak for the service: the units keep NotifyAccess=main, so systemd
// ignores what any other process sends.
//
// Not thread-safe: one notifier, used by one thread (the loop's).
#ifndef KETENPOORT_CORE_BASE_SYSTEMD_NOTIFY_H_
#define KETENPOORT_CORE_BASE_SYSTEMD_NOTIFY_H_

#include <chrono>
#include <string>
#include <string_view>

namespace kp {

class SystemdNotifier {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  // Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID (sd_watchdog_enabled:
  // a WATCHDOG_PID that is not this process means no watchdog).
  SystemdNotifier();

  SystemdNotifier(const SystemdNotifier&) = delete;
  SystemdNotifier& operator=(const SystemdNotifier&) = delete;

  // READY=1 with STATUS=<status>; the first watchdog ping goes with it.
  void Ready(std::string_view status);
  void Status(std::string_view status);
  void Stopping();

  // WATCHDOG=1 when half the watchdog interval has passed since the last
  // ping; nothing when systemd asked for no watchdog.
  void Tick() { Tick(std::chrono::steady_clock::now()); }
  void Tick(TimePoint now);

  // Whether systemd is listening at all, and the watchdog interval it asked
  // for (zero: no watchdog).
  bool active() const { return active_; }
  std::chrono::microseconds watchdog_interval() const { return watchdog_; }

 private:
  // Sends one datagram to the socket; false (and a log line, once) if it
  // could not be sent. A service keeps running when systemd is unreachable.
  bool Send(std::string_view state);

  bool active_ = false;  // NOTIFY_SOCKET was set
  std::chrono::microseconds watchdog_{0};
  TimePoint last_ping_{};
  bool warned_ = false;
};

}  // namespace kp

#endif  // KETENPOORT_CORE_BASE_SYSTEMD_NOTIFY_H_
