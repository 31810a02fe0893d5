// The real ketenpoort-agent process (issue 12), with a real gateway process
// and the real coordinator client: SIGTERM ends it with exit 0 and a
// disclosure log that verifies, SIGHUP does not end it, and `check` names a
// data folder that a running agent holds.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <thread>

#include "agent/agent.h"
#include "case/config_update.h"
#include "case/policy_bundle.h"
#include "client/coordinator.h"
#include "core/audit/log_verifier.h"
#include "core/base/file_util.h"
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
constexpr char kPartner[] = "politie";
constexpr char kCategory[] = "politie-incidenten";

class AgentProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = Region::Create(dir_.path(), SystemClock::Get());
    ASSERT_THAT(r, IsOk());
    region_ = std::move(r).value();
    endpoint_ = "tcp://127.0.0.1:" + std::to_string(testing::UnusedLoopbackPort());
    ASSERT_THAT(testing::WriteGatewayYaml(region_->gateway_config(), endpoint_, dir_.File("gateway.yaml")),
                IsOk());
    ::mkdir(region_->gateway_config().data_dir.c_str(), 0700);
    agent_config_ = region_->AgentConfigFor(kPartner);
    ASSERT_THAT(testing::WriteAgentYaml(agent_config_, endpoint_, agent_yaml()), IsOk());
    // KP_AGENT_EXTRA_YAML (for the measurement below): lines added to the
    // agent's config, e.g. "replay_window: 5s\nmax_request_age: 10s".
    if (const char* extra = std::getenv("KP_AGENT_EXTRA_YAML"); extra != nullptr) {
      std::ofstream(agent_yaml(), std::ios::app) << extra << "\n";
    }
    auto g = ChildProcess::Spawn(
        {testing::BuildBinary("gateway/ketenpoort-gateway"), "run", "--config", dir_.File("gateway.yaml")},
        dir_.File("gateway.log"));
    ASSERT_THAT(g, IsOk());
    gateway_ = std::move(g).value();
    // KP_AGENT_WRAPPER (for the measurement below): a program to run the
    // agent under (it must exec the agent, so that signals reach it).
    std::vector<std::string> args = {testing::BuildBinary("agent/ketenpoort-agent"), "run", "--config",
                                     agent_yaml()};
    if (const char* wrapper = std::getenv("KP_AGENT_WRAPPER"); wrapper != nullptr)
      args.insert(args.begin(), wrapper);
    // The agent alone (not the gateway) under systemd's notification protocol.
    if (systemd_ != nullptr) {
      ::setenv("NOTIFY_SOCKET", systemd_->path().c_str(), 1);
      ::setenv("WATCHDOG_USEC", "400000", 1);
    }
    auto a = ChildProcess::Spawn(args, dir_.File("agent.log"));
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
    ASSERT_THAT(a, IsOk());
    agent_ = std::move(a).value();
  }

  std::string agent_yaml() const { return dir_.File("agent.yaml"); }

  std::unique_ptr<client::Coordinator> Connect() {
    client::ClientConfig cc = region_->CoordinatorConfig();
    cc.gateway_endpoint = endpoint_;
    auto c = testing::ConnectCoordinator(cc, kProcessDeadlineMs);
    EXPECT_THAT(c, IsOk()) << gateway_->Log();
    return c.ok() ? std::move(c).value() : nullptr;
  }

  // A request answered by the agent process: it serves.
  void ExpectAnswered(client::Coordinator& c) {
    if (case_id_.empty()) {
      v1::Subject s;
      s.set_role(v1::SUBJECT_ROLE_VICTIM);
      s.set_bsn(Region::kBsn);
      s.set_name("Proces Testpersoon (fictief)");
      auto opened = c.OpenCase("plan-van-aanpak", {s});
      ASSERT_THAT(opened, IsOk());
      case_id_ = opened->case_id();
      ASSERT_THAT(c.Admit(case_id_, kPartner), IsOk());
    }
    auto id = c.SendRequest({case_id_, kPartner, {kCategory}, "plan-van-aanpak", {}, ""});
    ASSERT_THAT(id, IsOk());
    auto outcome = c.AwaitOutcome(*id, kProcessDeadlineMs);
    ASSERT_THAT(outcome, IsOk()) << agent_->Log();
    EXPECT_EQ(outcome->kind, client::Outcome::Kind::kDelivered);
  }

  Result<testing::ProcessResult> Check() {
    return testing::RunToEnd(
        {testing::BuildBinary("agent/ketenpoort-agent"), "check", "--config", agent_yaml()},
        dir_.File("check.out"), kProcessDeadlineMs);
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::NotifyListener> systemd_;  // set before SetUp: the agent runs as under systemd
  std::unique_ptr<Region> region_;
  std::string endpoint_;
  agent::AgentConfig agent_config_;
  std::unique_ptr<ChildProcess> gateway_;
  std::unique_ptr<ChildProcess> agent_;
  std::string case_id_;
};

TEST_F(AgentProcessTest, TermFinishesAndExitsZeroWithAVerifiableDisclosureLog) {
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  ExpectAnswered(*c);
  ASSERT_THAT(agent_->Signal(SIGHUP), IsOk());  // reads registry and policy again, and keeps answering
  ExpectAnswered(*c);
  ASSERT_THAT(agent_->Signal(SIGTERM), IsOk());
  auto code = agent_->WaitForExit(kProcessDeadlineMs);
  ASSERT_TRUE(code.has_value()) << "the agent did not stop";
  EXPECT_EQ(*code, 0) << agent_->Log();
  EXPECT_THAT(agent_->Log(), HasSubstr("SIGHUP: registry serial 1 and policy veiligheidsteam-hvb"));
  EXPECT_THAT(agent_->Log(), HasSubstr("agent stopping: 2 answered"));
  audit::VerifyReport report = audit::VerifyLog(agent::Agent::AuditDir(agent_config_), {});
  EXPECT_THAT(report.status, IsOk());
  EXPECT_GE(report.records, 2u);
}

// An agent whose sources are neither postgres nor https does not map libpq,
// libcurl or what they bring (GnuTLS, ...): their connector modules are
// loaded only when configured (agent/connectors/connector_module.h). Nor
// libsystemd: sd_notify is written out (core/base/systemd_notify.cc). Each
// would cost every agent resident memory (issue 19).
TEST_F(AgentProcessTest, AnAgentWithoutNetworkSourcesMapsNeitherLibpqNorLibcurl) {
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  ExpectAnswered(*c);  // started, and answered from its sqlite source
  std::ifstream in("/proc/" + std::to_string(agent_->pid()) + "/maps");
  const std::string maps((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_THAT(maps, HasSubstr("libsqlite3"));  // the right process, read whole
  for (const char* library : {"libpq.so", "libcurl", "libgnutls", "ketenpoort-connector-", "libsystemd"}) {
    EXPECT_THAT(maps, Not(HasSubstr(library)));
  }
}

// Type=notify and WatchdogSec= in deploy/ketenpoort-agent.service: the agent
// says READY=1 once started, pings the watchdog from its loop at half the
// interval systemd gives (here 0.4 s), and says STOPPING=1 on SIGTERM
// (core/base/systemd_notify.h). A real socket, as systemd's; only deadlines.
class AgentUnderSystemdTest : public AgentProcessTest {
 protected:
  void SetUp() override {
    systemd_ = std::make_unique<testing::NotifyListener>(dir_.File("notify"));
    ASSERT_TRUE(systemd_->ok());
    AgentProcessTest::SetUp();
  }
};

TEST_F(AgentUnderSystemdTest, ItSaysReadyPingsTheWatchdogAndSaysStopping) {
  ASSERT_TRUE(systemd_->WaitFor("READY=1", kProcessDeadlineMs)) << agent_->Log();
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  ExpectAnswered(*c);
  ASSERT_TRUE(systemd_->WaitFor("WATCHDOG=1", kProcessDeadlineMs));
  ASSERT_TRUE(systemd_->WaitFor("WATCHDOG=1", kProcessDeadlineMs));  // and again: the loop keeps pinging
  ASSERT_THAT(agent_->Signal(SIGTERM), IsOk());
  EXPECT_TRUE(systemd_->WaitFor("STOPPING=1", kProcessDeadlineMs));
  auto code = agent_->WaitForExit(kProcessDeadlineMs);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0) << agent_->Log();
}

TEST_F(AgentProcessTest, InterruptExitsZero) {
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  ExpectAnswered(*c);
  ASSERT_THAT(agent_->Signal(SIGINT), IsOk());
  auto code = agent_->WaitForExit(kProcessDeadlineMs);
  ASSERT_TRUE(code.has_value()) << "the agent did not stop";
  EXPECT_EQ(*code, 0) << agent_->Log();
  EXPECT_THAT(audit::VerifyLog(agent::Agent::AuditDir(agent_config_), {}).status, IsOk());
}

TEST_F(AgentProcessTest, CheckNamesTheRunningAgentThatHoldsTheDataFolder) {
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  ExpectAnswered(*c);  // it runs and has its disclosure log open
  auto held = Check();
  ASSERT_THAT(held, IsOk());
  EXPECT_EQ(held->exit_code, 1) << held->output;
  EXPECT_THAT(held->output, HasSubstr("FAIL another ketenpoort-agent is running with the data folder"));
  EXPECT_THAT(held->output, HasSubstr("stop it first"));

  ASSERT_THAT(agent_->Signal(SIGTERM), IsOk());
  ASSERT_EQ(agent_->WaitForExit(kProcessDeadlineMs), std::optional<int>(0)) << agent_->Log();
  auto free = Check();
  ASSERT_THAT(free, IsOk());
  EXPECT_THAT(free->output, HasSubstr("no other agent is running with this data folder"));
  EXPECT_THAT(free->output, Not(HasSubstr("another ketenpoort-agent is running")));
  EXPECT_EQ(free->exit_code, 0) << free->output;
}

// First start from the gateway alone (docs/agent.md): an agent whose config
// sets neither `registry:` nor `policy:` has its keys and the pinned
// enrolment and gateway cards; `check` says what it will do; started while
// the gateway is away, it says (status) that it waits; once connected it
// fetches the registry and the signed policy bundle, verifies and keeps them
// in DATA_DIR/config, and only then answers (a request that was waiting
// before is answered); a later start uses the copies it kept.
class AgentFirstStartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = Region::Create(dir_.path(), SystemClock::Get());
    ASSERT_THAT(r, IsOk());
    region_ = std::move(r).value();
    endpoint_ = "tcp://127.0.0.1:" + std::to_string(testing::UnusedLoopbackPort());
    // The gateway serves the example policy as a signed bundle (docs/formats.md §5).
    const std::string bundle = dir_.File("policy-bundle");
    ASSERT_EQ(::mkdir(bundle.c_str(), 0700), 0);
    ASSERT_THAT(WriteFileDurable(bundle + "/hvb.yaml", ReadFileBounded(Region::PolicyPath(), 1 << 20).value(),
                                 0644, WriteMode::kReplace),
                IsOk());
    const int64_t now = SystemClock::Get().NowMillis();
    ASSERT_THAT(cases::SignPolicyBundle(bundle, region_->identity("enrolment-hvb").signing().secret_key,
                                        cases::kEnrolmentSigner, "hart-van-brabant",
                                        {{"hvb.yaml", now - 3'600'000}}, now),
                IsOk());
    gateway::GatewayConfig g = region_->gateway_config();
    g.policy.clear();
    ASSERT_THAT(testing::WriteGatewayYaml(g, endpoint_, dir_.File("gateway.yaml"), "info",
                                          "policy_bundle: " + bundle + "\n"),
                IsOk());
    ASSERT_THAT(DropLine(dir_.File("gateway.yaml"), "policy: "), IsOk());
    ::mkdir(g.data_dir.c_str(), 0700);
    // The agent: no registry, no policy.
    agent_config_ = region_->AgentConfigFor(kPartner);
    ASSERT_THAT(testing::WriteAgentYaml(agent_config_, endpoint_, agent_yaml()), IsOk());
    ASSERT_THAT(DropLine(agent_yaml(), "registry: "), IsOk());
    ASSERT_THAT(DropLine(agent_yaml(), "policy: "), IsOk());
    std::ofstream(agent_yaml(), std::ios::app)
        << "management: 127.0.0.1:" << testing::UnusedLoopbackPort() << "\n";
  }

  static Status DropLine(const std::string& path, const std::string& prefix) {
    KP_ASSIGN_OR_RETURN(std::string text, ReadFileBounded(path, 1 << 20));
    std::string out;
    size_t start = 0;
    while (start < text.size()) {
      size_t end = text.find('\n', start);
      end = end == std::string::npos ? text.size() : end + 1;
      if (text.compare(start, prefix.size(), prefix) != 0) out += text.substr(start, end - start);
      start = end;
    }
    return WriteFileDurable(path, out, 0600, WriteMode::kReplace);
  }

  std::string agent_yaml() const { return dir_.File("agent.yaml"); }

  void StartGateway() {
    auto g = ChildProcess::Spawn(
        {testing::BuildBinary("gateway/ketenpoort-gateway"), "run", "--config", dir_.File("gateway.yaml")},
        dir_.File("gateway.log"));
    ASSERT_THAT(g, IsOk());
    gateway_ = std::move(g).value();
  }
  void StartAgent() {
    auto a =
        ChildProcess::Spawn({testing::BuildBinary("agent/ketenpoort-agent"), "run", "--config", agent_yaml()},
                            dir_.File("agent.log"));
    ASSERT_THAT(a, IsOk());
    agent_ = std::move(a).value();
  }
  Result<testing::ProcessResult> Agent(const std::string& command) {
    return testing::RunToEnd(
        {testing::BuildBinary("agent/ketenpoort-agent"), command, "--config", agent_yaml()},
        dir_.File(command + ".out"), kProcessDeadlineMs);
  }
  std::unique_ptr<client::Coordinator> Connect() {
    client::ClientConfig cc = region_->CoordinatorConfig();
    cc.gateway_endpoint = endpoint_;
    auto c = testing::ConnectCoordinator(cc, kProcessDeadlineMs);
    EXPECT_THAT(c, IsOk()) << (gateway_ ? gateway_->Log() : "");
    return c.ok() ? std::move(c).value() : nullptr;
  }
  // Waits (with a deadline) for the agent's answer to `id`: it may come
  // while connected or be held for the client (fetched with the inbox).
  bool Delivered(client::Coordinator& c, const std::string& case_id, const std::string& id) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kProcessDeadlineMs);
    while (std::chrono::steady_clock::now() < deadline) {
      auto inbox = c.FetchInbox(case_id);
      if (inbox.ok()) {
        for (const auto& o : *inbox) {
          if (o.request_id == id) return o.kind == client::Outcome::Kind::kDelivered;
        }
      }
      auto o = c.AwaitOutcome(id, 500);
      if (o.ok()) return o->kind == client::Outcome::Kind::kDelivered;
    }
    return false;
  }

  testing::TempDir dir_;
  std::unique_ptr<Region> region_;
  std::string endpoint_;
  agent::AgentConfig agent_config_;
  std::unique_ptr<ChildProcess> gateway_;
  std::unique_ptr<ChildProcess> agent_;
};

TEST_F(AgentFirstStartTest, AnAgentWithoutRegistryOrPolicyTakesThemFromTheGatewayThenServes) {
  // A request waits at the gateway for the police, whose agent never ran.
  StartGateway();
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  v1::Subject s;
  s.set_role(v1::SUBJECT_ROLE_VICTIM);
  s.set_bsn(Region::kBsn);
  auto opened = c->OpenCase("plan-van-aanpak", {s});
  ASSERT_THAT(opened, IsOk());
  ASSERT_THAT(c->Admit(opened->case_id(), kPartner), IsOk());
  auto waiting = c->SendRequest({opened->case_id(), kPartner, {kCategory}, "plan-van-aanpak", {}, ""});
  ASSERT_THAT(waiting, IsOk());

  // `check` says what the agent will do.
  auto check = Agent("check");
  ASSERT_THAT(check, IsOk());
  EXPECT_EQ(check->exit_code, 0) << check->output;
  EXPECT_THAT(check->output,
              HasSubstr("ok   registry: none yet (no 'registry:' set): fetched from the gateway"));
  EXPECT_THAT(check->output, HasSubstr("ok   policy: none yet (no 'policy:' set)"));
  EXPECT_THAT(check->output, HasSubstr("the gateway at " + endpoint_ + " admitted this agent's key"));

  // Started while the gateway is away: it runs, waits, and says so.
  c.reset();
  ASSERT_THAT(gateway_->Signal(SIGTERM), IsOk());
  ASSERT_EQ(gateway_->WaitForExit(kProcessDeadlineMs), std::optional<int>(0)) << gateway_->Log();
  StartAgent();
  std::string status;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kProcessDeadlineMs);
  while (status.find("waiting for") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    auto st = Agent("status");
    if (st.ok()) status = st->output;
    if (status.find("waiting for") == std::string::npos)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_THAT(status, HasSubstr("waiting for the registry and the policy bundle from the gateway"))
      << agent_->Log();
  EXPECT_THAT(agent_->Log(), HasSubstr("waiting for the registry and the policy bundle from the gateway"));

  // The gateway is back: the agent takes both, keeps them, and answers what waited.
  StartGateway();
  c = Connect();
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(Delivered(*c, opened->case_id(), *waiting)) << agent_->Log();
  auto serials = cases::LoadConfigSerials(agent_config_.data_dir);
  ASSERT_THAT(serials, IsOk());
  EXPECT_EQ(serials->registry, 1u);
  EXPECT_EQ(serials->policy, 1u);
  EXPECT_THAT(agent_->Log(), HasSubstr("from the gateway taken into use; answering requests from now on"));
  // The request came before the bundle (the gateway hands over what waits
  // as soon as the agent shows up) and was held, then handed over again.
  EXPECT_THAT(agent_->Log(), HasSubstr("from the gateway not answered yet: waiting for the registry"));

  // A later start uses the copies it kept: it answers without waiting.
  ASSERT_THAT(agent_->Signal(SIGTERM), IsOk());
  ASSERT_EQ(agent_->WaitForExit(kProcessDeadlineMs), std::optional<int>(0)) << agent_->Log();
  auto again = Agent("check");
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->exit_code, 0) << again->output;
  EXPECT_THAT(again->output, HasSubstr("(signed bundle serial 1 fetched from the gateway) lints clean"));
  EXPECT_THAT(again->output, Not(HasSubstr("none yet")));
  StartAgent();
  auto next = c->SendRequest({opened->case_id(), kPartner, {kCategory}, "plan-van-aanpak", {}, ""});
  ASSERT_THAT(next, IsOk());
  EXPECT_TRUE(Delivered(*c, opened->case_id(), *next)) << agent_->Log();
  EXPECT_THAT(agent_->Log(), HasSubstr("started: policy veiligheidsteam-hvb"));
}

// Not a test: a measurement, run by hand (docs/operations.md "Memory"):
//   KP_MEMORY_REQUESTS=20000 agent_process_test --gtest_also_run_disabled_tests
//     --gtest_filter='*MemoryPerRequest*'   (one line)
// prints the agent's and the gateway's resident memory (VmRSS) before and
// after that many answered requests (64 in flight). With
// KP_AGENT_WRAPPER=<script that does `exec valgrind --tool=massif ... "$@"`>
// the agent runs under a profiler (exec, so that signals reach the agent).
// A full disk under the agent's own log: it cannot record a disclosure, so
// it sends nothing and stops (exit 1) for systemd to start it again; started
// again with space, it answers the request that waited. The data folder is
// put on a small tmpfs (root, as CI and the development machines have).
TEST_F(AgentProcessTest, AFullDiskStopsTheAgentAndAStartWithSpaceAnswersWhatWaited) {
  const std::string small = dir_.File("small");
  ::mkdir(small.c_str(), 0700);
  if (::geteuid() != 0 || std::system(("mount -t tmpfs -o size=4m,mode=0700 tmpfs " + small).c_str()) != 0) {
    GTEST_SKIP() << "mounting a small tmpfs needs root";
  }
  struct Unmount {
    std::string dir;
    ~Unmount() { (void)std::system(("umount " + dir + " 2>/dev/null").c_str()); }
  } unmount{small};
  agent_.reset();  // the agent of SetUp goes; this one keeps its data on the small disk
  agent::AgentConfig config = agent_config_;
  config.data_dir = small + "/agent";
  ASSERT_THAT(testing::WriteAgentYaml(config, endpoint_, agent_yaml()), IsOk());
  auto start = [&] {
    auto a =
        ChildProcess::Spawn({testing::BuildBinary("agent/ketenpoort-agent"), "run", "--config", agent_yaml()},
                            dir_.File("agent-small.log"));
    ASSERT_THAT(a, IsOk());
    agent_ = std::move(a).value();
  };
  start();
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  ExpectAnswered(*c);
  // Fill the disk (the write stops at the tmpfs's size).
  (void)std::system(("dd if=/dev/zero of=" + small + "/ballast bs=64k 2>/dev/null").c_str());
  auto id = c->SendRequest({case_id_, kPartner, {kCategory}, "plan-van-aanpak", {}, ""});
  ASSERT_THAT(id, IsOk());
  const std::optional<int> code = agent_->WaitForExit(kProcessDeadlineMs);
  ASSERT_TRUE(code.has_value()) << "the agent kept running on a full disk";
  EXPECT_EQ(*code, 1);
  EXPECT_THAT(agent_->Log(), HasSubstr("the disclosure log cannot be written"));
  ASSERT_EQ(::unlink((small + "/ballast").c_str()), 0);
  start();  // as systemd would, once there is space
  auto outcome = c->AwaitOutcome(*id, kProcessDeadlineMs);
  ASSERT_THAT(outcome, IsOk()) << agent_->Log();
  EXPECT_EQ(outcome->kind, client::Outcome::Kind::kDelivered);
  ASSERT_THAT(agent_->Signal(SIGTERM), IsOk());
  EXPECT_EQ(agent_->WaitForExit(kProcessDeadlineMs), 0);
}

TEST_F(AgentProcessTest, DISABLED_MemoryPerRequest) {
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  ExpectAnswered(*c);
  const char* env = std::getenv("KP_MEMORY_REQUESTS");
  const int total = env != nullptr ? std::atoi(env) : 20'000;
  auto rss_kb = [](pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
    }
    return 0L;
  };
  auto run = [&](int n) {
    int sent = 0, done = 0;
    std::set<std::string> waiting;
    while (done < n) {
      std::vector<client::RequestSpec> batch;
      while (static_cast<int>(waiting.size() + batch.size()) < 64 && sent < n) {
        batch.push_back({case_id_, kPartner, {kCategory}, "plan-van-aanpak", {}, ""});
        ++sent;
      }
      if (!batch.empty()) {
        auto ids = c->SendRequests(batch);
        ASSERT_THAT(ids, IsOk());
        waiting.insert(ids->begin(), ids->end());
      }
      auto got = c->Poll(
          5000,
          [&](const client::Outcome& o) {
            if (waiting.erase(o.request_id) == 1) ++done;
          },
          true);
      ASSERT_THAT(got, IsOk());
      ASSERT_GT(*got, 0u) << "no answer within 5 s";
    }
  };
  run(2000);  // warm up: caches, SQLite pages, allocator arenas
  const long agent0 = rss_kb(agent_->pid()), gateway0 = rss_kb(gateway_->pid());
  run(total);
  const long agent1 = rss_kb(agent_->pid()), gateway1 = rss_kb(gateway_->pid());
  std::printf("after warm-up: agent %ld kB, gateway %ld kB\n", agent0, gateway0);
  std::printf(
      "after %d more requests: agent %ld kB (%+ld kB, %.0f bytes/request), gateway %ld kB (%+ld kB, "
      "%.0f bytes/request)\n",
      total, agent1, agent1 - agent0, 1024.0 * static_cast<double>(agent1 - agent0) / total, gateway1,
      gateway1 - gateway0, 1024.0 * static_cast<double>(gateway1 - gateway0) / total);
  ASSERT_THAT(agent_->Signal(SIGTERM), IsOk());  // so a wrapper (a profiler) writes its report
  EXPECT_EQ(agent_->WaitForExit(600'000), std::optional<int>(0));
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp
