#include "core/base/systemd_notify.h"

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace kp {

SystemdNotifier::SystemdNotifier() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  active_ = socket != nullptr && socket[0] != '\0';
  uint64_t usec = 0;
  if (active_ && sd_watchdog_enabled(/*unset_environment=*/0, &usec) > 0) {
    watchdog_ = std::chrono::microseconds(usec);
  }
}

bool SystemdNotifier::Send(std::string_view state) {
  if (!active_) return false;
  const std::string text(state);
  const int r = sd_notify(/*unset_environment=*/0, text.c_str());
  if (r > 0) return true;
  if (!warned_) {
    warned_ = true;
    spdlog::warn("cannot tell systemd how the service is doing (NOTIFY_SOCKET): {}",
                 r < 0 ? std::strerror(-r) : "no socket");
  }
  return false;
}

namespace {

// STATUS= ends at the first newline (sd_notify's format is one assignment a
// line), so a status keeps only its first line.
std::string StatusLine(std::string_view status) {
  const size_t nl = status.find('\n');
  return "STATUS=" + std::string(status.substr(0, nl));
}

}  // namespace

void SystemdNotifier::Ready(std::string_view status) {
  if (!active_) return;
  std::string state = "READY=1\n" + StatusLine(status);
  if (watchdog_.count() > 0) {
    state += "\nWATCHDOG=1";
    last_ping_ = std::chrono::steady_clock::now();
  }
  Send(state);
}

void SystemdNotifier::Status(std::string_view status) {
  if (active_) Send(StatusLine(status));
}

void SystemdNotifier::Stopping() {
  if (active_) Send("STOPPING=1\nSTATUS=stopping: finishing in-flight work");
}

void SystemdNotifier::Tick(TimePoint now) {
  if (!active_ || watchdog_.count() <= 0) return;
  if (last_ping_ != TimePoint{} && now - last_ping_ < watchdog_ / 2) return;
  last_ping_ = now;
  Send("WATCHDOG=1");
}

}  // namespace kp
