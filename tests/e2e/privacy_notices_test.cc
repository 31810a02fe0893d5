// Issue 17 §2 end to end: a decision whose rule asks to notify the privacy
// officer reaches the region's privacy officer as a signed notice held in
// its inbox — through the real gateway, the police's real agent and the real
// coordinator client on CURVE sockets on 127.0.0.1 — fetched later by an
// officer who was offline at the time, gone only once acknowledged, and
// printed by `ketenpoort audit notices` run as a process. No subject's
// identifiers and no justification text in the notice, the gateway's log
// lines or its audit log.
#include <spdlog/spdlog.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "client/privacy_notices.h"
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
using testing::IsOk;
using testing::Region;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

using test::kWaitMs;
constexpr char kCanaryName[] = "CANARY-NAAM-Notitia";
constexpr char kCanaryBsn[] = "999990019";  // Region::kBsn: the subject with data everywhere
// Several words: a one-word justification does not count (policy::AssessJustification).
constexpr char kCanaryJustification[] = "CANARY-ONDERBOUWING vuurwapen in de woning gezien door de buren";

class PrivacyNoticesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sink_ = std::make_shared<testing::CaptureSink>();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("notices", sink_));
    ASSERT_OK_AND_ASSIGN(region_, Region::Create(dir_.path(), SystemClock::Get()));
    ASSERT_OK(region_->StartGateway());
    ASSERT_OK(region_->StartAgent("politie"));
    ASSERT_OK_AND_ASSIGN(coordinator_, region_->Coordinator());
    std::vector<v1::Subject> subjects(1);
    subjects[0].set_role(v1::SUBJECT_ROLE_VICTIM);
    subjects[0].set_bsn(kCanaryBsn);
    subjects[0].set_name(kCanaryName);
    subjects[0].set_date_of_birth("1990-01-01");
    ASSERT_OK_AND_ASSIGN(v1::CaseResult opened, coordinator_->OpenCase("plan-van-aanpak", subjects));
    case_id_ = opened.case_id();
    ASSERT_EQ(opened.phase(), "acute-veiligheid");
    ASSERT_OK(coordinator_->Admit(case_id_, "politie").status());
    ASSERT_OK_AND_ASSIGN(gateway_card_,
                         PublicCard::LoadFile(region_->ClientConfigFor(Region::kPrivacyOfficer).gateway_card));
  }

  void TearDown() override {
    coordinator_.reset();
    region_.reset();
    if (HasFailure()) std::cerr << "log:\n" << sink_->Text();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("null"));
  }

  // Asks the police for their incidents: for the plan (R-POL-01, no
  // notice), or in acute danger with a justification (R-POL-02, which asks
  // to notify the privacy officer). Returns the request id.
  std::string AskPolice(bool acute) {
    auto id = coordinator_->SendRequest({case_id_, "politie", {"politie-incidenten"},
                                         acute ? "acuut-gevaar-afwenden" : "plan-van-aanpak", {"S1"},
                                         acute ? kCanaryJustification : ""});
    EXPECT_THAT(id, IsOk());
    if (!id.ok()) return "";
    auto o = coordinator_->AwaitOutcome(*id, kWaitMs);
    EXPECT_THAT(o, IsOk());
    if (o.ok()) {
      EXPECT_EQ(o->kind, Outcome::Kind::kDelivered) << o->refusal.reason();
    }
    return *id;
  }

  Result<std::unique_ptr<client::GatewayConnection>> ConnectOfficer() {
    return client::GatewayConnection::Open(region_->endpoint(), gateway_card_,
                                           region_->identity(Region::kPrivacyOfficer), SystemClock::Get());
  }
  Result<client::FetchedNotices> Fetch(client::GatewayConnection& officer) {
    return client::FetchPrivacyNotices(officer, gateway_card_, region_->identity(Region::kPrivacyOfficer), kWaitMs);
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

  // `ketenpoort audit notices` as the officer runs it, with its config file.
  testing::ProcessResult Notices(const std::vector<std::string>& extra, const std::string& participant) {
    const std::string config = dir_.path() + "/" + participant + ".yaml";
    EXPECT_OK(testing::WriteClientYaml(region_->ClientConfigFor(participant), config));
    std::vector<std::string> args{testing::BuildBinary("cli/ketenpoort"), "audit", "notices", "--config", config};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = testing::RunToEnd(args, dir_.path() + "/cli-" + std::to_string(++runs_) + ".log", 20'000);
    EXPECT_THAT(r, IsOk());
    return r.ok() ? *r : testing::ProcessResult{};
  }

  testing::TempDir dir_;
  std::shared_ptr<testing::CaptureSink> sink_;
  std::unique_ptr<Region> region_;
  std::unique_ptr<Coordinator> coordinator_;
  std::string case_id_;
  PublicCard gateway_card_;
  int runs_ = 0;
};

TEST_F(PrivacyNoticesTest, AnOfficerOfflineAtTheTimeGetsTheNoticeLaterAndItGoesOnlyOnceAcknowledged) {
  AskPolice(/*acute=*/false);  // R-POL-01: no notice
  const std::string flagged = AskPolice(/*acute=*/true);
  ASSERT_FALSE(flagged.empty());

  // The officer was offline: the notice waited in the gateway's inbox.
  ASSERT_OK_AND_ASSIGN(auto officer, ConnectOfficer());
  ASSERT_OK_AND_ASSIGN(client::FetchedNotices got, Fetch(*officer));
  EXPECT_THAT(got.rejected, ::testing::IsEmpty());
  ASSERT_EQ(got.notices.size(), 1u);
  const v1::CaseNotice& n = got.notices[0].notice;
  EXPECT_EQ(n.kind(), v1::NOTICE_KIND_PRIVACY_OFFICER);
  EXPECT_EQ(n.case_id(), case_id_);
  EXPECT_EQ(n.request_id(), flagged);
  EXPECT_EQ(n.reason_code(), "request");
  EXPECT_EQ(n.by(), Region::kCoordinator);
  EXPECT_EQ(n.phase(), "acute-veiligheid");
  EXPECT_EQ(n.source_partner(), "politie");
  EXPECT_EQ(n.recipient_partner(), "veiligheidsteam");
  EXPECT_THAT(n.categories(), ElementsAre("politie-incidenten"));
  EXPECT_EQ(n.purpose(), "acuut-gevaar-afwenden");
  EXPECT_EQ(n.legal_basis(), "wpg-art-20");
  EXPECT_THAT(n.rule_ids(), ElementsAre("R-POL-02"));
  EXPECT_TRUE(n.justification());
  const std::string notice_bytes = n.SerializeAsString();
  for (const char* canary : {kCanaryBsn, kCanaryName, "CANARY-ONDERBOUWING", "1990-01-01"}) {
    EXPECT_EQ(notice_bytes.find(canary), std::string::npos) << canary;
  }

  // Fetched is not acknowledged: it is still there.
  ASSERT_OK_AND_ASSIGN(client::FetchedNotices again, Fetch(*officer));
  ASSERT_EQ(again.notices.size(), 1u);
  EXPECT_EQ(again.notices[0].notice_id, got.notices[0].notice_id);
  // Acknowledged: gone, confirmed by the gateway, also on a new connection.
  ASSERT_OK_AND_ASSIGN(client::FetchedNotices after,
                       client::AcknowledgePrivacyNotices(*officer, gateway_card_,
                                                         region_->identity(Region::kPrivacyOfficer),
                                                         {got.notices[0].notice_id}, kWaitMs));
  EXPECT_THAT(after.notices, ::testing::IsEmpty());
  officer.reset();
  ASSERT_OK_AND_ASSIGN(auto later, ConnectOfficer());
  ASSERT_OK_AND_ASSIGN(client::FetchedNotices none, Fetch(*later));
  EXPECT_THAT(none.notices, ::testing::IsEmpty());

  // The log: one PRIVACY_OFFICER_NOTIFIED, right after the decision it is
  // about (the same unit), naming the officer.
  const auto records = GatewayRecords();
  int told = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    if (records[i].event() != v1::AUDIT_EVENT_PRIVACY_OFFICER_NOTIFIED) continue;
    ++told;
    EXPECT_EQ(records[i].message_id(), flagged);
    ASSERT_GT(i, 0u);
    EXPECT_EQ(records[i - 1].event(), v1::AUDIT_EVENT_DECISION);
    EXPECT_EQ(records[i - 1].message_id(), flagged);
    EXPECT_EQ(records[i - 1].index(), n.audit_index());
    EXPECT_THAT(records[i].reason(), HasSubstr(Region::kPrivacyOfficer));
  }
  EXPECT_EQ(told, 1);

  // No subject's identifiers nor the justification in the gateway's log
  // lines or its audit log.
  const std::string logged = sink_->Text() + testing::AllBytesUnder(region_->gateway_config().data_dir);
  for (const char* canary : {kCanaryBsn, kCanaryName, "CANARY-ONDERBOUWING"}) {
    EXPECT_EQ(logged.find(canary), std::string::npos) << canary;
  }
}

TEST_F(PrivacyNoticesTest, AConnectedOfficerGetsItAtOnceAndOnceOnly) {
  ASSERT_OK_AND_ASSIGN(auto officer, ConnectOfficer());
  ASSERT_OK_AND_ASSIGN(client::FetchedNotices before, Fetch(*officer));  // the gateway now knows the officer is here
  EXPECT_THAT(before.notices, ::testing::IsEmpty());
  AskPolice(/*acute=*/true);
  // Sent at once and held: the fetch that follows sees the same notice once.
  ASSERT_OK_AND_ASSIGN(client::FetchedNotices got, Fetch(*officer));
  ASSERT_EQ(got.notices.size(), 1u);
  EXPECT_THAT(got.notices[0].notice.rule_ids(), ElementsAre("R-POL-02"));
}

TEST_F(PrivacyNoticesTest, TheNoticesCommandPrintsThenAcknowledgesAndSaysWhenThereAreNone) {
  testing::ProcessResult none = Notices({}, Region::kPrivacyOfficer);
  EXPECT_EQ(none.exit_code, 0) << none.output;
  EXPECT_THAT(none.output, HasSubstr("no notices for fg-01"));

  const std::string flagged = AskPolice(/*acute=*/true);
  testing::ProcessResult one = Notices({}, Region::kPrivacyOfficer);
  EXPECT_EQ(one.exit_code, 0) << one.output;
  EXPECT_THAT(one.output, HasSubstr("case " + case_id_ + "  politie -> veiligheidsteam  categories politie-incidenten"
                                    "  purpose acuut-gevaar-afwenden  basis wpg-art-20  rules R-POL-02"));
  EXPECT_THAT(one.output, HasSubstr("why: rule asks to notify the privacy officer; decided on a justification"));
  EXPECT_THAT(one.output, HasSubstr("request " + HexEncode(flagged) + " by regisseur-01"));
  EXPECT_THAT(one.output, HasSubstr("1 notice(s) acknowledged"));
  for (const char* canary : {kCanaryBsn, kCanaryName, "CANARY-ONDERBOUWING"}) {
    EXPECT_THAT(one.output, Not(HasSubstr(canary)));
  }
  // Acknowledged: the next run has none.
  testing::ProcessResult after = Notices({}, Region::kPrivacyOfficer);
  EXPECT_EQ(after.exit_code, 0) << after.output;
  EXPECT_THAT(after.output, HasSubstr("no notices"));

  // --json: one object per line.
  AskPolice(/*acute=*/true);
  testing::ProcessResult json = Notices({"--json"}, Region::kPrivacyOfficer);
  EXPECT_EQ(json.exit_code, 0) << json.output;
  const std::string line = json.output.substr(0, json.output.find('\n'));
  auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(j.is_discarded()) << json.output;
  EXPECT_EQ(j["case_id"], case_id_);
  EXPECT_EQ(j["rule_ids"], nlohmann::json::array({"R-POL-02"}));
  EXPECT_EQ(j["legal_basis"], "wpg-art-20");
  EXPECT_EQ(j["justification"], true);

  // Only a privacy officer has notices.
  testing::ProcessResult coordinator = Notices({}, Region::kCoordinator);
  EXPECT_EQ(coordinator.exit_code, 3) << coordinator.output;
  EXPECT_THAT(coordinator.output, HasSubstr("only a privacy officer receives notices"));
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp
