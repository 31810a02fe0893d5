// Crash consistency of the gateway (issue 12), proved by fault injection: the
// real ketenpoort-gateway process dies — as kill -9 would, nothing flushed —
// at each point between two of its durable steps (gateway.h: before the
// unit's SQLite commit, after it, after the audit log's write, after the
// sends — before the log's sync, and as a power cut that loses the log's
// unsynced tail — and after the sync), on a request's decision and on a
// delivery. Then it is started again
// and the real coordinator client and the real police agent carry on as they
// would: the client sends again what the gateway did not confirm, the agent
// sends again what was not receipted. Afterwards:
//   * every request the coordinator made has exactly one outcome (here: its
//     fragment, since the agent answers everything);
//   * the gateway's log verifies, holds one decision per request and one
//     DELIVERED per request, and never DELIVERED for an answer the
//     coordinator does not have;
//   * the agent disclosed each request once (one DELIVERED in its own log).
#include <signal.h>
#include <stdlib.h>

#include <map>

#include "core/audit/log_reader.h"
#include "core/audit/log_verifier.h"
#include "core/base/encoding.h"
#include "gateway/gateway.h"
#include "tests/testing/region_processes.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_time.h"

namespace kp {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

using ::kp::testing::IsOk;
using ::kp::testing::Region;
using ::kp::testing::RegionProcesses;
namespace v1 = ketenpoort::v1;

// Requests are sent one at a time until the gateway dies; on a loaded
// machine a decision and a delivery may share a unit, so a few more than the
// crash point needs are allowed.
constexpr int kMaxRequests = 16;
using test::kProcessDeadlineMs;

struct CrashPoint {
  const char* point;
  // The unit of work to die in, counting from the start (not included) those
  // that wrote audit records: the case and its six admissions are 1-7, then
  // each request is a decision unit and a delivery unit: 8, 10 and 12 are
  // decisions, 9 and 11 deliveries.
  int nth;
};

void PrintTo(const CrashPoint& c, std::ostream* os) { *os << c.point << ":" << c.nth; }

std::string Name(const ::testing::TestParamInfo<CrashPoint>& info) {
  std::string name = info.param.point;
  for (char& ch : name) {
    if (ch == '-') ch = '_';
  }
  return name + "_unit" + std::to_string(info.param.nth);
}

// Events of each request id in a log folder.
std::map<std::string, std::map<v1::AuditEvent, int>> EventsByRequest(const std::string& dir) {
  std::map<std::string, std::map<v1::AuditEvent, int>> out;
  auto reader = audit::LogReader::Open(dir);
  EXPECT_THAT(reader, IsOk());
  if (!reader.ok()) return out;
  EXPECT_OK((*reader)->ForEachEntry([&](const audit::LogEntry& e) {
    if (!e.erased && !e.record.message_id().empty()) ++out[e.record.message_id()][e.record.event()];
    return OkStatus();
  }));
  return out;
}

class GatewayCrashTest : public ::testing::TestWithParam<CrashPoint> {
 protected:
  void SetUp() override {
    auto r = Region::Create(dir_.path(), SystemClock::Get());
    ASSERT_THAT(r, IsOk());
    region_ = std::move(r).value();
    ::mkdir(dir_.File("run").c_str(), 0700);
    processes_ = std::make_unique<RegionProcesses>(
        *region_, RegionProcesses::Options{dir_.File("run"), "info", "request_expiry: 20s\n"});
    ASSERT_OK(processes_->WriteConfigs({"politie"}));
  }

  void TearDown() override {
    coordinator_.reset();
    processes_->StopAll(SIGTERM);
    if (HasFailure()) {
      std::cerr << "gateway log:\n"
                << processes_->ReadLog("gateway") << "\nagent log:\n"
                << processes_->ReadLog("politie");
    }
  }

  // Waits for answers (and sends again what the gateway did not confirm)
  // until no request is waiting.
  void Settle(const std::vector<std::string>& ids) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kProcessDeadlineMs);
    auto last_resend = std::chrono::steady_clock::time_point{};
    while (std::chrono::steady_clock::now() < deadline) {
      int waiting = 0;
      const bool resend = std::chrono::steady_clock::now() - last_resend > std::chrono::seconds(2);
      for (const auto& id : ids) {
        auto r = coordinator_->store().GetRequest(id);
        ASSERT_THAT(r, IsOk());
        ASSERT_TRUE(r->has_value());
        if ((*r)->state != client::RequestState::kPending) continue;
        ++waiting;
        if (resend && !(*r)->accepted) (void)coordinator_->Resend(id);
      }
      if (waiting == 0) return;
      if (resend) {
        last_resend = std::chrono::steady_clock::now();
        (void)coordinator_->FetchInbox("");  // what was held while the gateway was down
      }
      ASSERT_THAT(coordinator_->Poll(200, nullptr), IsOk());
    }
    ADD_FAILURE() << "requests still waiting at the deadline";
  }

  testing::TempDir dir_;
  std::unique_ptr<Region> region_;
  std::unique_ptr<RegionProcesses> processes_;
  std::unique_ptr<client::Coordinator> coordinator_;
};

TEST_P(GatewayCrashTest, EveryAcceptedRequestReachesExactlyOneOutcomeAndTheLogTellsTheTruth) {
  const CrashPoint& crash = GetParam();
  const std::string spec = std::string(crash.point) + ":" + std::to_string(crash.nth);
  ::setenv("KP_FAULT_CRASH_AT", spec.c_str(), 1);
  Status started = processes_->StartGateway();
  ::unsetenv("KP_FAULT_CRASH_AT");
  ASSERT_OK(started);
  ASSERT_OK(processes_->StartAgent("politie"));
  auto c = processes_->ConnectCoordinator(0, kProcessDeadlineMs);
  ASSERT_THAT(c, IsOk());
  coordinator_ = std::move(c).value();
  auto case_id = testing::OpenLoadCase(*coordinator_);
  ASSERT_THAT(case_id, IsOk());
  const std::string category = testing::LoadPartners().front().second;

  // One request at a time, so each is a decision unit and a delivery unit,
  // until the gateway dies at the crash point.
  std::vector<std::string> ids;
  for (int i = 0; i < kMaxRequests && processes_->GatewayAlive(); ++i) {
    auto id = coordinator_->SendRequest({*case_id, "politie", {category}, testing::kLoadPurpose, {}, ""});
    ASSERT_THAT(id, IsOk());
    ids.push_back(*id);
    // Answered, or the gateway died on the way (then the wait runs out).
    (void)coordinator_->AwaitOutcome(*id, 5000);
  }
  EXPECT_EQ(processes_->StopGateway(SIGTERM), gateway::Gateway::kCrashExitCode)
      << "it did not crash at " << spec;

  ASSERT_OK(processes_->StartGateway());
  // Serving (so it also handles SIGTERM below, not only after its start-up).
  ASSERT_TRUE(processes_->WaitForGatewayPort(kProcessDeadlineMs));
  if (std::string_view(crash.point) == "power-cut-after-send") {
    // The cut lost records the answers already rested on; the outbox gave
    // them back.
    const std::string log = processes_->ReadLog("gateway");
    EXPECT_NE(log.find("cutting a torn tail"), std::string::npos);
    EXPECT_NE(log.find("that were committed but not yet in the log"), std::string::npos);
  }
  Settle(ids);

  // Exactly one outcome each: every request answered once, one fragment each.
  auto fragments = coordinator_->store().Fragments("");
  ASSERT_THAT(fragments, IsOk());
  std::map<std::string, int> fragments_per_request;
  for (const auto& f : *fragments) ++fragments_per_request[f.request_id];
  for (const auto& id : ids) {
    auto r = coordinator_->store().GetRequest(id);
    ASSERT_THAT(r, IsOk());
    EXPECT_EQ((*r)->state, client::RequestState::kDelivered)
        << HexEncode(id) << ": " << client::RequestStateName((*r)->state) << " " << (*r)->refusal;
    EXPECT_EQ(fragments_per_request[id], 1) << HexEncode(id);
  }

  EXPECT_EQ(processes_->StopGateway(SIGTERM), 0);
  EXPECT_EQ(processes_->StopAgent("politie", SIGTERM), 0);
  // The gateway's log verifies and tells what happened, no more, no less.
  const std::string gateway_log = gateway::Gateway::AuditDir(region_->gateway_config());
  audit::VerifyOptions verify;
  auto key = audit::MakeVerifierKey(region_->gateway_config().log_origin,
                                    region_->identity("gateway").signing().public_key);
  ASSERT_THAT(key, IsOk());
  verify.key = *key;
  EXPECT_THAT(audit::VerifyLog(gateway_log, verify).status, IsOk());
  auto gateway_events = EventsByRequest(gateway_log);
  auto agent_events = EventsByRequest(agent::Agent::AuditDir(region_->AgentConfigFor("politie")));
  for (const auto& id : ids) {
    EXPECT_EQ(gateway_events[id][v1::AUDIT_EVENT_DECISION], 1) << HexEncode(id);
    EXPECT_EQ(gateway_events[id][v1::AUDIT_EVENT_DELIVERED], 1) << HexEncode(id);
    EXPECT_EQ(gateway_events[id][v1::AUDIT_EVENT_EXPIRED], 0) << HexEncode(id);
    EXPECT_EQ(agent_events[id][v1::AUDIT_EVENT_DELIVERED], 1)
        << HexEncode(id) << ": disclosed more than once";
  }
}

INSTANTIATE_TEST_SUITE_P(EveryDurableStep, GatewayCrashTest,
                         ::testing::Values(CrashPoint{"before-commit", 9}, CrashPoint{"before-commit", 10},
                                           CrashPoint{"after-commit", 9}, CrashPoint{"after-commit", 10},
                                           CrashPoint{"after-log", 11}, CrashPoint{"after-log", 12},
                                           CrashPoint{"after-send", 11}, CrashPoint{"after-send", 12},
                                           CrashPoint{"power-cut-after-send", 11},
                                           CrashPoint{"power-cut-after-send", 12},
                                           CrashPoint{"after-sync", 12}),
                         Name);

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp
