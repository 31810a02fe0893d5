#include "agent/connectors/command_connector.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/base/unique_fd.h"

extern char** environ;

namespace kp::agent {
namespace {

using Clock = std::chrono::steady_clock;

// glibc 2.36's <sys/pidfd.h> lacks extern "C", so the system call is made
// directly. -1 on kernels before 5.3 (Run then falls back to polling).
int PidfdOpen(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

// The running program. Whatever path Run takes, the destructor kills what is
// left of the process group and reaps the program, so no zombie stays behind.
class Child {
 public:
  explicit Child(pid_t pid) : pid_(pid), pidfd_(PidfdOpen(pid)) {}
  ~Child() { KillAndReap(); }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // Readable when the program has exited; -1 when pidfds are not available.
  int pidfd() const { return pidfd_.get(); }

  // True once the program has exited (it stays a zombie, unreaped, so its pid
  // and process group id cannot be reused before KillAndReap).
  bool Exited() {
    if (exited_) return true;
    siginfo_t info{};
    for (;;) {
      if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) == 0) break;
      if (errno == EINTR) continue;
      // ECHILD: already reaped behind our back (SIGCHLD ignored); nothing to wait for.
      exited_ = true;
      reaped_ = true;
      return true;
    }
    exited_ = info.si_pid == pid_;
    return exited_;
  }

  // SIGKILLs the whole process group (the program and anything it started
  // that stayed in it), then reaps the program. Returns its wait status, or
  // nullopt when it could not be learnt.
  std::optional<int> KillAndReap() {
    if (reaped_) return status_;
    reaped_ = true;
    ::kill(-pid_, SIGKILL);  // ESRCH when nothing is left: fine
    int status = 0;
    for (;;) {
      if (::waitpid(pid_, &status, 0) == pid_) {
        status_ = status;
        break;
      }
      if (errno != EINTR) break;
    }
    return status_;
  }

 private:
  const pid_t pid_;
  UniqueFd pidfd_;
  bool exited_ = false;
  bool reaped_ = false;
  std::optional<int> status_;
};

// posix_spawn's attribute and file-action objects, destroyed on every path.
struct SpawnSetup {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  SpawnSetup() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
};

bool SetNonBlocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  return flags >= 0 && ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

}  // namespace

Result<std::unique_ptr<Connector>> CommandConnector::Create(const ConnectorConfig& config) {
  if (config.kind != ConnectorConfig::Kind::kCommand) return InvalidArgumentError("not a command source");
  if (config.argv.empty() || config.argv[0].empty()) {
    return InvalidArgumentError("a command source needs argv: the program and its arguments");
  }
  if (config.timeout_ms <= 0) return InvalidArgumentError("the timeout of a command source must be positive");
  if (config.max_output_bytes == 0) {
    return InvalidArgumentError("the output limit of a command source must be positive");
  }
  const std::string& program = config.argv[0];
  struct stat st {};
  if (::stat(program.c_str(), &st) != 0) {
    return UnavailableError("source unavailable: cannot run " + program + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) return UnavailableError("source unavailable: " + program + " is not a file");
  if (::access(program.c_str(), X_OK) != 0) {
    return UnavailableError("source unavailable: cannot run " + program + ": " + std::strerror(errno));
  }
  return std::unique_ptr<Connector>(
      new CommandConnector(config.argv, config.timeout_ms, config.max_output_bytes));
}

std::string CommandConnector::Describe() const {
  std::string out = "command";
  for (const auto& arg : argv_) out += " " + arg;
  return out;
}

Result<std::vector<Record>> CommandConnector::Query(const SubjectQuery& subject) {
  std::string input;
  try {
    nlohmann::ordered_json j;
    j["ref"] = subject.ref;
    j["role"] = subject.role;
    j["bsn"] = subject.bsn;
    j["name"] = subject.name;
    j["date_of_birth"] = subject.date_of_birth;
    input = j.dump() + "\n";
  } catch (const std::exception&) {  // the message would quote the text
    return InvalidArgumentError("the subject's identifiers are not valid UTF-8; the source was not asked");
  }
  KP_ASSIGN_OR_RETURN(std::string output, Run(input));
  auto records = ParseRecordsJson(output);
  if (!records.ok()) {
    return InvalidArgumentError("source printed malformed output: " + records.status().message());
  }
  return records;
}

Result<std::string> CommandConnector::Run(const std::string& input) const {
  // stdin is a socket, so that writing to a program that has stopped reading
  // gives EPIPE (MSG_NOSIGNAL) instead of SIGPIPE for the whole agent.
  int in_fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in_fds) != 0) {
    return UnavailableError(std::string("source unavailable: cannot make a socket: ") + std::strerror(errno));
  }
  UniqueFd to_child(in_fds[0]), child_in(in_fds[1]);
  int out_fds[2];
  if (::pipe2(out_fds, O_CLOEXEC) != 0) {
    return UnavailableError(std::string("source unavailable: cannot make a pipe: ") + std::strerror(errno));
  }
  UniqueFd from_child(out_fds[0]), child_out(out_fds[1]);
  if (!SetNonBlocking(to_child.get()) || !SetNonBlocking(from_child.get())) {
    return UnavailableError(std::string("source unavailable: cannot set up pipes: ") + std::strerror(errno));
  }

  SpawnSetup setup;
  posix_spawn_file_actions_adddup2(&setup.actions, child_in.get(), STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&setup.actions, child_out.get(), STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&setup.actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addclosefrom_np(&setup.actions, STDERR_FILENO + 1);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGALRM, SIGUSR1, SIGUSR2, SIGXFSZ}) {
    sigaddset(&defaults, sig);
  }
  posix_spawnattr_setflags(&setup.attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&setup.attr, 0);  // its own group, so the whole group can be killed
  posix_spawnattr_setsigmask(&setup.attr, &none);
  posix_spawnattr_setsigdefault(&setup.attr, &defaults);

  std::vector<char*> argv;
  for (const auto& arg : argv_) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int err = ::posix_spawn(&pid, argv[0], &setup.actions, &setup.attr, argv.data(), environ);
  if (err != 0) {
    return UnavailableError("source unavailable: cannot start " + argv_[0] + ": " + std::strerror(err));
  }
  Child child(pid);
  child_in.Close();
  child_out.Close();

  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms_);
  size_t written = 0;
  std::string output;
  std::string chunk(64 * 1024, '\0');
  for (;;) {
    // Looked at once per round: had the program exited between two looks,
    // this round could wait on nothing until the timeout.
    const bool exited = child.Exited();
    if (!from_child.open() && exited) break;
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      child.KillAndReap();
      return DeadlineExceededError("source timed out after " + std::to_string(timeout_ms_) + " ms");
    }
    int wait_ms = static_cast<int>(std::min<int64_t>(left, 60'000));
    pollfd fds[3];
    nfds_t n = 0;
    int in_slot = -1, out_slot = -1;
    if (to_child.open()) {
      in_slot = static_cast<int>(n);
      fds[n++] = {to_child.get(), POLLOUT, 0};
    }
    if (from_child.open()) {
      out_slot = static_cast<int>(n);
      fds[n++] = {from_child.get(), POLLIN, 0};
    }
    if (!exited) {
      if (child.pidfd() >= 0) {
        fds[n++] = {child.pidfd(), POLLIN, 0};
      } else {
        wait_ms = std::min(wait_ms, 10);  // no pidfd: look at the child now and then
      }
    }
    if (::poll(fds, n, wait_ms) < 0) {
      if (errno == EINTR) continue;
      return UnavailableError(std::string("source unavailable: poll failed: ") + std::strerror(errno));
    }

    if (in_slot >= 0 && fds[in_slot].revents != 0) {
      const ssize_t sent =
          ::send(to_child.get(), input.data() + written, input.size() - written, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (sent > 0) written += static_cast<size_t>(sent);
      if (written == input.size() ||
          (sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        // All sent, or the program stopped reading (EPIPE): either way its
        // stdin ends here; what it prints is still its answer.
        to_child.Close();
      }
    }

    if (out_slot >= 0 && fds[out_slot].revents != 0) {
      for (;;) {
        const size_t room = std::min(chunk.size(), max_output_bytes_ + 1 - output.size());
        const ssize_t got = ::read(from_child.get(), chunk.data(), room);
        if (got > 0) {
          output.append(chunk.data(), static_cast<size_t>(got));
          if (output.size() > max_output_bytes_) {
            child.KillAndReap();
            return InvalidArgumentError("source output exceeds " + std::to_string(max_output_bytes_) +
                                        " bytes");
          }
          continue;
        }
        if (got == 0) {
          from_child.Close();  // end of output
          break;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        return UnavailableError(std::string("source unavailable: cannot read the source's output: ") +
                                std::strerror(errno));
      }
    }
  }

  const std::optional<int> status = child.KillAndReap();
  if (!status.has_value()) {
    return UnavailableError("source unavailable: the exit status of source command " + argv_[0] +
                            " could not be learnt");
  }
  if (WIFSIGNALED(*status)) {
    return UnavailableError("source unavailable: source command was killed by signal " +
                            std::to_string(WTERMSIG(*status)));
  }
  if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
    return UnavailableError("source unavailable: source command exited with status " +
                            std::to_string(WEXITSTATUS(*status)));
  }
  return output;
}

}  // namespace kp::agent
