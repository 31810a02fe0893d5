// Retention without downtime (issue 17 §6; docs/operations.md, "Retention"),
// with the real gateway on its own thread, a real coordinator client on CURVE
// sockets on 127.0.0.1, real SQLite and the real audit log, and a clock moved
// by hand: the running gateway erases the bodies of expired records on its
// sweep and records the ERASURE; a closed case stays in cases.db until
// retention.closed_case_days after its closure and is then pruned with a
// CASE_PRUNED record; the log verifies against checkpoints kept before each
// step, an inclusion proof made before still verifies, the gateway serves
// between and after, and no subject data reaches its log.
#include <spdlog/spdlog.h>

#include <chrono>
#include <thread>

#include "agent/agent.h"
#include "core/audit/log_reader.h"
#include "core/audit/log_verifier.h"
#include "core/audit/merkle.h"
#include "core/base/file_util.h"
#include "gateway/case_store.h"
#include "gateway/startup.h"
#include "tests/testing/capture_sink.h"
#include "tests/testing/region.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_time.h"

namespace kp {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

namespace v1 = ketenpoort::v1;
using ::testing::HasSubstr;
using testing::IsOk;
using ::testing::Not;
using testing::Region;

using test::kNow;
using test::kDay;
constexpr char kCanaryName[] = "CANARY-NAAM-Retentie";

class RetentionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sink_ = std::make_shared<testing::CaptureSink>();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("retention", sink_));
    ASSERT_OK_AND_ASSIGN(region_, Region::Create(dir_.path(), clock_));
    region_->gateway_config().audit_retention_ms = 60 * kDay;  // the records of day 0 expire on day 60
    region_->gateway_config().inbox_expiry_ms = 200 * kDay;    // held messages outlive the pruning age
    ASSERT_OK(region_->StartGateway());
    ASSERT_OK_AND_ASSIGN(c_, region_->Coordinator());
  }

  void TearDown() override {
    c_.reset();
    region_.reset();
    if (HasFailure()) std::cerr << "log:\n" << sink_->Text();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("null"));
  }

  std::string AuditDir() const { return gateway::AuditDir(region_->gateway_config()); }

  std::string OpenCase() {
    std::vector<v1::Subject> subjects(1);
    subjects[0].set_role(v1::SUBJECT_ROLE_VICTIM);
    subjects[0].set_bsn(Region::kBsn);
    subjects[0].set_name(kCanaryName);
    subjects[0].set_date_of_birth("1990-01-01");
    auto opened = c_->OpenCase("plan-van-aanpak", subjects);
    EXPECT_THAT(opened, IsOk());
    return opened.ok() ? opened->case_id() : "";
  }

  std::vector<audit::LogEntry> Entries(const std::string& log_dir = "") {
    std::vector<audit::LogEntry> out;
    auto reader = audit::LogReader::Open(log_dir.empty() ? AuditDir() : log_dir);
    if (!reader.ok()) return out;
    (void)(*reader)->ForEachEntry([&](const audit::LogEntry& e) {
      out.push_back(e);
      return OkStatus();
    });
    return out;
  }

  // Waits (deadline 8 s) until the log holds a record of `event` at or
  // after `from`, and returns it.
  std::optional<audit::LogEntry> WaitFor(v1::AuditEvent event, uint64_t from = 0, int wait_ms = 8000,
                                         const std::string& log_dir = "") {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
    do {
      for (const auto& e : Entries(log_dir)) {
        if (e.index >= from && !e.erased && e.record.event() == event) return e;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } while (std::chrono::steady_clock::now() < deadline);
    return std::nullopt;
  }

  std::string CheckpointNote() {
    auto note = ReadFileBounded(AuditDir() + "/checkpoint", 4096);
    EXPECT_THAT(note, IsOk());
    return note.ok() ? *note : "";
  }

  testing::TempDir dir_;
  ManualClock clock_{kNow};
  std::shared_ptr<testing::CaptureSink> sink_;
  std::unique_ptr<Region> region_;
  std::unique_ptr<client::Coordinator> c_;
};

TEST_F(RetentionTest, TheRunningGatewayErasesExpiredBodiesAndPrunesAClosedCaseOnlyOnceNothingNeedsIt) {
  // Day 0: case A opened and closed.
  const std::string a = OpenCase();
  ASSERT_FALSE(a.empty());
  ASSERT_OK(c_->Close(a, "veiligheid-hersteld").status());
  const uint64_t day0_records = Entries().size();
  ASSERT_GT(day0_records, 2u);
  const std::string note_day0 = CheckpointNote();

  // Day 61: the sweep erases day 0's record bodies while the gateway runs;
  // case A, closed 61 days ago, stays.
  clock_.Advance(61 * kDay);
  auto erasure = WaitFor(v1::AUDIT_EVENT_ERASURE);
  ASSERT_TRUE(erasure.has_value());
  EXPECT_EQ(erasure->record.erasure().first_index(), 0u);
  EXPECT_GE(erasure->record.erasure().erased_records(), day0_records);
  EXPECT_THAT(erasure->record.reason(), HasSubstr("retention sweep"));
  for (const auto& e : Entries()) {
    if (e.index < day0_records) {
      EXPECT_TRUE(e.erased) << "record " << e.index;
    }
    if (!e.erased) {
      EXPECT_NE(e.record.event(), v1::AUDIT_EVENT_CASE_PRUNED);
    }
  }

  // The gateway serves on: case B opened on day 61; an inclusion proof of
  // its opening is made now.
  const std::string b = OpenCase();
  ASSERT_FALSE(b.empty());
  EXPECT_NE(b, a);
  std::optional<audit::LogEntry> opened_b;
  for (const auto& e : Entries()) {
    if (!e.erased && e.record.event() == v1::AUDIT_EVENT_CASE_OPENED && e.record.case_id() == b) opened_b = e;
  }
  ASSERT_TRUE(opened_b.has_value());
  const std::string note_day61 = CheckpointNote();
  ASSERT_OK_AND_ASSIGN(auto reader61, audit::LogReader::Open(AuditDir()));
  const uint64_t size61 = reader61->TreeSize();
  ASSERT_GT(size61, opened_b->index);
  ASSERT_OK_AND_ASSIGN(std::string root61, reader61->RootAt(size61));
  ASSERT_OK_AND_ASSIGN(auto proof_b, reader61->InclusionProof(opened_b->index, size61));
  ASSERT_OK_AND_ASSIGN(std::string leaf_b, reader61->LeafHash(opened_b->index));
  reader61.reset();

  // Day 91: A was closed 91 days ago and nothing of it is pending: pruned.
  clock_.Advance(30 * kDay);
  auto pruned = WaitFor(v1::AUDIT_EVENT_CASE_PRUNED);
  ASSERT_TRUE(pruned.has_value());
  EXPECT_EQ(pruned->record.case_id(), a);
  EXPECT_THAT(pruned->record.reason(), HasSubstr("chain command(s)"));
  EXPECT_GT(pruned->record.retention_until_unix_millis(), clock_.NowMillis());
  // B, open, stays, and the gateway still takes its commands.
  ASSERT_OK(c_->Admit(b, "politie").status());
  c_.reset();
  region_->StopGateway();

  // The case database: A gone, B kept; A's number is not given out again.
  ASSERT_OK_AND_ASSIGN(auto store,
                       gateway::CaseStore::Open(region_->gateway_config().data_dir + "/cases.db"));
  EXPECT_THAT(store->GetCase(a), testing::StatusIs(StatusCode::kNotFound));
  ASSERT_OK_AND_ASSIGN(gateway::CaseRecord kept, store->GetCase(b));
  EXPECT_FALSE(kept.closed);
  ASSERT_OK_AND_ASSIGN(auto chain, store->Commands(a));
  EXPECT_TRUE(chain.empty());
  store.reset();

  // Every proof stays valid: the log verifies against the checkpoints kept
  // before each step, and B's inclusion proof from day 61 still verifies.
  audit::VerifyOptions options;
  options.pinned_checkpoints = {note_day0, note_day61};
  audit::VerifyReport rep = audit::VerifyLog(AuditDir(), options);
  ASSERT_THAT(rep.status, IsOk());
  EXPECT_GE(rep.tombstones, day0_records);
  EXPECT_EQ(rep.pinned_checkpoints, 2u);
  ASSERT_OK_AND_ASSIGN(auto reader, audit::LogReader::Open(AuditDir()));
  ASSERT_OK_AND_ASSIGN(std::string root61_now, reader->RootAt(size61));
  EXPECT_EQ(root61_now, root61);
  EXPECT_THAT(audit::VerifyInclusion(opened_b->index, size61, leaf_b, proof_b, root61_now), IsOk());

  // No subject data in the gateway's (and the client's) log.
  EXPECT_THAT(sink_->Text(), Not(HasSubstr(Region::kBsn)));
  EXPECT_THAT(sink_->Text(), Not(HasSubstr(kCanaryName)));
  EXPECT_THAT(sink_->Text(), HasSubstr("pruned from the case database"));
}

TEST_F(RetentionTest, AClosedCaseWhoseRefusalIsStillHeldForItsCoordinatorIsNotPruned) {
  const std::string a = OpenCase();
  ASSERT_FALSE(a.empty());
  ASSERT_OK(c_->Admit(a, "politie").status());
  // A request to the police, whose agent never runs: it waits at the
  // gateway until it expires (after 24h); its refusal is then held for the
  // coordinator, who is away (held 200 days in this region).
  ASSERT_OK(c_->SendRequest({a, "politie", {"politie-incidenten"}, "plan-van-aanpak", {"S1"}, ""}).status());
  ASSERT_OK(c_->Close(a, "veiligheid-hersteld").status());
  c_.reset();
  clock_.Advance(2 * kDay);
  ASSERT_TRUE(WaitFor(v1::AUDIT_EVENT_EXPIRED).has_value());

  // Day 92: the sweep runs (its erasure is recorded after its pruning), but
  // the held refusal keeps the case.
  const uint64_t before = Entries().size();
  clock_.Advance(90 * kDay);
  ASSERT_TRUE(WaitFor(v1::AUDIT_EVENT_ERASURE, before).has_value());
  EXPECT_FALSE(WaitFor(v1::AUDIT_EVENT_CASE_PRUNED, 0, /*wait_ms=*/0).has_value());

  // The coordinator comes back and takes it; at the next sweep the case goes.
  ASSERT_OK_AND_ASSIGN(c_, region_->Coordinator());
  ASSERT_OK(c_->FetchInbox(a).status());
  c_.reset();
  clock_.Advance(2 * 3600 * 1000);
  auto pruned = WaitFor(v1::AUDIT_EVENT_CASE_PRUNED);
  ASSERT_TRUE(pruned.has_value());
  EXPECT_EQ(pruned->record.case_id(), a);
}

TEST_F(RetentionTest, ARunningAgentErasesItsOwnExpiredRecordsWhileItServes) {
  region_->SetAgentConfigHook([](const std::string&, agent::AgentConfig& c) { c.audit_retention_ms = kDay; });
  ASSERT_OK(region_->StartAgent("politie"));
  const std::string a = OpenCase();
  ASSERT_FALSE(a.empty());
  ASSERT_OK(c_->Admit(a, "politie").status());
  ASSERT_OK_AND_ASSIGN(
      std::string first,
      c_->SendRequest({a, "politie", {"politie-incidenten"}, "plan-van-aanpak", {"S1"}, ""}));
  ASSERT_OK(c_->AwaitOutcome(first, 8000).status());
  const std::string agent_log = agent::Agent::AuditDir(region_->AgentConfigFor("politie"));
  const size_t before = Entries(agent_log).size();
  ASSERT_GT(before, 0u);
  const std::string note = ReadFileBounded(agent_log + "/checkpoint", 4096).value_or("");

  clock_.Advance(2 * kDay);  // the agent's records of day 0 expired on day 1
  auto erasure = WaitFor(v1::AUDIT_EVENT_ERASURE, 0, 8000, agent_log);
  ASSERT_TRUE(erasure.has_value());
  EXPECT_EQ(erasure->record.erasure().first_index(), 0u);
  // It answers on.
  ASSERT_OK_AND_ASSIGN(
      std::string second,
      c_->SendRequest({a, "politie", {"politie-incidenten"}, "plan-van-aanpak", {"S1"}, ""}));
  ASSERT_OK(c_->AwaitOutcome(second, 8000).status());
  region_->StopAgent("politie");
  audit::VerifyOptions options;
  if (!note.empty()) options.pinned_checkpoints = {note};
  audit::VerifyReport rep = audit::VerifyLog(agent_log, options);
  ASSERT_THAT(rep.status, IsOk());
  EXPECT_GE(rep.tombstones, before);  // all of day 0
  EXPECT_THAT(sink_->Text(), Not(HasSubstr(kCanaryName)));
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp
