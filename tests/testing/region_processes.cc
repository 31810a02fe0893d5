#include "tests/testing/region_processes.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace kp::testing {

namespace {

// Every child started and not yet stopped, for KillAllNow (a fixed table of
// atomics, so a signal handler may read it).
constexpr size_t kMaxChildren = 256;
std::atomic<pid_t> g_children[kMaxChildren];

void Register(pid_t pid) {
  for (auto& slot : g_children) {
    pid_t free = 0;
    if (slot.compare_exchange_strong(free, pid)) return;
  }
}

void Unregister(pid_t pid) {
  for (auto& slot : g_children) {
    pid_t p = pid;
    if (slot.compare_exchange_strong(p, 0)) return;
  }
}

// Copies this build's `relative` binary into `dir`; the build's own path
// when that fails.
std::string CopyOfBinary(const std::string& relative, const std::string& dir) {
  const std::string from = BuildBinary(relative);
  const std::string to = dir + "/bin/" + std::filesystem::path(relative).filename().string();
  std::error_code ec;
  std::filesystem::create_directories(dir + "/bin", ec);
  std::filesystem::copy_file(from, to, std::filesystem::copy_options::overwrite_existing, ec);
  return ec ? from : to;
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

double ProcessCpuMicros(pid_t pid) {
  const std::string text = ReadText("/proc/" + std::to_string(pid) + "/stat");
  size_t close = text.rfind(')');
  if (close == std::string::npos || close + 2 > text.size()) return 0;
  std::istringstream fields(text.substr(close + 2));
  std::string f;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && (fields >> f); ++i) {
    if (i == 14) utime = std::stoull(f);
    if (i == 15) stime = std::stoull(f);
  }
  return static_cast<double>(utime + stime) * 1e6 / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double SelfCpuMicros() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e6 +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

int64_t ProcessStatusKb(pid_t pid, std::string_view field) {
  if (pid <= 0) return -1;
  std::istringstream in(ReadText("/proc/" + std::to_string(pid) + "/status"));
  std::string line;
  const std::string prefix = std::string(field) + ":";
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) != 0) continue;
    try {
      return std::stoll(line.substr(prefix.size()));
    } catch (...) {
      return -1;
    }
  }
  return -1;
}

const std::vector<std::pair<std::string, std::string>>& LoadPartners() {
  static const auto* partners = new std::vector<std::pair<std::string, std::string>>{
      {"politie", "politie-incidenten"},          {"om", "om-voorwaarden"},
      {"rvdk", "rvdk-onderzoeksstatus"},          {"reclassering", "reclassering-toezicht"},
      {"veilig-thuis", "veilig-thuis-meldingen"}, {"jeugdbescherming", "jeugdbescherming-maatregelen"}};
  return *partners;
}

Result<std::string> OpenLoadCase(client::Coordinator& coordinator) {
  ketenpoort::v1::Subject s;
  s.set_role(ketenpoort::v1::SUBJECT_ROLE_VICTIM);
  s.set_bsn(Region::kBsn);
  s.set_name("Bench Testpersoon (fictief)");
  KP_ASSIGN_OR_RETURN(auto opened, coordinator.OpenCase(kLoadPurpose, {s}));
  for (const auto& [partner, category] : LoadPartners()) {
    KP_RETURN_IF_ERROR(coordinator.Admit(opened.case_id(), partner).status());
  }
  return opened.case_id();
}

RegionProcesses::RegionProcesses(const Region& region, Options options)
    : region_(region),
      options_(std::move(options)),
      gateway_binary_(CopyOfBinary("gateway/ketenpoort-gateway", options_.work_dir)),
      agent_binary_(CopyOfBinary("agent/ketenpoort-agent", options_.work_dir)),
      gateway_data_dir_(region.gateway_config().data_dir) {
  endpoint_ = "tcp://127.0.0.1:" + std::to_string(UnusedLoopbackPort());
}

RegionProcesses::~RegionProcesses() { StopAll(SIGTERM); }

Status RegionProcesses::WriteConfigs(const std::vector<std::string>& partners) {
  KP_RETURN_IF_ERROR(SetGatewayDataDir(gateway_data_dir_));
  for (const auto& p : partners) {
    KP_RETURN_IF_ERROR(WriteAgentYaml(region_.AgentConfigFor(p), endpoint_,
                                      options_.work_dir + "/" + p + ".yaml", options_.log_level,
                                      ManagementYaml(p)));
  }
  return OkStatus();
}

std::string RegionProcesses::ManagementYaml(const std::string& name) {
  if (!options_.management) return "";
  auto [it, added] = management_.try_emplace(name, "");
  if (added) it->second = "127.0.0.1:" + std::to_string(UnusedLoopbackPort());
  return "management: " + it->second + "\n";
}

std::string RegionProcesses::ManagementEndpoint(const std::string& name) const {
  auto it = management_.find(name);
  return it == management_.end() ? "" : it->second;
}

Status RegionProcesses::SetGatewayDataDir(const std::string& dir) {
  gateway_data_dir_ = dir;
  gateway::GatewayConfig g = region_.gateway_config();
  g.data_dir = dir;
  return WriteGatewayYaml(g, endpoint_, gateway_config_path(), options_.log_level,
                          options_.gateway_extra_yaml + ManagementYaml("gateway"));
}

Result<std::unique_ptr<ChildProcess>> RegionProcesses::Start(const std::string& binary,
                                                             const std::string& name) {
  KP_ASSIGN_OR_RETURN(
      auto child, ChildProcess::Spawn({binary, "run", "--config", options_.work_dir + "/" + name + ".yaml"},
                                      LogPath(name)));
  Register(child->pid());
  return child;
}

Status RegionProcesses::StartGateway() {
  if (gateway_) return FailedPreconditionError("the gateway is already running");
  // The binary makes its data folder itself (gateway/startup.h).
  KP_ASSIGN_OR_RETURN(gateway_, Start(gateway_binary_, "gateway"));
  return OkStatus();
}

bool RegionProcesses::WaitForGatewayPort(int timeout_ms) const {
  const int port = std::stoi(endpoint_.substr(endpoint_.rfind(':') + 1));
  return WaitUntil(
      [port] {
        int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(static_cast<uint16_t>(port));
        const bool up = s >= 0 && ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
        if (s >= 0) ::close(s);
        return up;
      },
      timeout_ms);
}

int RegionProcesses::Stop(std::unique_ptr<ChildProcess>* child, int signal, int timeout_ms) {
  if (!*child) return 0;
  const pid_t pid = (*child)->pid();
  (void)(*child)->Signal(signal);
  std::optional<int> code = (*child)->WaitForExit(timeout_ms);
  if (!code.has_value()) {
    (void)(*child)->Signal(SIGKILL);
    code = (*child)->WaitForExit(10'000);
  }
  Unregister(pid);
  child->reset();  // kills and reaps it if it still runs
  return code.value_or(-SIGKILL);
}

int RegionProcesses::StopGateway(int signal, int timeout_ms) {
  if (!gateway_) return last_gateway_exit_;
  last_gateway_exit_ = Stop(&gateway_, signal, timeout_ms);
  return last_gateway_exit_;
}

bool RegionProcesses::GatewayAlive() {
  if (!gateway_) return false;
  const pid_t pid = gateway_->pid();
  std::optional<int> code = gateway_->WaitForExit(0);
  if (!code.has_value()) return true;
  last_gateway_exit_ = *code;
  Unregister(pid);
  gateway_.reset();
  return false;
}

Status RegionProcesses::StartAgent(const std::string& partner) {
  std::unique_ptr<ChildProcess>& agent = agents_[partner];
  if (agent) return FailedPreconditionError("the agent of " + partner + " is already running");
  KP_ASSIGN_OR_RETURN(agent, Start(agent_binary_, partner));
  return OkStatus();
}

int RegionProcesses::StopAgent(const std::string& partner, int signal, int timeout_ms) {
  auto it = agents_.find(partner);
  if (it == agents_.end()) return 0;
  return Stop(&it->second, signal, timeout_ms);
}

pid_t RegionProcesses::agent_pid(const std::string& partner) const {
  auto it = agents_.find(partner);
  return it == agents_.end() || !it->second ? -1 : it->second->pid();
}

std::vector<pid_t> RegionProcesses::agent_pids() const {
  std::vector<pid_t> pids;
  for (const auto& [p, agent] : agents_) {
    if (agent) pids.push_back(agent->pid());
  }
  return pids;
}

void RegionProcesses::StopAll(int signal) {
  std::vector<std::unique_ptr<ChildProcess>*> all;
  for (auto& [p, agent] : agents_) {
    if (agent) all.push_back(&agent);
  }
  if (gateway_) all.push_back(&gateway_);
  for (auto* child : all) (void)(*child)->Signal(signal);  // all at once, then wait for each
  for (auto* child : all) Stop(child, signal, 5'000);
}

void RegionProcesses::KillAllNow() {
  for (auto& slot : g_children) {
    const pid_t pid = slot.load();
    if (pid > 0) ::kill(pid, SIGKILL);
  }
}

std::string RegionProcesses::ReadLog(const std::string& name) const { return ReadText(LogPath(name)); }

client::ClientConfig RegionProcesses::CoordinatorConfig(int index) const {
  client::ClientConfig c = region_.CoordinatorConfig(index);
  c.gateway_endpoint = endpoint_;
  return c;
}

Result<std::unique_ptr<client::Coordinator>> RegionProcesses::ConnectCoordinator(int index,
                                                                                 int timeout_ms) const {
  return testing::ConnectCoordinator(CoordinatorConfig(index), timeout_ms);
}

}  // namespace kp::testing
