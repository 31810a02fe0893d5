// The source's professional decides (issue 16 §3), end to end: the real
// gateway and agents of a region, the coordinator's client, and
// `ketenpoort-agent approvals ...` / `consent ...` run as separate processes
// against the running agent's data folder. Approve -> the answer arrives;
// decline -> the refusal with the reason; nobody decides -> a refusal and
// an APPROVAL_EXPIRED notice; a consent the source records counts.
#include <spdlog/spdlog.h>

#include <chrono>
#include <set>
#include <fstream>
#include <thread>

#include "agent/agent.h"
#include "agent/approvals.h"
#include "core/audit/log_reader.h"
#include "core/base/encoding.h"
#include "tests/testing/capture_sink.h"
#include "tests/testing/child_process.h"
#include "tests/testing/region.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_time.h"

namespace kp {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

namespace v1 = ketenpoort::v1;
using client::Coordinator;
using client::Outcome;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::IsOk;
using testing::Region;

using test::kWaitMs;
constexpr char kCanaryName[] = "CANARY-NAAM-goedkeuring";

class ApprovalsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sink_ = std::make_shared<testing::CaptureSink>();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("approvals", sink_));
    ASSERT_OK_AND_ASSIGN(region_, Region::Create(dir_.path(), SystemClock::Get()));
    ASSERT_OK(region_->StartGateway());
  }
  void TearDown() override {
    region_.reset();
    if (HasFailure()) std::cerr << "log:\n" << sink_->Text();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("null"));
  }

  // The partner's agent holds every request for `category` for its
  // professional, `approval_ms` long.
  Status StartHolding(const std::string& partner, const std::string& category, int64_t approval_ms) {
    region_->SetAgentConfigHook([=](const std::string& p, agent::AgentConfig& c) {
      if (p != partner) return;
      c.approve_categories.insert(category);
      c.approval_time_ms = approval_ms;
    });
    return region_->StartAgent(partner);
  }

  // A minimal configuration file for the CLI (it reads data_dir from it).
  std::string WriteAgentYaml(const std::string& partner) {
    const agent::AgentConfig c = region_->AgentConfigFor(partner);
    const std::string path = dir_.path() + "/" + partner + "-agent.yaml";
    std::ofstream out(path);
    out << "identity: " << c.identity << "\ngateway:\n  endpoint: " << c.gateway_endpoint << "\n  card: " << c.gateway_card
        << "\nenrolment_card: " << c.enrolment_card << "\nregistry: " << c.registry << "\npolicy: " << c.policy
        << "\ndata_dir: " << c.data_dir << "\n";
    return path;
  }

  testing::ProcessResult Cli(std::vector<std::string> args) {
    args.insert(args.begin(), testing::BuildBinary("agent/ketenpoort-agent"));
    auto r = testing::RunToEnd(args, dir_.path() + "/cli.log", 20'000);
    EXPECT_THAT(r, IsOk());
    return r.ok() ? *r : testing::ProcessResult{};
  }

  std::string OpenCase(Coordinator& c) {
    std::vector<v1::Subject> subjects(1);
    subjects[0].set_role(v1::SUBJECT_ROLE_VICTIM);
    subjects[0].set_bsn(Region::kBsn);
    subjects[0].set_name(kCanaryName);
    subjects[0].set_date_of_birth("1990-01-01");
    auto opened = c.OpenCase("plan-van-aanpak", subjects);
    EXPECT_THAT(opened, IsOk());
    if (!opened.ok()) return "";
    for (const auto& p : region_->partners()) EXPECT_OK(c.Admit(opened->case_id(), p).status());
    return opened->case_id();
  }

  // Sends the request and waits until the source says it holds it.
  std::string SendHeld(Coordinator& c, const std::string& case_id, const std::string& partner,
                       const std::string& category) {
    return SendHeld(c, {case_id, partner, {category}, "plan-van-aanpak", {"S1"}, ""});
  }
  std::string SendHeld(Coordinator& c, const client::RequestSpec& spec) {
    auto id = c.SendRequest(spec);
    EXPECT_THAT(id, IsOk());
    if (!id.ok()) return "";
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kWaitMs);
    while (std::chrono::steady_clock::now() < deadline) {
      (void)c.Poll(100, nullptr);
      auto until = c.store().ApprovalWaitUntil(*id);
      if (until.ok() && *until > 0) {
        auto news = c.TakeNews();
        EXPECT_EQ(news.approvals_pending.size(), 1u);
        return *id;
      }
    }
    ADD_FAILURE() << "no approval-pending came for the request";
    return *id;
  }

  std::vector<v1::AuditRecord> AgentRecords(const std::string& partner) {
    std::vector<v1::AuditRecord> out;
    auto reader = audit::LogReader::Open(agent::Agent::AuditDir(region_->AgentConfigFor(partner)));
    EXPECT_THAT(reader, IsOk());
    if (!reader.ok()) return out;
    EXPECT_OK((*reader)->ForEachEntry([&](const audit::LogEntry& e) {
      out.push_back(e.record);
      return OkStatus();
    }));
    return out;
  }
  static size_t Count(const std::vector<v1::AuditRecord>& records, v1::AuditEvent event) {
    size_t n = 0;
    for (const auto& r : records) n += r.event() == event ? 1 : 0;
    return n;
  }
  std::vector<v1::AuditRecord> GatewayRecords() {
    std::vector<v1::AuditRecord> out;
    auto reader = audit::LogReader::Open(gateway::Gateway::AuditDir(region_->gateway_config()));
    EXPECT_THAT(reader, IsOk());
    if (!reader.ok()) return out;
    EXPECT_OK((*reader)->ForEachEntry([&](const audit::LogEntry& e) {
      out.push_back(e.record);
      return OkStatus();
    }));
    return out;
  }

  testing::TempDir dir_;
  std::shared_ptr<testing::CaptureSink> sink_;
  std::unique_ptr<Region> region_;
};

TEST_F(ApprovalsTest, ApprovedIsAnsweredAndDeclinedIsRefusedWithTheReason) {
  ASSERT_OK(StartHolding("politie", "politie-incidenten", 3'600'000));
  auto c = region_->Coordinator();
  ASSERT_THAT(c, IsOk());
  const std::string case_id = OpenCase(**c);
  ASSERT_FALSE(case_id.empty());
  const std::string yaml = WriteAgentYaml("politie");

  // Held: no answer yet; the professional sees it, without who it is about.
  const std::string first = SendHeld(**c, case_id, "politie", "politie-incidenten");
  auto none = (*c)->AwaitOutcome(first, 300);
  EXPECT_EQ(none.status().code(), StatusCode::kDeadlineExceeded);
  auto listed = Cli({"approvals", "list", "--config", yaml});
  EXPECT_EQ(listed.exit_code, 0) << listed.output;
  EXPECT_THAT(listed.output, HasSubstr("1 request(s) wait for a decision"));
  EXPECT_THAT(listed.output, HasSubstr(HexEncode(first).substr(0, 8)));
  EXPECT_THAT(listed.output, HasSubstr("politie-incidenten"));
  EXPECT_THAT(listed.output, HasSubstr("about: victim"));
  EXPECT_THAT(listed.output, Not(HasSubstr(Region::kBsn)));
  EXPECT_THAT(listed.output, Not(HasSubstr(kCanaryName)));

  // A decline needs a reason, and one without a BSN in it.
  auto no_reason = Cli({"approvals", "decline", HexEncode(first).substr(0, 8), "--config", yaml, "--by", "J. Jansen"});
  EXPECT_NE(no_reason.exit_code, 0);
  auto bsn_reason = Cli({"approvals", "decline", HexEncode(first).substr(0, 8), "--config", yaml, "--by", "J. Jansen",
                         "--reason", std::string("over ") + Region::kBsn});
  EXPECT_EQ(bsn_reason.exit_code, 1);
  EXPECT_THAT(bsn_reason.output, HasSubstr("personal data"));

  // Approved: the agent answers at its next look.
  auto approved = Cli({"approvals", "approve", HexEncode(first).substr(0, 8), "--config", yaml, "--by",
                       "J. Jansen, poortwachter"});
  EXPECT_EQ(approved.exit_code, 0) << approved.output;
  EXPECT_THAT(approved.output, HasSubstr("the agent acted on it: answered"));
  auto delivered = (*c)->AwaitOutcome(first, kWaitMs);
  ASSERT_THAT(delivered, IsOk());
  ASSERT_EQ(delivered->kind, Outcome::Kind::kDelivered) << delivered->refusal.reason();
  ASSERT_EQ(delivered->content.categories_size(), 1);
  EXPECT_EQ(delivered->content.categories(0).records_size(), 1);
  auto again = Cli({"approvals", "approve", HexEncode(first).substr(0, 8), "--config", yaml, "--by", "J. Jansen"});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_THAT(again.output, HasSubstr("already decided"));

  // Declined: the coordinator gets the professional's reason.
  const std::string second = SendHeld(**c, case_id, "politie", "politie-incidenten");
  auto declined = Cli({"approvals", "decline", HexEncode(second).substr(0, 8), "--config", yaml, "--by",
                       "J. Jansen, poortwachter", "--reason", "lopend onderzoek; nu niet delen"});
  EXPECT_EQ(declined.exit_code, 0) << declined.output;
  auto refused = (*c)->AwaitOutcome(second, kWaitMs);
  ASSERT_THAT(refused, IsOk());
  ASSERT_EQ(refused->kind, Outcome::Kind::kRefused);
  EXPECT_EQ(refused->refusal.refused_by(), v1::REFUSED_BY_AGENT);
  EXPECT_THAT(refused->refusal.reason(), HasSubstr("lopend onderzoek; nu niet delen"));

  // The agent's own log has the hold and both decisions, with who decided.
  const auto own = AgentRecords("politie");
  EXPECT_EQ(Count(own, v1::AUDIT_EVENT_APPROVAL_PENDING), 2u);
  EXPECT_EQ(Count(own, v1::AUDIT_EVENT_SOURCE_APPROVED), 1u);
  EXPECT_EQ(Count(own, v1::AUDIT_EVENT_SOURCE_DECLINED), 1u);
  EXPECT_EQ(Count(own, v1::AUDIT_EVENT_DELIVERED), 1u);
  for (const auto& r : own) {
    if (r.event() == v1::AUDIT_EVENT_SOURCE_DECLINED) {
      EXPECT_THAT(r.reason(), HasSubstr("J. Jansen, poortwachter"));
    }
  }
  EXPECT_EQ(Count(GatewayRecords(), v1::AUDIT_EVENT_APPROVAL_PENDING), 2u);
  // Each record of the hold names S1 with the keyed pseudonyms the privacy
  // officer computes from the victim's identifiers (issue 17 §3).
  v1::Subject victim;
  victim.set_bsn(Region::kBsn);
  victim.set_name(kCanaryName);
  victim.set_date_of_birth("1990-01-01");
  const auto want = cases::SubjectPseudonyms(region_->pseudonym_key(), victim);
  ASSERT_EQ(want.size(), 2u);
  auto names_victim = [&](const v1::AuditRecord& r) {
    return r.subjects_size() == 1 && r.subjects(0).ref() == "S1" && r.subjects(0).pseudonyms_size() == 2 &&
           r.subjects(0).pseudonyms(0).value() == want[0].value() &&
           r.subjects(0).pseudonyms(1).value() == want[1].value();
  };
  for (const auto& r : own) {
    if (r.event() == v1::AUDIT_EVENT_APPROVAL_PENDING || r.event() == v1::AUDIT_EVENT_SOURCE_APPROVED ||
        r.event() == v1::AUDIT_EVENT_SOURCE_DECLINED || r.event() == v1::AUDIT_EVENT_DELIVERED) {
      EXPECT_TRUE(names_victim(r)) << r.DebugString();
    }
  }
  for (const auto& r : GatewayRecords()) {
    if (r.event() == v1::AUDIT_EVENT_APPROVAL_PENDING) {
      EXPECT_TRUE(names_victim(r)) << r.DebugString();
    }
  }
  // No identifiers in the logs or in any file the agent keeps.
  EXPECT_THAT(sink_->Text(), Not(HasSubstr(Region::kBsn)));
  EXPECT_THAT(sink_->Text(), Not(HasSubstr(kCanaryName)));
  const std::string kept = testing::AllBytesUnder(region_->AgentConfigFor("politie").data_dir);
  EXPECT_EQ(kept.find(Region::kBsn), std::string::npos);
  EXPECT_EQ(kept.find(kCanaryName), std::string::npos);
}

TEST_F(ApprovalsTest, NobodyDecidesSoItExpiresWithARefusalAndANotice) {
  ASSERT_OK(StartHolding("politie", "politie-incidenten", 1'500));
  auto c = region_->Coordinator();
  ASSERT_THAT(c, IsOk());
  const std::string case_id = OpenCase(**c);
  const std::string id = SendHeld(**c, case_id, "politie", "politie-incidenten");
  auto refused = (*c)->AwaitOutcome(id, kWaitMs);
  ASSERT_THAT(refused, IsOk());
  ASSERT_EQ(refused->kind, Outcome::Kind::kRefused);
  EXPECT_THAT(refused->refusal.reason(), HasSubstr("approval expired"));
  // The notice comes too (held in the inbox when it was not sent at once).
  bool noticed = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kWaitMs);
  while (!noticed && std::chrono::steady_clock::now() < deadline) {
    (void)(*c)->Poll(100, nullptr);
    for (const auto& n : (*c)->TakeNews().notices) {
      if (n.kind() != v1::NOTICE_KIND_APPROVAL_EXPIRED) continue;
      noticed = true;
      EXPECT_EQ(n.request_id(), id);
      EXPECT_THAT(client::NoticeText(n), HasSubstr("approval expired"));
    }
  }
  EXPECT_TRUE(noticed);
  EXPECT_GE(Count(GatewayRecords(), v1::AUDIT_EVENT_APPROVAL_EXPIRED), 1u);
  // The agent let it go too, and a late decision is refused.
  const std::string yaml = WriteAgentYaml("politie");
  bool agent_expired = false;
  for (int i = 0; i < 40 && !agent_expired; ++i) {
    agent_expired = Count(AgentRecords("politie"), v1::AUDIT_EVENT_APPROVAL_EXPIRED) == 1;
    if (!agent_expired) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(agent_expired);
  auto late = Cli({"approvals", "approve", HexEncode(id).substr(0, 8), "--config", yaml, "--by", "J. Jansen"});
  EXPECT_EQ(late.exit_code, 1);
}

// The policy itself asks for the source's approval, not the agent's own
// restriction: without consent, GGz may share in acute danger only in a
// conflict of duties (R-GGZ-02, legal basis conflict-van-plichten: the KNMG
// weighing and the approval of GGz's own professional, BW 7:457). The GGz
// agent runs with no approve_categories at all.
TEST_F(ApprovalsTest, TheConflictOfDutiesAtGgzWaitsForItsOwnProfessional) {
  ASSERT_OK(region_->StartAgent("ggz"));
  ASSERT_TRUE(region_->AgentConfigFor("ggz").approve_categories.empty());
  auto c = region_->Coordinator();
  ASSERT_THAT(c, IsOk());
  const std::string case_id = OpenCase(**c);  // in the acute phase
  ASSERT_FALSE(case_id.empty());
  client::RequestSpec spec{case_id, "ggz", {"ggz-in-zorg"}, "acuut-gevaar-afwenden", {"S1"}, ""};

  // Without consent and without the weighing the gateway refuses, naming
  // the less intrusive route first (consent, R-GGZ-01).
  auto bare = (*c)->SendRequest(spec);
  ASSERT_THAT(bare, IsOk());
  auto refused = (*c)->AwaitOutcome(*bare, kWaitMs);
  ASSERT_THAT(refused, IsOk());
  ASSERT_EQ(refused->kind, Outcome::Kind::kRefused);
  EXPECT_EQ(refused->refusal.refused_by(), v1::REFUSED_BY_GATEWAY);
  EXPECT_THAT(refused->refusal.reason(), HasSubstr("no consent recorded"));

  // With it: the gateway permits under R-GGZ-02 with the obligation, the GGz
  // agent holds it, the coordinator sees the wait.
  v1::Weighing w;
  w.set_consent("De cliënt is in een psychose en niet in staat toestemming te geven.");
  w.set_harm("Hij heeft gedreigd zijn partner vannacht iets aan te doen.");
  w.set_no_other_way("De crisisdienst is niet bereikbaar en de partner is al gewaarschuwd.");
  w.set_effect("De casusregisseur kan de behandelaar bellen en een crisisplan maken.");
  w.set_minimum("Alleen of hij in zorg is en wie de contactpersoon is.");
  w.set_approver("A. Bakker, casusregisseur Veiligheidsteam");
  spec.weighing = w;
  const std::string id = SendHeld(**c, spec);
  ASSERT_FALSE(id.empty());
  ASSERT_OK_AND_ASSIGN(int64_t until, (*c)->store().ApprovalWaitUntil(id));
  EXPECT_GT(until, SystemClock::Get().NowMillis() + 71 * 3'600'000LL);  // the agent's approval_time, 72 h
  EXPECT_EQ((*c)->AwaitOutcome(id, 300).status().code(), StatusCode::kDeadlineExceeded);
  bool authorised_with_obligation = false;
  for (const auto& r : GatewayRecords()) {
    if (r.message_id() != id || r.event() != v1::AUDIT_EVENT_DECISION) continue;
    authorised_with_obligation = r.decision().obligations().source_approval();
    EXPECT_THAT(r.decision().rule_ids(), ::testing::ElementsAre("R-GGZ-02"));
  }
  EXPECT_TRUE(authorised_with_obligation);

  // The GGz professional (poortwachter) sees it and approves: the answer comes.
  const std::string yaml = WriteAgentYaml("ggz");
  auto listed = Cli({"approvals", "list", "--config", yaml});
  EXPECT_THAT(listed.output, HasSubstr("1 request(s) wait for a decision"));
  EXPECT_THAT(listed.output, HasSubstr("R-GGZ-02"));
  auto approved = Cli({"approvals", "approve", HexEncode(id).substr(0, 8), "--config", yaml, "--by",
                       "dr. A. de Wit, psychiater (poortwachter)"});
  EXPECT_EQ(approved.exit_code, 0) << approved.output;
  auto delivered = (*c)->AwaitOutcome(id, kWaitMs);
  ASSERT_THAT(delivered, IsOk());
  ASSERT_EQ(delivered->kind, Outcome::Kind::kDelivered) << delivered->refusal.reason();
  ASSERT_EQ(delivered->content.categories_size(), 1);
  EXPECT_EQ(delivered->content.categories(0).category(), "ggz-in-zorg");
  EXPECT_EQ((*c)->store().ApprovalWaitUntil(id).value_or(-1), 0);  // no longer waiting
  EXPECT_EQ((*c)->store().PruneApprovalWaits().value_or(0), 1u);     // and its row goes
  EXPECT_EQ((*c)->store().PruneApprovalWaits().value_or(9), 0u);

  const auto own = AgentRecords("ggz");
  EXPECT_EQ(Count(own, v1::AUDIT_EVENT_APPROVAL_PENDING), 1u);
  EXPECT_EQ(Count(own, v1::AUDIT_EVENT_SOURCE_APPROVED), 1u);
  for (const auto& r : own) {
    if (r.event() == v1::AUDIT_EVENT_SOURCE_APPROVED) {
      EXPECT_THAT(r.reason(), HasSubstr("dr. A. de Wit"));
    }
  }
  EXPECT_THAT(sink_->Text(), Not(HasSubstr(Region::kBsn)));
  EXPECT_THAT(sink_->Text(), Not(HasSubstr(kCanaryName)));
}

// A decline in the last minutes before decide_by (within the gateway's
// replay window, where an agent's own expiry may come early) is a decline:
// the refusal with the professional's reason, and no APPROVAL_EXPIRED.
TEST_F(ApprovalsTest, ALateDeclineIsNoExpiry) {
  ASSERT_OK(StartHolding("politie", "politie-incidenten", 60'000));  // well inside the 5-minute window
  ASSERT_LT(60'000, region_->gateway_config().replay_window_ms);
  auto c = region_->Coordinator();
  ASSERT_THAT(c, IsOk());
  const std::string case_id = OpenCase(**c);
  const std::string id = SendHeld(**c, case_id, "politie", "politie-incidenten");
  const std::string yaml = WriteAgentYaml("politie");
  auto declined = Cli({"approvals", "decline", HexEncode(id).substr(0, 8), "--config", yaml, "--by",
                       "J. Jansen, poortwachter", "--reason", "lopend onderzoek; nu niet delen"});
  EXPECT_EQ(declined.exit_code, 0) << declined.output;
  auto refused = (*c)->AwaitOutcome(id, kWaitMs);
  ASSERT_THAT(refused, IsOk());
  ASSERT_EQ(refused->kind, Outcome::Kind::kRefused);
  EXPECT_THAT(refused->refusal.reason(), HasSubstr("declined by the professional at politie"));
  EXPECT_THAT(refused->refusal.reason(), Not(HasSubstr("expired")));
  // Anything the gateway sent with it has arrived by now: no notice.
  const auto settle = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
  while (std::chrono::steady_clock::now() < settle) {
    (void)(*c)->Poll(50, nullptr);
    for (const auto& n : (*c)->TakeNews().notices) EXPECT_NE(n.kind(), v1::NOTICE_KIND_APPROVAL_EXPIRED);
  }
  EXPECT_EQ(Count(GatewayRecords(), v1::AUDIT_EVENT_APPROVAL_EXPIRED), 0u);
  EXPECT_EQ(Count(AgentRecords("politie"), v1::AUDIT_EVENT_SOURCE_DECLINED), 1u);
}

TEST_F(ApprovalsTest, AConsentTheSourceRecordsCountsAndItsWithdrawalToo) {
  ASSERT_OK(region_->StartAgent("ggz"));
  auto c = region_->Coordinator();
  ASSERT_THAT(c, IsOk());
  const std::string case_id = OpenCase(**c);
  auto ask = [&] {
    auto id = (*c)->SendRequest({case_id, "ggz", {"ggz-in-zorg"}, "plan-van-aanpak", {"S1"}, ""});
    EXPECT_THAT(id, IsOk());
    auto o = (*c)->AwaitOutcome(*id, kWaitMs);
    EXPECT_THAT(o, IsOk());
    return o.ok() ? *o : Outcome{};
  };
  ASSERT_EQ(ask().kind, Outcome::Kind::kRefused);  // no consent
  const std::string yaml = WriteAgentYaml("ggz");
  const std::string until = FormatRfc3339Millis(SystemClock::Get().NowMillis() + 30LL * 86'400'000).substr(0, 10);
  auto recorded = Cli({"consent", "record", "--config", yaml, "--case", case_id, "--subject", "S1", "--purpose",
                       "plan-van-aanpak", "--until", until, "--by", "dr. A. de Wit, psychiater"});
  EXPECT_EQ(recorded.exit_code, 0) << recorded.output;
  EXPECT_THAT(recorded.output, HasSubstr("the gateway recorded the consent"));
  Outcome with = ask();
  EXPECT_EQ(with.kind, Outcome::Kind::kDelivered) << with.refusal.reason();
  auto bad = Cli({"consent", "record", "--config", yaml, "--case", case_id, "--subject", "S9", "--purpose",
                  "plan-van-aanpak", "--until", until, "--by", "dr. A. de Wit"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.output, HasSubstr("no subject"));
  auto withdrawn = Cli({"consent", "withdraw", "--config", yaml, "--case", case_id, "--subject", "S1", "--purpose",
                        "plan-van-aanpak", "--by", "dr. A. de Wit, psychiater"});
  EXPECT_EQ(withdrawn.exit_code, 0) << withdrawn.output;
  EXPECT_EQ(ask().kind, Outcome::Kind::kRefused);
  const auto own = AgentRecords("ggz");
  EXPECT_EQ(Count(own, v1::AUDIT_EVENT_SOURCE_CONSENT_RECORDED), 1u);
  EXPECT_EQ(Count(own, v1::AUDIT_EVENT_SOURCE_CONSENT_WITHDRAWN), 1u);
  const auto gw = GatewayRecords();
  EXPECT_EQ(Count(gw, v1::AUDIT_EVENT_SOURCE_CONSENT_RECORDED), 1u);
  EXPECT_EQ(Count(gw, v1::AUDIT_EVENT_SOURCE_CONSENT_WITHDRAWN), 1u);
}

// The queue keeps a settled entry (answered, refused, expired) for
// Approvals::kKeepSettledMs after its decide_by, for `approvals list --all`;
// what still waits or was decided but not yet acted on is never pruned.
TEST(ApprovalQueueTest, SettledEntriesGoThirtyDaysAfterTheirTime) {
  testing::TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto q, agent::Approvals::Open(dir.path()));
  constexpr int64_t kNow = 1795357974123;
  constexpr int64_t kDay = 86'400'000;
  auto add = [&](const std::string& id, int64_t decide_by) {
    agent::PendingApproval a;
    a.request_id = id;
    a.case_id = "VT-2026-0042";
    a.coordinator = "regisseur-01";
    a.recipient_partner = "veiligheidsteam";
    a.purpose = "plan-van-aanpak";
    a.categories = {"ggz-in-zorg"};
    a.authorisation = "sealed";
    a.queued_ms = decide_by - 3 * kDay;
    a.decide_by_ms = decide_by;
    return q->Add(a);
  };
  const int64_t old = kNow - 31 * kDay, recent = kNow - 29 * kDay;
  ASSERT_OK(add("answered-old", old));
  ASSERT_OK(q->Settle("answered-old", agent::ApprovalState::kAnswered, "answered"));
  ASSERT_OK(add("refused-old", old));
  ASSERT_OK(q->Settle("refused-old", agent::ApprovalState::kRefused, "declined by the professional: nee"));
  ASSERT_OK(add("expired-old", old));
  ASSERT_OK(q->Settle("expired-old", agent::ApprovalState::kExpired, "approval expired: ..."));
  ASSERT_OK(add("answered-recent", recent));
  ASSERT_OK(q->Settle("answered-recent", agent::ApprovalState::kAnswered, "answered"));
  ASSERT_OK(add("waiting-old", old));  // the agent expires it first
  ASSERT_OK(add("approved-old", old));  // the agent answers it first
  ASSERT_OK(q->Decide("approved-old", true, "J. Jansen", "", old - kDay));

  ASSERT_OK_AND_ASSIGN(size_t pruned, q->PruneSettled(kNow));
  EXPECT_EQ(pruned, 3u);
  ASSERT_OK_AND_ASSIGN(auto left, q->List(/*all=*/true));
  std::set<std::string> ids;
  for (const auto& a : left) ids.insert(a.request_id);
  EXPECT_EQ(ids, (std::set<std::string>{"answered-recent", "waiting-old", "approved-old"}));
  ASSERT_OK_AND_ASSIGN(pruned, q->PruneSettled(kNow));
  EXPECT_EQ(pruned, 0u);
  ASSERT_OK_AND_ASSIGN(pruned, q->PruneSettled(recent + agent::Approvals::kKeepSettledMs + 1));
  EXPECT_EQ(pruned, 1u);
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp
