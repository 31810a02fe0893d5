// The real ketenpoort-gateway process (issue 12): SIGHUP reloads and it keeps
// serving, SIGTERM/SIGINT end it with exit 0 and a log that verifies, and
// `check` names a data folder that a running gateway holds, or one nearly full. Keys, registry and
// policy come from a Region; the client is the real coordinator client on
// CURVE over 127.0.0.1.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "client/coordinator.h"
#include "core/audit/log_reader.h"
#include "core/audit/log_verifier.h"
#include "gateway/gateway.h"
#include "tests/testing/child_process.h"
#include "tests/testing/notify_listener.h"
#include "tests/testing/region.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_time.h"

namespace kp {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

using ::kp::testing::ChildProcess;
using ::kp::testing::IsOk;
using ::kp::testing::Region;
using ::testing::HasSubstr;
using ::testing::Not;
namespace v1 = ketenpoort::v1;

using test::kProcessDeadlineMs;

class GatewayProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = Region::Create(dir_.path(), SystemClock::Get());
    ASSERT_THAT(r, IsOk());
    region_ = std::move(r).value();
    endpoint_ = "tcp://127.0.0.1:" + std::to_string(testing::UnusedLoopbackPort());
    ASSERT_THAT(testing::WriteGatewayYaml(region_->gateway_config(), endpoint_, config_path()), IsOk());
    ASSERT_OK(gateway::PrepareDataDir(region_->gateway_config()));  // as a start makes it
  }

  std::string config_path() const { return dir_.File("gateway.yaml"); }
  std::string audit_dir() const { return gateway::Gateway::AuditDir(region_->gateway_config()); }

  void StartGateway() {
    auto g = ChildProcess::Spawn({testing::BuildBinary("gateway/ketenpoort-gateway"), "run", "--config",
                                  config_path()},
                                 dir_.File("gateway.log"));
    ASSERT_THAT(g, IsOk());
    gateway_ = std::move(g).value();
  }

  // A coordinator connected to the gateway process (retried until it listens).
  std::unique_ptr<client::Coordinator> Connect() {
    client::ClientConfig cc = region_->CoordinatorConfig();
    cc.gateway_endpoint = endpoint_;
    auto c = testing::ConnectCoordinator(cc, kProcessDeadlineMs);
    EXPECT_THAT(c, IsOk()) << gateway_->Log();
    return c.ok() ? std::move(c).value() : nullptr;
  }

  // A case command answered by the gateway: it serves.
  void ExpectServes(client::Coordinator& c) {
    v1::Subject s;
    s.set_role(v1::SUBJECT_ROLE_VICTIM);
    s.set_bsn(Region::kBsn);
    s.set_name("Proces Testpersoon (fictief)");
    auto opened = c.OpenCase("plan-van-aanpak", {s});
    ASSERT_THAT(opened, IsOk());
    EXPECT_THAT(c.Admit(opened->case_id(), "politie"), IsOk());
  }

  size_t LogLinesWith(const std::string& text) const {
    const std::string log = gateway_->Log();
    size_t n = 0;
    for (size_t at = log.find(text); at != std::string::npos; at = log.find(text, at + 1)) ++n;
    return n;
  }

  std::vector<v1::AuditRecord> AuditRecords() const {
    std::vector<v1::AuditRecord> out;
    auto reader = audit::LogReader::Open(audit_dir());
    EXPECT_THAT(reader, IsOk());
    if (!reader.ok()) return out;
    EXPECT_THAT((*reader)->ForEachEntry([&](const audit::LogEntry& e) {
      out.push_back(e.record);
      return OkStatus();
    }),
                IsOk());
    return out;
  }

  void ExpectCleanExit(int sig) {
    ASSERT_THAT(gateway_->Signal(sig), IsOk());
    auto code = gateway_->WaitForExit(kProcessDeadlineMs);
    ASSERT_TRUE(code.has_value()) << "the gateway did not stop";
    EXPECT_EQ(*code, 0) << gateway_->Log();
    EXPECT_THAT(gateway_->Log(), HasSubstr("gateway stopping"));
    EXPECT_THAT(gateway_->Log(), Not(HasSubstr("Interrupted system call")));
    // A normal stop is news, not an alarm: nothing at critical (or error).
    EXPECT_THAT(gateway_->Log(), Not(HasSubstr(" critical "))) << gateway_->Log();
    EXPECT_THAT(gateway_->Log(), Not(HasSubstr(" error "))) << gateway_->Log();
    audit::VerifyReport report = audit::VerifyLog(audit_dir(), {});
    EXPECT_THAT(report.status, IsOk());
    EXPECT_GT(report.records, 0u);
  }

  testing::TempDir dir_;
  std::unique_ptr<Region> region_;
  std::string endpoint_;
  std::unique_ptr<ChildProcess> gateway_;
};

TEST_F(GatewayProcessTest, HangupReloadsAndTheGatewayKeepsServing) {
  StartGateway();
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  ExpectServes(*c);
  for (size_t i = 1; i <= 3; ++i) {
    ASSERT_THAT(gateway_->Signal(SIGHUP), IsOk());
    ASSERT_TRUE(testing::WaitUntil([&] { return LogLinesWith("reload: registry serial") == i; }, kProcessDeadlineMs))
        << "reload " << i << " not seen:\n"
        << gateway_->Log();
    ASSERT_TRUE(gateway_->running());
    ExpectServes(*c);  // the same connection, still served
  }
  c.reset();
  ExpectCleanExit(SIGTERM);
  size_t registry_reloads = 0, policy_reloads = 0;
  for (const auto& r : AuditRecords()) {
    if (r.event() == v1::AUDIT_EVENT_PARTICIPANT_ENROLLED && r.reason().rfind("registry reloaded", 0) == 0) {
      ++registry_reloads;
    }
    if (r.event() == v1::AUDIT_EVENT_POLICY_LOADED && r.reason().find(" loaded") != std::string::npos &&
        r.reason().rfind("policy ", 0) == 0) {
      ++policy_reloads;
    }
  }
  EXPECT_EQ(registry_reloads, 3u);
  EXPECT_GE(policy_reloads, 3u);  // the start may record the policy too
}

TEST_F(GatewayProcessTest, TermFinishesAndExitsZeroWithAVerifiableLog) {
  StartGateway();
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  ExpectServes(*c);
  c.reset();
  ExpectCleanExit(SIGTERM);
}

// Type=notify and WatchdogSec= in deploy/ketenpoort-gateway.service: the
// process says READY=1 once it serves, pings the watchdog from its loop at
// half the interval systemd gives (here 0.4 s), and says STOPPING=1 on
// SIGTERM (core/base/systemd_notify.h). The socket is a real one, as
// systemd's; only deadlines, no timing asserted.
TEST_F(GatewayProcessTest, UnderSystemdItSaysReadyPingsTheWatchdogAndSaysStopping) {
  testing::NotifyListener systemd(dir_.File("notify"));
  ASSERT_TRUE(systemd.ok());
  ::setenv("NOTIFY_SOCKET", systemd.path().c_str(), 1);
  ::setenv("WATCHDOG_USEC", "400000", 1);
  StartGateway();
  ::unsetenv("NOTIFY_SOCKET");
  ::unsetenv("WATCHDOG_USEC");
  ASSERT_TRUE(systemd.WaitFor("READY=1", kProcessDeadlineMs)) << gateway_->Log();
  auto c = Connect();  // ready means serving
  ASSERT_NE(c, nullptr);
  ExpectServes(*c);
  EXPECT_TRUE(systemd.WaitFor("STATUS=serving; 1 participants connected", kProcessDeadlineMs));
  c.reset();
  ASSERT_TRUE(systemd.WaitFor("WATCHDOG=1", kProcessDeadlineMs));
  ASSERT_TRUE(systemd.WaitFor("WATCHDOG=1", kProcessDeadlineMs));  // and again: the loop keeps pinging
  ASSERT_THAT(gateway_->Signal(SIGTERM), IsOk());
  EXPECT_TRUE(systemd.WaitFor("STOPPING=1", kProcessDeadlineMs));
  auto code = gateway_->WaitForExit(kProcessDeadlineMs);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0) << gateway_->Log();
}

TEST_F(GatewayProcessTest, InterruptFinishesAndExitsZero) {
  StartGateway();
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  ExpectServes(*c);
  c.reset();
  ExpectCleanExit(SIGINT);
}

TEST_F(GatewayProcessTest, CheckNamesTheRunningGatewayThatHoldsTheDataFolder) {
  StartGateway();
  ASSERT_NE(Connect(), nullptr);  // it runs, so it holds the audit log's lock
  const std::string binary = testing::BuildBinary("gateway/ketenpoort-gateway");
  auto held = testing::RunToEnd({binary, "check", "--config", config_path()}, dir_.File("check1.out"), kProcessDeadlineMs);
  ASSERT_THAT(held, IsOk());
  EXPECT_EQ(held->exit_code, 1) << held->output;
  EXPECT_THAT(held->output, HasSubstr("FAIL data folder: another ketenpoort-gateway is running with this data folder"));
  EXPECT_THAT(held->output, HasSubstr("stop it first"));
  EXPECT_THAT(held->output, Not(HasSubstr("the gateway can start")));

  ExpectCleanExit(SIGTERM);
  auto free = testing::RunToEnd({binary, "check", "--config", config_path()}, dir_.File("check2.out"), kProcessDeadlineMs);
  ASSERT_THAT(free, IsOk());
  EXPECT_EQ(free->exit_code, 0) << free->output;
  EXPECT_THAT(free->output, HasSubstr("no other gateway is running with this data folder"));
  EXPECT_THAT(free->output, HasSubstr("the gateway can start"));
}

// A full disk makes a running gateway refuse everything until it can write
// again; `check` says so. The data folder is put on a small tmpfs (this needs
// root, as CI and the development machines have).
TEST_F(GatewayProcessTest, CheckSaysWhenTheDataFolderIsNearlyFull) {
  const std::string small = dir_.File("small");
  ::mkdir(small.c_str(), 0700);
  if (::geteuid() != 0 || std::system(("mount -t tmpfs -o size=8m,mode=0700 tmpfs " + small).c_str()) != 0) {
    GTEST_SKIP() << "mounting a small tmpfs needs root";
  }
  gateway::GatewayConfig config = region_->gateway_config();
  config.data_dir = small;
  const std::string path = dir_.File("small.yaml");
  ASSERT_THAT(testing::WriteGatewayYaml(config, endpoint_, path), IsOk());
  const std::string binary = testing::BuildBinary("gateway/ketenpoort-gateway");
  auto out = testing::RunToEnd({binary, "check", "--config", path}, dir_.File("check-small.out"), kProcessDeadlineMs);
  (void)std::system(("umount " + small).c_str());
  ASSERT_THAT(out, IsOk());
  EXPECT_EQ(out->exit_code, 1) << out->output;
  EXPECT_THAT(out->output, HasSubstr("MiB free on its filesystem"));
  EXPECT_THAT(out->output, HasSubstr("serves again by itself"));
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp
