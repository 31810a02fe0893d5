// Real Ketenpoort binaries of this build as child processes, for tests that
// need a whole process: signals, exit codes, a second holder of a lock.
//
// ChildProcess starts one with stdout and stderr going to a log file, sends it
// signals and waits for its end with a deadline (a polling loop on waitpid;
// never a fixed sleep). The helpers below write the YAML configs that
// `ketenpoort-gateway run` and `ketenpoort-agent run` read, from the configs a
// Region made (region.h).
//
// Not thread-safe.
#ifndef KETENPOORT_TESTS_TESTING_CHILD_PROCESS_H_
#define KETENPOORT_TESTS_TESTING_CHILD_PROCESS_H_

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/agent_config.h"
#include "client/coordinator.h"
#include "core/base/status.h"
#include "gateway/gateway_config.h"

namespace kp::testing {

class ChildProcess {
 public:
  // Starts args[0] (a path) with `args`; output goes to `log_path`.
  static Result<std::unique_ptr<ChildProcess>> Spawn(const std::vector<std::string>& args,
                                                     const std::string& log_path);
  // Kills (SIGKILL) and reaps the process if it still runs.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  Status Signal(int sig);
  // Waits up to `timeout_ms` for the process to end: its exit code, or -signal
  // when a signal ended it; nullopt when it still runs at the deadline.
  std::optional<int> WaitForExit(int timeout_ms);
  bool running() const { return pid_ > 0; }
  // Everything the process wrote so far.
  std::string Log() const;

 private:
  ChildProcess(pid_t pid, std::string log_path) : pid_(pid), log_path_(std::move(log_path)) {}
  pid_t pid_;
  std::string log_path_;
};

// Runs a binary to its end (up to `timeout_ms`) and returns its exit code and
// output; DeadlineExceeded when it did not end in time.
struct ProcessResult {
  int exit_code = -1;
  std::string output;
};
Result<ProcessResult> RunToEnd(const std::vector<std::string>& args, const std::string& log_path,
                               int timeout_ms);

// A binary of this build, e.g. BuildBinary("gateway/ketenpoort-gateway"),
// found from this test's own path (build/tests/<folder>/<test>).
std::string BuildBinary(const std::string& relative);

// A free TCP port on 127.0.0.1 (bound once, then released).
int UnusedLoopbackPort();

// A coordinator's client opened with `config` and connected, retried while
// the gateway process starts, for up to `timeout_ms`.
Result<std::unique_ptr<client::Coordinator>> ConnectCoordinator(const client::ClientConfig& config,
                                                                int timeout_ms);

// Polls `done` until it holds or `timeout_ms` has passed.
bool WaitUntil(const std::function<bool()>& done, int timeout_ms);

// Writes the YAML of `config`, listening on `endpoint`, to `path`, with
// `log_level` and then `extra_yaml` (more lines, e.g. "request_expiry: 20s\n").
Status WriteGatewayYaml(const gateway::GatewayConfig& config, const std::string& endpoint,
                        const std::string& path, const std::string& log_level = "info",
                        const std::string& extra_yaml = "");
// Writes the YAML of `config` (json-files sources keyed on bsn), for a
// gateway at `endpoint`, to `path`, then `extra_yaml`.
Status WriteAgentYaml(const agent::AgentConfig& config, const std::string& endpoint, const std::string& path,
                      const std::string& log_level = "info", const std::string& extra_yaml = "");
// Writes the client YAML of `config` (a Region's ClientConfigFor, with its
// pseudonym_key and policy when set) to `path`, then `extra_yaml`: what
// `ketenpoort --config` reads.
Status WriteClientYaml(const client::ClientConfig& config, const std::string& path,
                       const std::string& extra_yaml = "");

}  // namespace kp::testing

#endif  // KETENPOORT_TESTS_TESTING_CHILD_PROCESS_H_
