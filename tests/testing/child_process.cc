#include "tests/testing/child_process.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace kp::testing {

Result<std::unique_ptr<ChildProcess>> ChildProcess::Spawn(const std::vector<std::string>& args,
                                                          const std::string& log_path) {
  if (args.empty()) return InvalidArgumentError("no program");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  // The child starts with no signal blocked and default dispositions,
  // whatever this test process did.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argv[0], &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return InternalError("cannot start " + args[0] + ": " + std::strerror(rc));
  return std::unique_ptr<ChildProcess>(new ChildProcess(pid, log_path));
}

ChildProcess::~ChildProcess() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
}

Status ChildProcess::Signal(int sig) {
  if (pid_ <= 0) return FailedPreconditionError("the process has ended");
  if (::kill(pid_, sig) != 0) return InternalError(std::string("kill: ") + std::strerror(errno));
  return OkStatus();
}

std::optional<int> ChildProcess::WaitForExit(int timeout_ms) {
  std::optional<int> result;
  WaitUntil(
      [&] {
        if (pid_ <= 0) return true;
        int status = 0;
        const pid_t r = ::waitpid(pid_, &status, WNOHANG);
        if (r != pid_) return false;
        pid_ = -1;
        result = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
        return true;
      },
      timeout_ms);
  return result;
}

std::string ChildProcess::Log() const {
  std::ifstream in(log_path_);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

Result<ProcessResult> RunToEnd(const std::vector<std::string>& args, const std::string& log_path,
                               int timeout_ms) {
  KP_ASSIGN_OR_RETURN(auto child, ChildProcess::Spawn(args, log_path));
  auto code = child->WaitForExit(timeout_ms);
  if (!code.has_value()) return DeadlineExceededError(args[0] + " did not end in time");
  return ProcessResult{*code, child->Log()};
}

std::string BuildBinary(const std::string& relative) {
  const auto self = std::filesystem::canonical("/proc/self/exe");
  return (self.parent_path().parent_path().parent_path() / relative).string();
}

int UnusedLoopbackPort() {
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(s);
  return ntohs(a.sin_port);
}

bool WaitUntil(const std::function<bool()>& done, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // a poll interval, not a wait for an event
  }
}

Result<std::unique_ptr<client::Coordinator>> ConnectCoordinator(const client::ClientConfig& config,
                                                                int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  Status connected = UnavailableError("not tried");
  do {
    KP_ASSIGN_OR_RETURN(auto c, client::Coordinator::Open(config, SystemClock::Get()));
    connected = c->Connect(200);
    if (connected.ok()) return c;
  } while (std::chrono::steady_clock::now() < deadline);
  return connected;
}

namespace {
Status WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  if (!out) return InternalError("cannot write " + path);
  return OkStatus();
}
}  // namespace

Status WriteGatewayYaml(const gateway::GatewayConfig& g, const std::string& endpoint, const std::string& path,
                        const std::string& log_level, const std::string& extra_yaml) {
  std::ostringstream y;
  y << "listen: " << endpoint << "\nidentity: " << g.identity << "\nregistry: " << g.registry
    << "\nenrolment_card: " << g.enrolment_card << "\npolicy: " << g.policy << "\ndata_dir: " << g.data_dir
    << "\nlog_origin: " << g.log_origin << "\nlog_level: " << log_level << "\n"
    << extra_yaml;
  return WriteText(path, y.str());
}

Status WriteAgentYaml(const agent::AgentConfig& a, const std::string& endpoint, const std::string& path,
                      const std::string& log_level, const std::string& extra_yaml) {
  std::ostringstream y;
  y << "identity: " << a.identity << "\ngateway:\n  endpoint: " << endpoint << "\n  card: " << a.gateway_card
    << "\n  log_origin: " << a.gateway_log_origin << "\nenrolment_card: " << a.enrolment_card
    << "\nregistry: " << a.registry << "\npolicy: " << a.policy << "\ndata_dir: " << a.data_dir
    << "\nlog_level: " << log_level << "\ncategories:\n";
  for (const auto& [category, source] : a.sources) {
    y << "  " << category << ":\n    source:\n      kind: json-files\n      folder: " << source.folder
      << "\n      key: bsn\n";
  }
  y << extra_yaml;
  return WriteText(path, y.str());
}

Status WriteClientYaml(const client::ClientConfig& c, const std::string& path,
                       const std::string& extra_yaml) {
  std::ostringstream y;
  y << "gateway:\n  endpoint: " << c.gateway_endpoint << "\n  card: " << c.gateway_card
    << "\nidentity: " << c.identity << "\nenrolment_card: " << c.enrolment_card
    << "\nregistry: " << c.registry << "\nstore: " << c.store << "\n";
  if (!c.pseudonym_key.empty()) y << "pseudonym_key: " << c.pseudonym_key << "\n";
  if (!c.policy.empty()) y << "policy: " << c.policy << "\n";
  y << extra_yaml;
  return WriteText(path, y.str());
}

}  // namespace kp::testing
