// The management address of the real ketenpoort-gateway and ketenpoort-agent
// processes (docs/operations.md "Monitoring"): after a real exchange (a
// coordinator's request answered by the police agent), `status` of each
// binary prints what the running process does, GET /metrics of each passes
// the real `promtool check metrics` and counts the exchange, neither carries
// the subject's BSN, and `status` of a stopped gateway says it is not
// running (exit 3).
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <regex>

#include "core/base/encoding.h"
#include "core/observe/management_server.h"
#include "core/observe/status_report.h"
#include "tests/testing/child_process.h"
#include "tests/testing/region_processes.h"
#include "tests/testing/status_matchers.h"

namespace kp {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

using ::kp::testing::IsOk;
using ::kp::testing::Region;
using ::kp::testing::RegionProcesses;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr int kDeadlineMs = 60'000;

// A port nothing listens on now (bound to 0 and released).
int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    return -1;
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

std::string Promtool(const std::string& dir, const std::string& name, const std::string& text) {
  const std::string in = dir + "/" + name + ".prom";
  std::ofstream(in) << text;
  const std::string cmd = "promtool check metrics < " + in + " 2>&1; echo \"exit=$?\"";
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return "popen failed";
  char buf[512];
  while (fgets(buf, sizeof buf, p) != nullptr) out += buf;
  pclose(p);
  return out;
}

// The value of one sample line ("name{labels} value"), or -1.
double Sample(const std::string& text, const std::string& series) {
  const size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

class MonitoringProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(std::system("command -v promtool >/dev/null"), 0)
        << "promtool is missing: apt-get install prometheus (./run installs it)";
    auto r = Region::Create(dir_.path(), SystemClock::Get());
    ASSERT_THAT(r, IsOk());
    region_ = std::move(r).value();
    run_ = dir_.File("run");
    ::mkdir(run_.c_str(), 0700);
    gateway_address_.port = FreePort();
    agent_address_.port = FreePort();
    ASSERT_GT(gateway_address_.port, 0);
    ASSERT_GT(agent_address_.port, 0);
    processes_ = std::make_unique<RegionProcesses>(
        *region_, RegionProcesses::Options{run_, "info", "management: " + gateway_address_.ToString() + "\n"});
    ASSERT_OK(processes_->WriteConfigs({"politie"}));
    std::ofstream(run_ + "/politie.yaml", std::ios::app) << "management: " << agent_address_.ToString() << "\n";
  }

  void TearDown() override {
    coordinator_.reset();
    processes_->StopAll(SIGTERM);
    if (HasFailure()) {
      std::cerr << "gateway log:\n" << processes_->ReadLog("gateway") << "\nagent log:\n"
                << processes_->ReadLog("politie");
    }
  }

  // `binary status --config config [--json]`: exit code and output.
  testing::ProcessResult StatusOf(const std::string& binary, const std::string& config, bool json = false) {
    std::vector<std::string> args = {testing::BuildBinary(binary), "status", "--config", config};
    if (json) args.push_back("--json");
    auto r = testing::RunToEnd(args, run_ + "/status.out", 20'000);
    EXPECT_THAT(r, IsOk());
    return r.ok() ? *r : testing::ProcessResult{};
  }

  // Polls GET /status until `done` holds for the report (published once a second).
  observe::StatusReport AwaitStatus(const observe::ManagementAddress& address,
                                    const std::function<bool(const observe::StatusReport&)>& done) {
    observe::StatusReport last;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kDeadlineMs);
    while (std::chrono::steady_clock::now() < deadline) {
      auto reply = observe::ManagementCall(address, "GET", "/status");
      if (reply.ok() && reply->status == 200) {
        auto report = observe::StatusFromJson(reply->body);
        EXPECT_THAT(report, IsOk());
        if (report.ok()) {
          last = *report;
          if (done(last)) return last;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "GET /status on " << address.ToString() << " did not reach the expected state:\n"
                  << observe::StatusToText(last);
    return last;
  }

  std::string Metrics(const observe::ManagementAddress& address) {
    auto reply = observe::ManagementCall(address, "GET", "/metrics");
    EXPECT_THAT(reply, IsOk());
    if (!reply.ok()) return "";
    EXPECT_EQ(reply->status, 200);
    EXPECT_THAT(reply->content_type, HasSubstr("version=0.0.4"));
    return reply->body;
  }

  testing::TempDir dir_;
  std::string run_;
  std::unique_ptr<Region> region_;
  std::unique_ptr<RegionProcesses> processes_;
  std::unique_ptr<client::Coordinator> coordinator_;
  observe::ManagementAddress gateway_address_, agent_address_;
};

TEST_F(MonitoringProcessTest, StatusAndMetricsOfTheRunningGatewayAndAgent) {
  ASSERT_OK(processes_->StartGateway());
  ASSERT_OK(processes_->StartAgent("politie"));
  auto c = processes_->ConnectCoordinator(0, kDeadlineMs);
  ASSERT_THAT(c, IsOk());
  coordinator_ = std::move(c).value();
  auto case_id = testing::OpenLoadCase(*coordinator_);
  ASSERT_THAT(case_id, IsOk());
  const std::string category = testing::LoadPartners().front().second;
  auto id = coordinator_->SendRequest({*case_id, "politie", {category}, testing::kLoadPurpose, {}, ""});
  ASSERT_THAT(id, IsOk());
  auto outcome = coordinator_->AwaitOutcome(*id, kDeadlineMs);
  ASSERT_THAT(outcome, IsOk());

  // The gateway's report shows the delivery, the agent connected, what is in force.
  const observe::StatusReport g = AwaitStatus(gateway_address_, [](const observe::StatusReport& r) {
    bool agent = false;
    for (const auto& p : r.connected) agent = agent || (p.kind == "agent");
    return r.last_receipt.has_value() && agent;
  });
  EXPECT_EQ(g.service, "gateway");
  EXPECT_EQ(g.participant_id, "gateway");
  EXPECT_GT(g.audit_log.records, 0u);
  EXPECT_GT(g.audit_log.bytes, 0u);
  EXPECT_TRUE(g.audit_log.writable);
  ASSERT_TRUE(g.last_receipt.has_value());
  EXPECT_EQ(g.last_receipt->id, HexEncode(*id));
  bool policy = false, registry = false;
  for (const auto& in : g.in_force) {
    if (in.kind == "policy") policy = in.sha256_hex.size() == 64;
    if (in.kind == "registry") registry = in.serial >= 1;
  }
  EXPECT_TRUE(policy && registry) << observe::StatusToText(g);

  // The agent's: connected to the gateway, its receipt.
  const observe::StatusReport a = AwaitStatus(agent_address_, [](const observe::StatusReport& r) {
    return r.last_receipt.has_value() && !r.connected.empty();
  });
  EXPECT_EQ(a.service, "agent");
  EXPECT_EQ(a.connected.front().kind, "gateway");
  EXPECT_GT(a.audit_log.records, 0u);

  // `status` of both binaries, as an operator runs it.
  const testing::ProcessResult gs = StatusOf("gateway/ketenpoort-gateway", processes_->gateway_config_path());
  EXPECT_EQ(gs.exit_code, observe::kStatusRunning) << gs.output;
  EXPECT_THAT(gs.output, HasSubstr("gateway gateway is running"));
  EXPECT_THAT(gs.output, HasSubstr("politie"));
  EXPECT_THAT(gs.output, HasSubstr("last receipt:   delivery " + HexEncode(*id)));
  EXPECT_THAT(gs.output, HasSubstr("policy "));
  EXPECT_THAT(gs.output, HasSubstr("registry"));
  const testing::ProcessResult as = StatusOf("agent/ketenpoort-agent", run_ + "/politie.yaml");
  EXPECT_EQ(as.exit_code, observe::kStatusRunning) << as.output;
  EXPECT_THAT(as.output, HasSubstr("agent "));
  EXPECT_THAT(as.output, HasSubstr("(gateway)"));
  const testing::ProcessResult gj = StatusOf("gateway/ketenpoort-gateway", processes_->gateway_config_path(), true);
  EXPECT_THAT(observe::StatusFromJson(gj.output), IsOk()) << gj.output;

  // /metrics of both: valid for promtool, counting the exchange.
  const std::string gm = Metrics(gateway_address_);
  const std::string am = Metrics(agent_address_);
  const std::string gcheck = Promtool(run_, "gateway", gm);
  EXPECT_THAT(gcheck, HasSubstr("exit=0")) << gcheck << "\n" << gm;
  const std::string acheck = Promtool(run_, "agent", am);
  EXPECT_THAT(acheck, HasSubstr("exit=0")) << acheck << "\n" << am;
  EXPECT_GE(Sample(gm, "ketenpoort_gateway_exchanges_total{outcome=\"delivered\"}"), 1) << gm;
  EXPECT_GE(Sample(gm, "ketenpoort_gateway_exchanges_total{outcome=\"permitted\"}"), 1) << gm;
  EXPECT_EQ(Sample(gm, "ketenpoort_gateway_request_duration_seconds_count{outcome=\"delivered\"}"), 1) << gm;
  EXPECT_GE(Sample(gm, "ketenpoort_audit_append_seconds_count"), 1) << gm;
  EXPECT_GE(Sample(gm, "ketenpoort_audit_log_records"), 1) << gm;
  EXPECT_EQ(Sample(gm, "ketenpoort_audit_log_writable"), 1) << gm;
  EXPECT_GE(Sample(gm, "ketenpoort_gateway_connected_peers{kind=\"agent\"}"), 1) << gm;
  EXPECT_GE(Sample(gm, "ketenpoort_config_serial{kind=\"registry\"}"), 1) << gm;
  EXPECT_EQ(Sample(am, "ketenpoort_agent_requests_total{outcome=\"answered\"}"), 1) << am;
  EXPECT_EQ(Sample(am, "ketenpoort_agent_gateway_connected"), 1) << am;
  EXPECT_GE(Sample(am, "ketenpoort_audit_append_seconds_count"), 1) << am;
  // The public-key operations each did (core/base/operation_counts.h): the
  // gateway verified the request and signed the authorisation; the agent
  // opened the subject data and sealed the answer.
  EXPECT_GE(Sample(gm, "ketenpoort_public_key_operations_total{operation=\"ed25519_sign\"}"), 2) << gm;
  EXPECT_GE(Sample(gm, "ketenpoort_public_key_operations_total{operation=\"ed25519_verify\"}"), 2) << gm;
  EXPECT_GE(Sample(am, "ketenpoort_public_key_operations_total{operation=\"box_seal\"}"), 1) << am;
  EXPECT_GE(Sample(am, "ketenpoort_public_key_operations_total{operation=\"box_seal_open\"}"), 1) << am;
  // Ids and counts only: the subject's BSN is nowhere.
  for (const std::string* body : {&gm, &am, &gs.output, &as.output, &gj.output}) {
    EXPECT_THAT(*body, Not(HasSubstr(Region::kBsn)));
  }

  // Stopped: `status` says so, exit 3.
  EXPECT_EQ(processes_->StopGateway(SIGTERM), 0);
  const testing::ProcessResult gone = StatusOf("gateway/ketenpoort-gateway", processes_->gateway_config_path());
  EXPECT_EQ(gone.exit_code, observe::kStatusNotRunning) << gone.output;
  EXPECT_THAT(gone.output, HasSubstr("gateway is not running"));
  // The agent notices the gateway is gone.
  const observe::StatusReport alone =
      AwaitStatus(agent_address_, [](const observe::StatusReport& r) { return r.connected.empty(); });
  EXPECT_FALSE(alone.warnings.empty());
}

TEST_F(MonitoringProcessTest, StatusOfAnotherGatewaysAddressIsNotThisOnesStatus) {
  ASSERT_OK(processes_->StartGateway());
  AwaitStatus(gateway_address_, [](const observe::StatusReport&) { return true; });
  // A copy of the configuration with another data_dir, same management address.
  std::ifstream in(processes_->gateway_config_path());
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  text = std::regex_replace(text, std::regex("data_dir: .*"), "data_dir: " + dir_.File("other-data"));
  std::ofstream(run_ + "/other.yaml") << text;
  const testing::ProcessResult other = StatusOf("gateway/ketenpoort-gateway", run_ + "/other.yaml");
  EXPECT_EQ(other.exit_code, observe::kStatusNotRunning) << other.output;
  EXPECT_THAT(other.output, HasSubstr("another gateway"));
  // A configuration that cannot be read: exit 2, saying why.
  std::ofstream(run_ + "/broken.yaml") << "management: nowhere.example:1\n";
  const testing::ProcessResult broken = StatusOf("gateway/ketenpoort-gateway", run_ + "/broken.yaml");
  EXPECT_EQ(broken.exit_code, observe::kStatusBadConfig) << broken.output;
  EXPECT_THAT(broken.output, HasSubstr("management"));
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp
