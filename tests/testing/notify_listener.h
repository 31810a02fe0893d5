// The systemd side of sd_notify(3) for tests: a real AF_UNIX datagram socket
// in a folder the test owns, whose path goes into NOTIFY_SOCKET of the code
// (or the child process) under test, as systemd would set it. Header-only.
//
// Not thread-safe.
#ifndef KETENPOORT_TESTS_TESTING_NOTIFY_LISTENER_H_
#define KETENPOORT_TESTS_TESTING_NOTIFY_LISTENER_H_

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <optional>
#include <string>

namespace kp::testing {

class NotifyListener {
 public:
  // Binds `path` (it must not exist; under 108 bytes). ok() says whether it worked.
  explicit NotifyListener(std::string path) : path_(std::move(path)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path_.size() >= sizeof(addr.sun_path)) return;
    std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
    bound_ = ::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~NotifyListener() {
    if (fd_ >= 0) ::close(fd_);
    if (bound_) ::unlink(path_.c_str());
  }
  NotifyListener(const NotifyListener&) = delete;
  NotifyListener& operator=(const NotifyListener&) = delete;

  bool ok() const { return bound_; }
  const std::string& path() const { return path_; }

  // The next datagram, waiting up to `timeout_ms` (0: only what is already
  // queued); nullopt when none came.
  std::optional<std::string> Next(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return std::nullopt;
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0) return std::nullopt;
    return std::string(buf, static_cast<size_t>(n));
  }

  // Reads datagrams until one contains `text`, for up to `timeout_ms` in all.
  bool WaitFor(const std::string& text, int timeout_ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                             std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      auto d = Next(static_cast<int>(left.count()));
      if (d && d->find(text) != std::string::npos) return true;
    }
  }

 private:
  std::string path_;
  int fd_ = -1;
  bool bound_ = false;
};

}  // namespace kp::testing

#endif  // KETENPOORT_TESTS_TESTING_NOTIFY_LISTENER_H_
