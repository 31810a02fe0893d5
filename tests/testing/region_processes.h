// RegionProcesses: a Region's gateway and agents as real processes — the
// ketenpoort-gateway and ketenpoort-agent binaries of this build started as
// ChildProcesses (child_process.h), each with a YAML config written from the
// Region's configuration — for the programs that must see what a deployment
// sees (crashes, restarts, memory): exchange_bench and reliability_harness.
// Coordinators stay in the calling process (client::Coordinator), pointed at
// the gateway's port.
//
// The gateway listens on a free port of 127.0.0.1 chosen once, and on the
// same port after every restart. The binaries are copied to WORK/bin when
// this is made, and started from there. Logs go to WORK/<name>.log.
//
// Not thread-safe: one thread starts and stops processes. KillAllNow() may be
// called from a signal handler or an atexit handler.
#ifndef KETENPOORT_TESTS_TESTING_REGION_PROCESSES_H_
#define KETENPOORT_TESTS_TESTING_REGION_PROCESSES_H_

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "client/client_config.h"
#include "client/coordinator.h"
#include "core/base/status.h"
#include "tests/testing/child_process.h"
#include "tests/testing/region.h"

namespace kp::testing {

// CPU time (user + system) a process used so far, in microseconds; 0 when it
// is gone.
double ProcessCpuMicros(pid_t pid);
double SelfCpuMicros();
// A "kB" field of /proc/PID/status ("VmRSS", "VmHWM", ...); -1 when the
// process or the field is gone.
int64_t ProcessStatusKb(pid_t pid, std::string_view field);

// Six partners, each with one category that the example policy lets a
// casusregisseur ask for with purpose kLoadPurpose in a new case: the load
// the benchmarks spread over several agents ("politie" first).
inline constexpr char kLoadPurpose[] = "plan-van-aanpak";
const std::vector<std::pair<std::string, std::string>>& LoadPartners();
// Opens a case for kLoadPurpose about Region::kBsn (a fictional victim) and
// admits every partner of LoadPartners(); returns the case id.
Result<std::string> OpenLoadCase(client::Coordinator& coordinator);

class RegionProcesses {
 public:
  struct Options {
    std::string work_dir;  // configs and logs (exists)
    std::string log_level = "warn";
    // More lines for gateway.yaml, e.g. "request_expiry: 20s\n".
    std::string gateway_extra_yaml;
    // Every process serves /status and /metrics on a free loopback port of
    // its own (ManagementAddress); otherwise the defaults apply (the first
    // process takes 9470/9471, the others run without one).
    bool management = false;
  };

  // Borrows `region`, which must outlive this object.
  RegionProcesses(const Region& region, Options options);
  // Stops every process still running (SIGTERM, then SIGKILL after 5 s).
  ~RegionProcesses();
  RegionProcesses(const RegionProcesses&) = delete;
  RegionProcesses& operator=(const RegionProcesses&) = delete;

  // Writes gateway.yaml and one <partner>.yaml per partner (who will run).
  Status WriteConfigs(const std::vector<std::string>& partners);
  // Points the gateway at another data folder (rewrites gateway.yaml; takes
  // effect at the next start).
  Status SetGatewayDataDir(const std::string& dir);
  const std::string& gateway_data_dir() const { return gateway_data_dir_; }

  Status StartGateway();
  // True once the gateway accepts TCP connections (within `timeout_ms`).
  bool WaitForGatewayPort(int timeout_ms) const;
  // Sends `signal`, waits up to `timeout_ms` for the exit (then SIGKILL) and
  // returns the exit code, or -signal when a signal ended it. When the
  // gateway had already ended (GatewayAlive() saw it), its exit code then.
  int StopGateway(int signal, int timeout_ms = 10'000);
  // -1 when not running (or it exited and was reaped).
  pid_t gateway_pid() const { return gateway_ ? gateway_->pid() : -1; }
  // True while the gateway process has not exited (reaps it when it has).
  bool GatewayAlive();

  Status StartAgent(const std::string& partner);
  int StopAgent(const std::string& partner, int signal, int timeout_ms = 10'000);
  pid_t agent_pid(const std::string& partner) const;
  std::vector<pid_t> agent_pids() const;

  // Every process: `signal`, then SIGKILL for those still there after 5 s.
  void StopAll(int signal);
  // SIGKILL to every process started by any RegionProcesses and not yet
  // stopped. Async-signal-safe.
  static void KillAllNow();

  const std::string& endpoint() const { return endpoint_; }
  std::string gateway_config_path() const { return options_.work_dir + "/gateway.yaml"; }
  std::string LogPath(const std::string& name) const { return options_.work_dir + "/" + name + ".log"; }
  std::string ReadLog(const std::string& name) const;
  // With Options::management: "127.0.0.1:PORT" of "gateway" or a partner's
  // agent (after WriteConfigs); empty otherwise.
  std::string ManagementEndpoint(const std::string& name) const;

  // Coordinator `index` of the region, pointed at the gateway process.
  client::ClientConfig CoordinatorConfig(int index) const;
  // Opens that coordinator's client and connects, retrying while the gateway
  // starts, for up to `timeout_ms`.
  Result<std::unique_ptr<client::Coordinator>> ConnectCoordinator(int index, int timeout_ms) const;

 private:
  Result<std::unique_ptr<ChildProcess>> Start(const std::string& binary, const std::string& name);
  std::string ManagementYaml(const std::string& name);  // the `management:` line, a port chosen once
  static int Stop(std::unique_ptr<ChildProcess>* child, int signal, int timeout_ms);

  const Region& region_;
  const Options options_;
  std::map<std::string, std::string> management_;  // name -> "127.0.0.1:PORT"

  // Copies in WORK/bin, made once: a rebuild while this runs (the build
  // folder is shared) must neither change the binaries half-way nor leave a
  // moment without one.
  const std::string gateway_binary_;
  const std::string agent_binary_;
  std::string endpoint_;
  std::string gateway_data_dir_;
  std::unique_ptr<ChildProcess> gateway_;
  int last_gateway_exit_ = 0;
  std::map<std::string, std::unique_ptr<ChildProcess>> agents_;
};

}  // namespace kp::testing

#endif  // KETENPOORT_TESTS_TESTING_REGION_PROCESSES_H_
