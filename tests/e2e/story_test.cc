// End to end, the way the region works (issue 14, DESIGN.md §4a), with the
// real gateway, real agents and real coordinator clients on CURVE sockets on
// 127.0.0.1, real SQLite files and audit logs, the real clock:
//   1. Veilig Thuis refers a family; the Veiligheidsteam's casusregisseur
//      accepts; partners answer; the case is handed to the wijkteam's
//      casuscoördinator at a marked moment, with what of the casusregisseur's
//      data the policy gives the wijkteam (the rest stays behind).
//   2. The police open an acute case at night with Veilig Thuis and the CIT;
//      the CIT's report comes after the weighing and its own crisis worker's
//      approval; the next morning the case is handed to Veilig Thuis, with
//      the CIT's report (Veilig Thuis' own reports stay behind).
// And the privacy officer's record of both: every step in the gateway's log,
// no personal data anywhere in the logs.
#include <spdlog/spdlog.h>

#include <chrono>
#include <map>
#include <set>

#include "agent/approvals.h"
#include "core/audit/log_reader.h"
#include "core/base/file_util.h"
#include "gateway/gateway.h"
#include "tests/testing/capture_sink.h"
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
using testing::StatusIs;

using test::kDay;
using test::kWaitMs;
constexpr char kCanaryName[] = "CANARY-NAAM-Verwijzing";
constexpr char kReference[] = "VT-MB-2026-0815";

class StoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sink_ = std::make_shared<testing::CaptureSink>();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("story", sink_));
    ASSERT_OK_AND_ASSIGN(region_, Region::Create(dir_.path(), SystemClock::Get()));
    ASSERT_OK(region_->StartGateway());
  }

  void TearDown() override {
    region_.reset();
    if (HasFailure()) std::cerr << "log:\n" << sink_->Text();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("null"));
  }

  std::unique_ptr<Coordinator> Connect(const std::string& participant) {
    auto c = region_->ConnectAs(participant);
    EXPECT_THAT(c, IsOk()) << participant;
    return c.ok() ? std::move(c).value() : nullptr;
  }

  static std::vector<v1::Subject> Family() {
    std::vector<v1::Subject> subjects(2);
    subjects[0].set_role(v1::SUBJECT_ROLE_VICTIM);
    subjects[0].set_bsn(Region::kBsn);
    subjects[0].set_name(kCanaryName);
    subjects[0].set_date_of_birth("1990-01-01");
    subjects[1].set_role(v1::SUBJECT_ROLE_CHILD);
    subjects[1].set_bsn("999990020");
    return subjects;
  }

  Outcome Ask(Coordinator& c, const std::string& case_id, const std::string& partner,
              const std::vector<std::string>& categories, const std::string& purpose,
              const std::string& justification = "") {
    auto id = c.SendRequest({case_id, partner, categories, purpose, {"S1"}, justification});
    EXPECT_THAT(id, IsOk());
    if (!id.ok()) return {};
    auto o = c.AwaitOutcome(*id, kWaitMs);
    EXPECT_THAT(o, IsOk()) << partner;
    return o.ok() ? *o : Outcome{};
  }

  // Asks `partner` with the conflict-of-duties weighing; its agent holds the
  // request (the policy's source_approval), the coordinator sees the wait,
  // and `professional` approves it in the agent's queue (the same SQLite file
  // `ketenpoort-agent approvals approve` writes).
  Outcome AskWithApprovalAt(Coordinator& c, const std::string& case_id, const std::string& partner,
                            const std::string& category, const std::string& purpose, const std::string& professional) {
    v1::Weighing w;
    w.set_consent("De moeder is in paniek en niet aanspreekbaar; toestemming vragen kan nu niet.");
    w.set_harm("Ernstig gevaar voor de moeder en de kinderen als de politie de crisis niet kent.");
    w.set_no_other_way("De behandelaar is vannacht niet bereikbaar; er is geen andere weg.");
    w.set_effect("De agenten weten welke maatregelen lopen en kunnen veilig optreden.");
    w.set_minimum("Alleen de inzet en de maatregelen, niet de aard van de crisis.");
    w.set_approver("Brigadier P. Jansen, politie basisteam Tilburg");
    client::RequestSpec spec{case_id, partner, {category}, purpose, {"S1"}, ""};
    spec.weighing = w;
    auto id = c.SendRequest(spec);
    EXPECT_THAT(id, IsOk());
    if (!id.ok()) return {};
    int64_t until = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kWaitMs);
    while (until <= 0 && std::chrono::steady_clock::now() < deadline) {
      (void)c.Poll(100, nullptr);
      auto u = c.store().ApprovalWaitUntil(*id);
      until = u.ok() ? *u : 0;
    }
    EXPECT_GT(until, 0) << "no wait for the source's approval";
    EXPECT_EQ(c.AwaitOutcome(*id, 200).status().code(), StatusCode::kDeadlineExceeded);  // held, not answered
    auto queue = agent::Approvals::Open(region_->AgentConfigFor(partner).data_dir);
    EXPECT_THAT(queue, IsOk());
    if (!queue.ok()) return {};
    EXPECT_OK((*queue)->Decide(*id, /*approve=*/true, professional, "", SystemClock::Get().NowMillis()));
    auto o = c.AwaitOutcome(*id, kWaitMs);
    EXPECT_THAT(o, IsOk()) << partner;
    return o.ok() ? *o : Outcome{};
  }

  std::vector<v1::AuditRecord> GatewayRecords(const std::string& case_id = "") {
    std::vector<v1::AuditRecord> out;
    auto reader = audit::LogReader::Open(gateway::Gateway::AuditDir(region_->gateway_config()));
    EXPECT_THAT(reader, IsOk());
    if (!reader.ok()) return out;
    EXPECT_OK((*reader)->ForEachEntry([&](const audit::LogEntry& e) {
      if (case_id.empty() || e.record.case_id() == case_id) out.push_back(e.record);
      return OkStatus();
    }));
    return out;
  }

  static int Count(const std::vector<v1::AuditRecord>& records, v1::AuditEvent event) {
    int n = 0;
    for (const auto& r : records) n += r.event() == event ? 1 : 0;
    return n;
  }

  // No BSN and no name in anything logged, nor in any file of the gateway.
  void ExpectNoPersonalDataInLogs() {
    for (const std::string& canary : {std::string(Region::kBsn), std::string(kCanaryName), std::string("999990020")}) {
      EXPECT_EQ(sink_->Text().find(canary), std::string::npos) << canary << " in the log";
      EXPECT_THAT(testing::AllBytesUnder(region_->gateway_config().data_dir), ::testing::Not(::testing::HasSubstr(canary)))
          << canary << " in the gateway's files";
    }
  }

  testing::TempDir dir_;
  std::shared_ptr<testing::CaptureSink> sink_;
  std::unique_ptr<Region> region_;
};

TEST_F(StoryTest, VeiligThuisRefersTheVeiligheidsteamAcceptsAndHandsTheCaseToTheWijkteam) {
  for (const char* p : {"politie", "veilig-thuis", "jeugdbescherming"}) ASSERT_OK(region_->StartAgent(p));

  // Veilig Thuis refers the family: its own number, coded reasons, the
  // identifiers sealed to the Veiligheidsteam's coordinators.
  auto vt = Connect(Region::kVeiligThuisCoordinator);
  ASSERT_NE(vt, nullptr);
  ASSERT_OK_AND_ASSIGN(v1::ReferralStatus sent,
                       vt->SendReferral({kReference, "veiligheidsteam", "plan-van-aanpak",
                                         {"herhaald-geweld", "kinderen-betrokken"}},
                                        Family()));
  EXPECT_EQ(sent.state(), v1::REFERRAL_STATE_WAITING);
  const std::string referral_id = sent.referral_id();

  // The casusregisseur finds it in the inbox and accepts: the case opens
  // with the referral's subjects, Veilig Thuis admitted.
  auto regisseur = Connect(Region::kCoordinator);
  ASSERT_NE(regisseur, nullptr);
  ASSERT_OK(regisseur->FetchInbox("").status());
  client::News news = regisseur->TakeNews();
  ASSERT_EQ(news.referrals.size(), 1u);
  EXPECT_EQ(news.referrals[0], referral_id);
  ASSERT_OK_AND_ASSIGN(v1::CaseResult opened, regisseur->AcceptReferral(referral_id));
  const std::string case_id = opened.case_id();
  ASSERT_OK_AND_ASSIGN(cases::CaseFacts facts, regisseur->LocalFacts(case_id));
  EXPECT_EQ(facts.referral_reference, kReference);
  EXPECT_EQ(facts.referred_by, Region::kVeiligThuisCoordinator);
  EXPECT_TRUE(facts.IsMember("veilig-thuis"));
  EXPECT_EQ(facts.subjects.size(), 2u);

  // Veilig Thuis learns that its referral was accepted, and as which case.
  ASSERT_OK(vt->FetchInbox("").status());
  news = vt->TakeNews();
  ASSERT_FALSE(news.referral_statuses.empty());
  EXPECT_EQ(news.referral_statuses.back().state(), v1::REFERRAL_STATE_ACCEPTED);
  EXPECT_EQ(news.referral_statuses.back().case_id(), case_id);

  // Partners answer the casusregisseur.
  ASSERT_OK(regisseur->Admit(case_id, "politie").status());
  ASSERT_OK(regisseur->Admit(case_id, "jeugdbescherming").status());
  Outcome police = Ask(*regisseur, case_id, "politie", {"politie-incidenten"}, "veiligheidstaxatie");
  ASSERT_EQ(police.kind, Outcome::Kind::kDelivered) << police.refusal.reason() << police.error.ToString();
  Outcome reports = Ask(*regisseur, case_id, "veilig-thuis", {"veilig-thuis-meldingen"}, "veiligheidstaxatie");
  ASSERT_EQ(reports.kind, Outcome::Kind::kDelivered) << reports.refusal.reason() << reports.error.ToString();

  // In risk-driven care the casusregisseur also asks Jeugdbescherming for
  // the measures, which the policy gives the wijkteam's casuscoördinator too.
  ASSERT_OK(regisseur->ChangePhase(case_id, "risicogestuurde-zorg").status());
  Outcome youth = Ask(*regisseur, case_id, "jeugdbescherming", {"jeugdbescherming-maatregelen"}, "plan-van-aanpak");
  ASSERT_EQ(youth.kind, Outcome::Kind::kDelivered) << youth.refusal.reason() << youth.error.ToString();

  // The marked moment: the case goes to the wijkteam's casuscoördinator with
  // the subjects and what of the casusregisseur's fragments the policy gives
  // it now: the measures, not the police incidents nor Veilig Thuis' reports.
  const int64_t now = SystemClock::Get().NowMillis();
  ASSERT_OK_AND_ASSIGN(client::HandoverSent offered,
                       regisseur->OfferHandover(case_id, Region::kWijkteamCoordinator, "naar-wijkteam",
                                                now + 7 * kDay, 0));
  EXPECT_EQ(offered.subjects, 2u);
  EXPECT_EQ(offered.fragments, 3u);  // taken by the gateway, which decides what goes over
  auto wijk = Connect(Region::kWijkteamCoordinator);
  ASSERT_NE(wijk, nullptr);
  ASSERT_OK_AND_ASSIGN(client::HandoverTaken taken, wijk->AcceptHandover(case_id));
  EXPECT_EQ(taken.subjects, 2u);
  EXPECT_EQ(taken.fragments, 1u);
  EXPECT_EQ(taken.withheld, 2u);
  // The fragment still carries the agent's own signature.
  ASSERT_OK_AND_ASSIGN(auto fragments, wijk->store().Fragments(case_id));
  ASSERT_EQ(fragments.size(), 1u);
  EXPECT_EQ(fragments[0].request_id, youth.request_id);
  ASSERT_OK_AND_ASSIGN(Outcome read, wijk->ReadFragment(fragments[0]));
  EXPECT_EQ(read.signer, "jeugdbescherming-agent");

  // Only the new coordinator acts now; it asks under its own rules. The
  // former coordinator's command, signed on the history it knew, is refused;
  // once it has fetched the history, it no longer coordinates.
  EXPECT_THAT(regisseur->ChangePhase(case_id, "herstel").status(), StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(regisseur->SyncCase(case_id).status(), StatusIs(StatusCode::kPermissionDenied, "you do not coordinate"));
  Outcome measures = Ask(*wijk, case_id, "jeugdbescherming", {"jeugdbescherming-maatregelen"}, "plan-van-aanpak");
  ASSERT_EQ(measures.kind, Outcome::Kind::kDelivered) << measures.refusal.reason() << measures.error.ToString();
  // The former coordinator's copies went once it learned of the handover.
  ASSERT_OK(regisseur->FetchInbox("").status());
  ASSERT_OK_AND_ASSIGN(auto left, regisseur->store().Fragments(case_id));
  EXPECT_TRUE(left.empty());

  // The privacy officer's record: every step, the handover as one moment.
  const auto records = GatewayRecords(case_id);
  EXPECT_EQ(Count(records, v1::AUDIT_EVENT_REFERRAL_ACCEPTED), 1);
  EXPECT_EQ(Count(records, v1::AUDIT_EVENT_HANDOVER_OFFERED), 1);
  EXPECT_EQ(Count(records, v1::AUDIT_EVENT_HANDOVER_ACCEPTED), 1);
  EXPECT_EQ(Count(records, v1::AUDIT_EVENT_HANDOVER_DATA_WITHHELD), 2);
  for (const auto& r : records) {
    if (r.event() != v1::AUDIT_EVENT_HANDOVER_ACCEPTED) continue;
    EXPECT_EQ(r.handover().from(), Region::kCoordinator);
    EXPECT_EQ(r.handover().to(), Region::kWijkteamCoordinator);
    EXPECT_EQ(r.handover().reason_code(), "naar-wijkteam");
  }
  EXPECT_EQ(Count(GatewayRecords(), v1::AUDIT_EVENT_REFERRAL_RECEIVED), 1);
  ExpectNoPersonalDataInLogs();
}

TEST_F(StoryTest, ADeclinedReferralGoesBackToVeiligThuisWithItsReason) {
  auto vt = Connect(Region::kVeiligThuisCoordinator);
  ASSERT_NE(vt, nullptr);
  ASSERT_OK_AND_ASSIGN(v1::ReferralStatus sent,
                       vt->SendReferral({kReference, "veiligheidsteam", "plan-van-aanpak", {"herhaald-geweld"}},
                                        Family()));
  auto regisseur = Connect(Region::kCoordinator);
  ASSERT_NE(regisseur, nullptr);
  ASSERT_OK(regisseur->FetchInbox("").status());
  ASSERT_OK_AND_ASSIGN(v1::ReferralStatus declined,
                       regisseur->DeclineReferral(sent.referral_id(), "past-bij-wijkteam"));
  EXPECT_EQ(declined.state(), v1::REFERRAL_STATE_DECLINED);
  // A referral declined cannot be accepted afterwards.
  EXPECT_FALSE(regisseur->AcceptReferral(sent.referral_id()).ok());

  ASSERT_OK(vt->FetchInbox("").status());
  client::News news = vt->TakeNews();
  ASSERT_FALSE(news.referral_statuses.empty());
  EXPECT_EQ(news.referral_statuses.back().state(), v1::REFERRAL_STATE_DECLINED);
  EXPECT_EQ(news.referral_statuses.back().reason_code(), "past-bij-wijkteam");
  EXPECT_EQ(news.referral_statuses.back().decided_by(), Region::kCoordinator);
  EXPECT_EQ(Count(GatewayRecords(), v1::AUDIT_EVENT_REFERRAL_DECLINED), 1);
  ExpectNoPersonalDataInLogs();
}

TEST_F(StoryTest, ThePoliceOpenAnAcuteCaseAtNightAndHandItToVeiligThuisInTheMorning) {
  for (const char* p : {"veilig-thuis", "cit"}) ASSERT_OK(region_->StartAgent(p));
  auto police = Connect(Region::kPolitieAcuut);
  ASSERT_NE(police, nullptr);
  ASSERT_OK_AND_ASSIGN(v1::CaseResult opened, police->OpenAcuteCase("acuut-gevaar-afwenden", Family()));
  const std::string case_id = opened.case_id();
  EXPECT_EQ(opened.phase(), "acute-veiligheid");
  const int64_t now = SystemClock::Get().NowMillis();
  EXPECT_GT(opened.status().acute_until_ms(), now + 71 * 3600'000LL);
  EXPECT_LE(opened.status().acute_until_ms(), now + 72 * 3600'000LL);

  // Veilig Thuis and the CIT are told at once.
  for (const char* who : {Region::kVeiligThuisCoordinator, Region::kCit}) {
    auto c = Connect(who);
    ASSERT_NE(c, nullptr);
    ASSERT_OK(c->FetchInbox("").status());
    client::News news = c->TakeNews();
    bool told = false;
    for (const auto& n : news.notices) {
      told = told || (n.kind() == v1::NOTICE_KIND_ACUTE_OPENED && n.case_id() == case_id);
    }
    EXPECT_TRUE(told) << who;
  }

  // In the acute window the police ask Veilig Thuis and the CIT what the
  // acute rules allow.
  Outcome known = Ask(*police, case_id, "veilig-thuis", {"veilig-thuis-meldingen"}, "acuut-gevaar-afwenden");
  ASSERT_EQ(known.kind, Outcome::Kind::kDelivered) << known.refusal.reason() << known.error.ToString();
  // The CIT's data fall under medical secrecy (BW 7:457): without consent
  // only on vital interest (R-ACUUT-CIT-01), after the conflict-of-duties
  // weighing and with the approval of the CIT's own professional. A free
  // text does not do; the police answer the five questions, the CIT's agent
  // holds the request until its crisis worker approves it.
  Outcome text = Ask(*police, case_id, "cit", {"cit-inzet"}, "acuut-gevaar-afwenden",
                     "Acuut gevaar: CIT ter plaatse, kinderen in huis.");
  ASSERT_EQ(text.kind, Outcome::Kind::kRefused);
  EXPECT_THAT(text.refusal.reason(), ::testing::HasSubstr("weighing is not complete"));
  Outcome cit = AskWithApprovalAt(*police, case_id, "cit", "cit-inzet", "acuut-gevaar-afwenden",
                                  "M. de Vries, crisisdienst CIT");
  ASSERT_EQ(cit.kind, Outcome::Kind::kDelivered) << cit.refusal.reason() << cit.error.ToString();

  // The next morning: handed over to Veilig Thuis, which takes over what of
  // the police's data the policy gives it: the CIT's report (R-ACUUT-CIT-01),
  // not its own reports (no rule from Veilig Thuis to Veilig Thuis).
  ASSERT_OK_AND_ASSIGN(client::HandoverSent offered,
                       police->OfferHandover(case_id, Region::kVeiligThuisCoordinator, "naar-veilig-thuis",
                                             now + kDay, 0));
  EXPECT_EQ(offered.fragments, 2u);
  auto vt = Connect(Region::kVeiligThuisCoordinator);
  ASSERT_NE(vt, nullptr);
  ASSERT_OK_AND_ASSIGN(client::HandoverTaken taken, vt->AcceptHandover(case_id));
  EXPECT_EQ(taken.fragments, 1u);
  EXPECT_EQ(taken.withheld, 1u);
  ASSERT_OK_AND_ASSIGN(auto fragments, vt->store().Fragments(case_id));
  ASSERT_EQ(fragments.size(), 1u);
  EXPECT_EQ(fragments[0].request_id, cit.request_id);
  EXPECT_EQ(taken.result.status().coordinator(), Region::kVeiligThuisCoordinator);
  EXPECT_EQ(taken.result.status().acute_until_ms(), 0);  // no longer acute: handed over in time
  EXPECT_GT(taken.result.status().coordination_ends_ms(), now + 547 * kDay);  // monitoring, at most 18 months
  // The police no longer coordinate it.
  EXPECT_FALSE(police->ChangePhase(case_id, "stabiele-veiligheid").ok());
  EXPECT_THAT(police->SyncCase(case_id).status(), StatusIs(StatusCode::kPermissionDenied, "you do not coordinate"));

  const auto records = GatewayRecords(case_id);
  EXPECT_EQ(Count(records, v1::AUDIT_EVENT_ACUTE_OPENED), 1);
  EXPECT_EQ(Count(records, v1::AUDIT_EVENT_HANDOVER_ACCEPTED), 1);
  EXPECT_EQ(Count(records, v1::AUDIT_EVENT_APPROVAL_PENDING), 1);  // the CIT's hold
  for (const auto& r : records) {
    if (r.event() == v1::AUDIT_EVENT_ACUTE_OPENED) {
      EXPECT_EQ(r.acute_until_unix_millis(), opened.status().acute_until_ms());
    }
  }
  ExpectNoPersonalDataInLogs();
}

TEST_F(StoryTest, AnAcuteCaseGoesOnlyToVeiligThuisOrTheVeiligheidsteam) {
  auto police = Connect(Region::kPolitieAcuut);
  ASSERT_NE(police, nullptr);
  ASSERT_OK_AND_ASSIGN(v1::CaseResult opened, police->OpenAcuteCase("acuut-gevaar-afwenden", Family()));
  const int64_t now = SystemClock::Get().NowMillis();
  auto offered = police->OfferHandover(opened.case_id(), Region::kWijkteamCoordinator, "naar-wijkteam",
                                       now + kDay, 0);
  EXPECT_THAT(offered.status(), StatusIs(StatusCode::kPermissionDenied,
                                         "handed over to a coordinator of veilig-thuis or veiligheidsteam"));
  // The police cannot open an ordinary case, and the CIT can open an acute one.
  EXPECT_THAT(police->OpenCase("plan-van-aanpak", Family()).status(),
              StatusIs(StatusCode::kPermissionDenied, "may not open cases"));
  auto cit = Connect(Region::kCit);
  ASSERT_NE(cit, nullptr);
  EXPECT_OK(cit->OpenAcuteCase("acuut-gevaar-afwenden", Family()).status());
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp
