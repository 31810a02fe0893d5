#include "core/base/systemd_notify.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace kp {
namespace {

// sd_notify(3) and sd_watchdog_enabled(3) as systemd documents them (the
// protocol is stable: sd_notify(3), "Notes"), written here so that no
// program links libsystemd, which maps libgcrypt, liblzma, libzstd, liblz4
// and libcap into every process (~0.8 MB resident per agent; issue 19).

// The watchdog interval systemd asks of this process: WATCHDOG_USEC, when
// WATCHDOG_PID is unset or names this process; 0 otherwise.
uint64_t WatchdogUsec() {
  const char* usec = std::getenv("WATCHDOG_USEC");
  if (usec == nullptr) return 0;
  uint64_t value = 0;
  const char* end = usec + std::strlen(usec);
  if (auto [p, ec] = std::from_chars(usec, end, value); ec != std::errc() || p != end) return 0;
  if (const char* pid = std::getenv("WATCHDOG_PID"); pid != nullptr) {
    int64_t who = 0;
    const char* pid_end = pid + std::strlen(pid);
    if (auto [p, ec] = std::from_chars(pid, pid_end, who); ec != std::errc() || p != pid_end) return 0;
    if (who != ::getpid()) return 0;
  }
  return value;
}

// One datagram to NOTIFY_SOCKET: a path, or an abstract name written with a
// leading '@'. 1 when sent, 0 without a socket, -errno when it failed.
int NotifySocketSend(const std::string& text) {
  const char* name = std::getenv("NOTIFY_SOCKET");
  if (name == nullptr || name[0] == '\0') return 0;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const size_t len = std::strlen(name);
  if ((name[0] != '/' && name[0] != '@') || len >= sizeof(addr.sun_path)) return -EAFNOSUPPORT;
  std::memcpy(addr.sun_path, name, len);
  if (name[0] == '@') addr.sun_path[0] = '\0';
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  const auto addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len);
  const ssize_t n = ::sendto(fd, text.data(), text.size(), MSG_NOSIGNAL,
                             reinterpret_cast<const sockaddr*>(&addr), addr_len);
  const int err = errno;
  ::close(fd);
  return n < 0 ? -err : 1;
}

}  // namespace

SystemdNotifier::SystemdNotifier() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  active_ = socket != nullptr && socket[0] != '\0';
  if (active_) watchdog_ = std::chrono::microseconds(WatchdogUsec());
}

bool SystemdNotifier::Send(std::string_view state) {
  if (!active_) return false;
  const int r = NotifySocketSend(std::string(state));
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
