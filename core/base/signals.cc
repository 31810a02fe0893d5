#include "core/base/signals.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <mutex>

namespace kp {
namespace {

// Only lock-free atomics may be touched from a signal handler.
static_assert(std::atomic<int>::is_always_lock_free && std::atomic<bool>::is_always_lock_free);

std::atomic<int> g_stop_signal{0};  // first SIGINT/SIGTERM, 0 none
std::atomic<bool> g_reload{false};
std::atomic<bool> g_second_stop_exits{false};
std::atomic<int> g_pipe_read{-1};
std::atomic<int> g_pipe_write{-1};
std::mutex g_install_mu;  // never taken in the handler

extern "C" void OnSignal(int sig) {
  const int saved_errno = errno;
  if (sig == SIGHUP) {
    g_reload.store(true);
  } else {
    int none = 0;
    if (!g_stop_signal.compare_exchange_strong(none, sig) && g_second_stop_exits.load()) ::_exit(128 + sig);
  }
  const char byte = static_cast<char>(sig);
  // A full pipe already holds a wake-up; nothing else to do on failure.
  if (::write(g_pipe_write.load(), &byte, 1) < 0) {
  }
  errno = saved_errno;
}

sigset_t StopAndReloadSet() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  return set;
}

void Drain(int fd) {
  char buf[64];
  while (::read(fd, buf, sizeof buf) > 0) {
  }
}

Status ErrnoStatus(const char* what) { return InternalError(std::string(what) + ": " + std::strerror(errno)); }

}  // namespace

Status InstallSignalHandlers(SignalOptions options) {
  std::lock_guard<std::mutex> lock(g_install_mu);
  g_second_stop_exits.store(options.second_stop_exits);
  if (g_pipe_write.load() >= 0) return OkStatus();
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return ErrnoStatus("cannot make the signal pipe");
  g_pipe_read.store(fds[0]);
  g_pipe_write.store(fds[1]);
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sa.sa_mask = StopAndReloadSet();  // one handler at a time
  // Restart what can be restarted; poll() and zmq_poll() still return EINTR,
  // which the transport treats as "nothing yet".
  sa.sa_flags = SA_RESTART;
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    if (::sigaction(sig, &sa, nullptr) != 0) return ErrnoStatus("cannot install a signal handler");
  }
  return OkStatus();
}

bool StopRequested() { return g_stop_signal.load() != 0; }
int StopSignal() { return g_stop_signal.load(); }
bool ReloadRequested() { return g_reload.load(); }
bool TakeReloadRequest() { return g_reload.exchange(false); }
int signal_fd() { return g_pipe_read.load(); }

bool WaitForSignal(int timeout_ms) {
  const int fd = g_pipe_read.load();
  if (fd < 0) return false;
  pollfd p{fd, POLLIN, 0};
  const int rc = ::poll(&p, 1, timeout_ms);
  if (rc < 0) return errno == EINTR;  // the signal itself interrupted the wait
  if (rc == 0) return false;
  Drain(fd);
  return true;
}

Status SetUpServiceSignals() {
  KP_RETURN_IF_ERROR(InstallSignalHandlers());
  return BlockStopAndReloadSignals();
}

Status BlockStopAndReloadSignals() {
  sigset_t set = StopAndReloadSet();
  const int rc = ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
  if (rc != 0) return InternalError(std::string("cannot block signals: ") + std::strerror(rc));
  return OkStatus();
}

void ClearSignalRequestsForTesting() {
  g_stop_signal.store(0);
  g_reload.store(false);
  if (g_pipe_read.load() >= 0) Drain(g_pipe_read.load());
}

// --------------------------------------------------------------- forwarder

Result<std::unique_ptr<SignalForwarder>> SignalForwarder::Start(std::function<void()> on_stop,
                                                                std::function<void()> on_reload,
                                                                SignalOptions options) {
  KP_RETURN_IF_ERROR(InstallSignalHandlers(options));
  int quit[2];
  if (::pipe2(quit, O_CLOEXEC) != 0) return ErrnoStatus("cannot make the forwarder's pipe");
  std::unique_ptr<SignalForwarder> f(new SignalForwarder(std::move(on_stop), std::move(on_reload), quit[0], quit[1]));
  f->thread_ = std::thread([p = f.get()] { p->Loop(); });
  return f;
}

SignalForwarder::SignalForwarder(std::function<void()> on_stop, std::function<void()> on_reload, int quit_read,
                                 int quit_write)
    : on_stop_(std::move(on_stop)), on_reload_(std::move(on_reload)), quit_read_(quit_read), quit_write_(quit_write) {}

SignalForwarder::~SignalForwarder() {
  const char byte = 0;
  if (::write(quit_write_, &byte, 1) < 0) {
    // Cannot happen with an empty pipe; the join below would then wait for
    // a signal, so fail loudly instead.
    KP_CHECK(false);
  }
  thread_.join();
  ::close(quit_read_);
  ::close(quit_write_);
}

void SignalForwarder::Loop() {
  // This thread is where the signals are handled, even when the thread that
  // started it blocks them.
  sigset_t set = StopAndReloadSet();
  ::pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  bool stop_forwarded = false;
  while (true) {
    if (!stop_forwarded && StopRequested()) {
      stop_forwarded = true;
      if (on_stop_) on_stop_();
    }
    if (on_reload_ && TakeReloadRequest()) on_reload_();
    pollfd fds[2] = {{signal_fd(), POLLIN, 0}, {quit_read_, POLLIN, 0}};
    const int rc = ::poll(fds, 2, -1);
    if (rc < 0) continue;  // EINTR: the handler ran here; its byte is in the pipe
    if (fds[1].revents != 0) return;
    if (fds[0].revents != 0) Drain(fds[0].fd);
  }
}

}  // namespace kp
