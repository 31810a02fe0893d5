// The coordinator client through the workflows of issue 14, against the real
// gateway and real agents (loopback CURVE, real SQLite): Veilig Thuis refers
// and a casusregisseur accepts or declines; a case is handed over with its
// subjects and the fragments the policy gives the next coordinator, whose
// agent signatures still verify there (the rest stays behind; both are
// told); a stand-in that returns by itself; cancelled and lapsed
// offers; an acute case; and the refusals, each with a reason a person reads.
// The clock is a manual one shared by every party, so days pass in a test.
#include <spdlog/spdlog.h>

#include <chrono>
#include <map>

#include "case/case_chain.h"
#include "client/coordinator.h"
#include "core/base/encoding.h"
#include "tests/testing/region.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_time.h"

namespace kp::client {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

namespace v1 = ketenpoort::v1;
using ::testing::HasSubstr;
using testing::IsOk;
using testing::Region;
using testing::StatusIs;

using test::kDay;
using test::kWaitMs;
constexpr char kCanaryName[] = "CANARY-NAAM-Verwezen";
constexpr char kRegisseur2[] = "regisseur-02";

class CaseFlowClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("null"));
    ASSERT_OK_AND_ASSIGN(region_, Region::Create(dir_.path(), clock_, /*coordinators=*/2));
    ASSERT_OK(region_->StartGateway());
  }

  std::unique_ptr<Coordinator> As(const std::string& participant) {
    auto c = region_->ConnectAs(participant);
    EXPECT_THAT(c, IsOk());
    return c.ok() ? std::move(c).value() : nullptr;
  }

  static std::vector<v1::Subject> Family() {
    std::vector<v1::Subject> s(2);
    s[0].set_role(v1::SUBJECT_ROLE_VICTIM);
    s[0].set_bsn(Region::kBsn);
    s[0].set_name(kCanaryName);
    s[0].set_date_of_birth("1990-01-01");
    s[1].set_role(v1::SUBJECT_ROLE_CHILD);
    s[1].set_bsn("999990020");
    return s;
  }

  // A case of regisseur-01 with the police admitted and one police fragment
  // received.
  std::string CaseWithAFragment(Coordinator& c) {
    EXPECT_OK(region_->StartAgent("politie"));
    auto opened = c.OpenCase("plan-van-aanpak", Family());
    EXPECT_THAT(opened, IsOk());
    if (!opened.ok()) return "";
    EXPECT_OK(c.Admit(opened->case_id(), "politie").status());
    EXPECT_EQ(Ask(c, opened->case_id()).kind, Outcome::Kind::kDelivered);
    return opened->case_id();
  }

  Outcome Ask(Coordinator& c, const std::string& case_id) {
    auto id = c.SendRequest({case_id, "politie", {"politie-incidenten"}, "plan-van-aanpak", {"S1"}, ""});
    EXPECT_THAT(id, IsOk());
    if (!id.ok()) return {};
    auto o = c.AwaitOutcome(*id, kWaitMs);
    EXPECT_THAT(o, IsOk());
    return o.ok() ? *o : Outcome{};
  }

  static size_t SubjectsKept(Coordinator& c, const std::string& case_id) {
    auto s = c.store().Subjects(case_id);
    return s.ok() ? s->size() : 0;
  }
  static size_t FragmentsKept(Coordinator& c, const std::string& case_id) {
    auto f = c.store().Fragments(case_id);
    return f.ok() ? f->size() : 0;
  }

  testing::TempDir dir_;
  ManualClock clock_{SystemClock::Get().NowMillis()};
  std::unique_ptr<Region> region_;
};

// ------------------------------------------------------------- referrals

TEST_F(CaseFlowClientTest, AReferralIsSentListedAndAcceptedAndTheCaseOpensWithItsSubjects) {
  auto vt = As(Region::kVeiligThuisCoordinator);
  auto reg = As(Region::kCoordinator);
  ASSERT_TRUE(vt && reg);
  ASSERT_OK_AND_ASSIGN(v1::ReferralStatus sent,
                       vt->SendReferral({"VT-MB-2026-0815", "veiligheidsteam", "plan-van-aanpak",
                                         {"herhaald-geweld", "kinderen-betrokken"}},
                                        Family()));
  EXPECT_EQ(sent.state(), v1::REFERRAL_STATE_WAITING);
  const std::string id = sent.referral_id();

  // The coordinator's list: verified, its copy opened, kept encrypted.
  ASSERT_OK(reg->FetchInbox("").status());
  News news = reg->TakeNews();
  EXPECT_TRUE(news.problems.empty());
  ASSERT_EQ(news.referrals.size(), 1u);
  ASSERT_OK_AND_ASSIGN(ReferralInfo r, reg->FindReferral(HexEncode(id).substr(0, 8)));
  EXPECT_TRUE(r.received);
  EXPECT_EQ(r.state, v1::REFERRAL_STATE_WAITING);
  EXPECT_EQ(r.sender, Region::kVeiligThuisCoordinator);
  EXPECT_EQ(r.body.reference(), "VT-MB-2026-0815");
  ASSERT_OK_AND_ASSIGN(auto subjects, reg->store().ReferralSubjects(id));
  ASSERT_EQ(subjects.size(), 2u);
  EXPECT_EQ(subjects[0].name(), kCanaryName);

  ASSERT_OK_AND_ASSIGN(v1::CaseResult opened, reg->AcceptReferral(id));
  const std::string case_id = opened.case_id();
  ASSERT_OK_AND_ASSIGN(cases::CaseFacts facts, reg->LocalFacts(case_id));
  EXPECT_EQ(facts.referral_reference, "VT-MB-2026-0815");
  EXPECT_EQ(facts.referred_by, Region::kVeiligThuisCoordinator);
  EXPECT_EQ(facts.subjects.size(), 2u);
  EXPECT_EQ(SubjectsKept(*reg, case_id), 2u);
  ASSERT_OK_AND_ASSIGN(auto stored, reg->store().GetCase(case_id));
  EXPECT_NE(std::find(stored.partners.begin(), stored.partners.end(), "veilig-thuis"), stored.partners.end());
  // The referral's identifiers are the case's now; the referral keeps none.
  ASSERT_OK_AND_ASSIGN(auto left, reg->store().ReferralSubjects(id));
  EXPECT_TRUE(left.empty());
  EXPECT_THAT(reg->AcceptReferral(id), StatusIs(StatusCode::kFailedPrecondition, "accepted"));

  // The subjects' commitments open at an agent: a request is answered.
  ASSERT_OK(region_->StartAgent("politie"));
  ASSERT_OK(reg->Admit(case_id, "politie").status());
  EXPECT_EQ(Ask(*reg, case_id).kind, Outcome::Kind::kDelivered);

  // Veilig Thuis learns its referral became a case.
  ASSERT_OK(vt->FetchInbox("").status());
  ASSERT_OK_AND_ASSIGN(auto mine, vt->store().GetReferral(id));
  ASSERT_TRUE(mine.has_value());
  EXPECT_EQ(mine->state, v1::REFERRAL_STATE_ACCEPTED);
  EXPECT_EQ(mine->case_id, case_id);
}

TEST_F(CaseFlowClientTest, ADeclinedReferralTellsTheReferrerWhy) {
  auto vt = As(Region::kVeiligThuisCoordinator);
  auto reg = As(Region::kCoordinator);
  ASSERT_TRUE(vt && reg);
  ASSERT_OK_AND_ASSIGN(v1::ReferralStatus sent,
                       vt->SendReferral({"VT-2", "veiligheidsteam", "plan-van-aanpak", {"hoog-risico-escalatie"}},
                                        Family()));
  ASSERT_OK(reg->FetchInbox("").status());
  // A reason the policy does not know is refused, and nothing changes.
  EXPECT_THAT(reg->DeclineReferral(sent.referral_id(), "geen-zin"),
              StatusIs(StatusCode::kInvalidArgument, "not a decline reason of the policy"));
  ASSERT_OK_AND_ASSIGN(auto still, reg->store().GetReferral(sent.referral_id()));
  EXPECT_EQ(still->state, v1::REFERRAL_STATE_WAITING);

  ASSERT_OK_AND_ASSIGN(v1::ReferralStatus declined, reg->DeclineReferral(sent.referral_id(), "geen-hoog-risico"));
  EXPECT_EQ(declined.state(), v1::REFERRAL_STATE_DECLINED);
  ASSERT_OK_AND_ASSIGN(auto subjects, reg->store().ReferralSubjects(sent.referral_id()));
  EXPECT_TRUE(subjects.empty());  // the identifiers of a declined referral go
  EXPECT_THAT(reg->AcceptReferral(sent.referral_id()), StatusIs(StatusCode::kFailedPrecondition));

  ASSERT_OK(vt->FetchInbox("").status());
  News news = vt->TakeNews();
  ASSERT_EQ(news.referral_statuses.size(), 1u);
  EXPECT_EQ(news.referral_statuses[0].reason_code(), "geen-hoog-risico");
  ASSERT_OK_AND_ASSIGN(auto mine, vt->store().GetReferral(sent.referral_id()));
  EXPECT_EQ(mine->state, v1::REFERRAL_STATE_DECLINED);
  EXPECT_EQ(mine->reason_code, "geen-hoog-risico");
  EXPECT_EQ(mine->decided_by, Region::kCoordinator);
}

TEST_F(CaseFlowClientTest, OnlyARoleThatRefersMaySendAReferral) {
  auto reg = As(Region::kCoordinator);
  ASSERT_TRUE(reg);
  EXPECT_THAT(reg->SendReferral({"X-1", "veiligheidsteam", "plan-van-aanpak", {"herhaald-geweld"}}, Family()),
              StatusIs(StatusCode::kPermissionDenied, "may not refer"));
  ASSERT_OK_AND_ASSIGN(auto all, reg->store().Referrals());
  EXPECT_TRUE(all.empty());
  auto vt = As(Region::kVeiligThuisCoordinator);
  ASSERT_TRUE(vt);
  EXPECT_THAT(vt->SendReferral({"VT-3", "veiligheidsteam", "plan-van-aanpak", {"Vrije tekst"}}, Family()),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(vt->SendReferral({"VT-3", "nergens", "plan-van-aanpak", {"herhaald-geweld"}}, Family()),
              StatusIs(StatusCode::kNotFound, "no coordinator of partner"));
}

// ------------------------------------------------------------- handovers

TEST_F(CaseFlowClientTest, AHandoverMovesSubjectsAndWhatThePolicyGivesTheNextCoordinatorWithAgentSignatures) {
  auto reg = As(Region::kCoordinator);
  ASSERT_TRUE(reg);
  const std::string case_id = CaseWithAFragment(*reg);  // police incidents
  ASSERT_FALSE(case_id.empty());
  // In risk-driven care the casusregisseur also holds the youth protection
  // measures, which the policy gives the wijkteam's casuscoordinator too
  // (R-JB-WIJK-01); the police incidents it does not give it.
  ASSERT_OK(region_->StartAgent("jeugdbescherming"));
  ASSERT_OK(reg->Admit(case_id, "jeugdbescherming").status());
  ASSERT_OK(reg->ChangePhase(case_id, "risicogestuurde-zorg").status());
  ASSERT_OK_AND_ASSIGN(std::string measures_id,
                       reg->SendRequest({case_id, "jeugdbescherming", {"jeugdbescherming-maatregelen"},
                                         "plan-van-aanpak", {"S1"}, ""}));
  ASSERT_OK_AND_ASSIGN(Outcome measures, reg->AwaitOutcome(measures_id, kWaitMs));
  ASSERT_EQ(measures.kind, Outcome::Kind::kDelivered) << measures.refusal.reason() << measures.error.ToString();
  ASSERT_EQ(FragmentsKept(*reg, case_id), 2u);

  // One part with the subjects, one part per fragment, each naming its request.
  ASSERT_OK_AND_ASSIGN(HandoverSent sent, reg->OfferHandover(case_id, Region::kWijkteamCoordinator, "naar-wijkteam",
                                                             clock_.NowMillis() + 7 * kDay, 0));
  EXPECT_EQ(sent.parts, 3u);
  EXPECT_EQ(sent.subjects, 2u);
  EXPECT_EQ(sent.fragments, 2u);
  EXPECT_TRUE(sent.left_out.empty());
  EXPECT_EQ(sent.result.status().pending_handover_to(), Region::kWijkteamCoordinator);

  auto wijk = As(Region::kWijkteamCoordinator);
  ASSERT_TRUE(wijk);
  ASSERT_OK_AND_ASSIGN(HandoverTaken taken, wijk->AcceptHandover(case_id));
  EXPECT_EQ(taken.parts_received, 2u);
  EXPECT_EQ(taken.parts, 3u);
  EXPECT_EQ(taken.subjects, 2u);
  EXPECT_EQ(taken.fragments, 1u);  // only what arrived
  EXPECT_EQ(taken.withheld, 1u);
  News news = wijk->TakeNews();
  EXPECT_TRUE(news.problems.empty());
  int withheld_notices = 0;
  for (const auto& n : news.notices) {
    if (n.kind() != v1::NOTICE_KIND_HANDOVER_DATA_WITHHELD) continue;
    ++withheld_notices;
    EXPECT_EQ(n.case_id(), case_id);
    EXPECT_EQ(n.withheld(), 1u);
    EXPECT_THAT(NoticeText(n, Region::kWijkteamCoordinator),
                HasSubstr("1 fragment(s) of case " + case_id + " were not handed over to you: the policy does not "
                          "give them to your role now; ask the partners again if you need them"));
  }
  EXPECT_EQ(withheld_notices, 1);
  // The jeugdbescherming agent's signature still verifies at the new coordinator.
  ASSERT_OK_AND_ASSIGN(auto fragments, wijk->store().Fragments(case_id));
  ASSERT_EQ(fragments.size(), 1u);
  EXPECT_EQ(fragments[0].request_id, measures_id);
  EXPECT_EQ(fragments[0].handed_by, Region::kCoordinator);
  ASSERT_OK_AND_ASSIGN(Outcome read, wijk->ReadFragment(fragments[0]));
  EXPECT_EQ(read.kind, Outcome::Kind::kDelivered);
  EXPECT_EQ(read.content.case_id(), case_id);
  EXPECT_EQ(read.content.categories(0).category(), "jeugdbescherming-maatregelen");
  // A changed byte in the kept content is caught.
  StoredFragment bent = fragments[0];
  bent.content[bent.content.size() / 2] ^= 1;
  EXPECT_FALSE(wijk->ReadFragment(bent).ok());
  ASSERT_OK_AND_ASSIGN(cases::CaseFacts facts, wijk->LocalFacts(case_id));
  EXPECT_EQ(facts.CoordinatorAt(clock_.NowMillis()), Region::kWijkteamCoordinator);
  ASSERT_EQ(facts.handovers.size(), 1u);
  EXPECT_EQ(facts.handovers[0].reason, "naar-wijkteam");
  // The new coordinator asks with the subjects it was handed.
  // Its request is weighed on the policy alone (the example policy gives
  // the wijkteam no police incidents): chain, head and subjects hold.
  Outcome asked = Ask(*wijk, case_id);
  EXPECT_EQ(asked.kind, Outcome::Kind::kRefused) << asked.error.ToString();
  EXPECT_THAT(asked.refusal.reason(), HasSubstr("no rule permits politie"));

  // The former coordinator learns it, deletes all its copies (what stayed
  // behind too) and can no longer act.
  ASSERT_OK(reg->FetchInbox("").status());
  news = reg->TakeNews();
  bool told = false;
  withheld_notices = 0;
  for (const auto& n : news.notices) {
    told |= n.kind() == v1::NOTICE_KIND_HANDOVER_ACCEPTED;
    if (n.kind() != v1::NOTICE_KIND_HANDOVER_DATA_WITHHELD) continue;
    ++withheld_notices;
    EXPECT_EQ(n.withheld(), 1u);
    EXPECT_THAT(NoticeText(n, Region::kCoordinator),
                HasSubstr("1 fragment(s) of case " + case_id + " stayed behind and were deleted"));
  }
  EXPECT_TRUE(told);
  EXPECT_EQ(withheld_notices, 1);
  EXPECT_EQ(SubjectsKept(*reg, case_id), 0u);
  EXPECT_EQ(FragmentsKept(*reg, case_id), 0u);
  EXPECT_FALSE(reg->Admit(case_id, "om").ok());
  EXPECT_THAT(reg->Admit(case_id, "om"), StatusIs(StatusCode::kPermissionDenied, "do not coordinate"));
  EXPECT_FALSE(reg->SendRequest({case_id, "politie", {"politie-incidenten"}, "plan-van-aanpak", {"S1"}, ""}).ok());
}

TEST_F(CaseFlowClientTest, AStandInReturnsTheCaseByItselfAndTheCoordinatorKeepsItsData) {
  auto reg = As(Region::kCoordinator);
  auto other = As(kRegisseur2);
  ASSERT_TRUE(reg && other);
  const std::string case_id = CaseWithAFragment(*reg);
  ASSERT_FALSE(case_id.empty());
  const int64_t until = clock_.NowMillis() + 2 * kDay;
  ASSERT_OK(reg->OfferHandover(case_id, kRegisseur2, "vakantie", clock_.NowMillis() + kDay, until).status());
  ASSERT_OK_AND_ASSIGN(HandoverTaken taken, other->AcceptHandover(case_id));
  EXPECT_EQ(taken.fragments, 1u);
  ASSERT_OK(other->Admit(case_id, "om").status());
  // The stand-in asks with the subjects it was handed: the agent opens
  // their commitments and answers.
  EXPECT_EQ(Ask(*other, case_id).kind, Outcome::Kind::kDelivered);

  ASSERT_OK(reg->FetchInbox("").status());
  EXPECT_EQ(SubjectsKept(*reg, case_id), 2u);  // a stand-in: kept
  EXPECT_EQ(FragmentsKept(*reg, case_id), 1u);
  ASSERT_OK_AND_ASSIGN(cases::CaseFacts during, reg->SyncCase(case_id));
  EXPECT_EQ(during.CoordinatorAt(clock_.NowMillis()), kRegisseur2);

  clock_.Advance(3 * kDay);
  ASSERT_OK_AND_ASSIGN(cases::CaseFacts after, reg->SyncCase(case_id));
  EXPECT_EQ(after.CoordinatorAt(clock_.NowMillis()), Region::kCoordinator);
  EXPECT_OK(reg->Admit(case_id, "rvdk").status());
  EXPECT_THAT(other->Admit(case_id, "reclassering"), StatusIs(StatusCode::kPermissionDenied));

  // The stand-in is told (once the gateway's clock ran the deadline) and its
  // copies go; the coordinator's stay.
  bool told = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!told && std::chrono::steady_clock::now() < deadline) {
    ASSERT_OK(other->FetchInbox("").status());
    for (const auto& n : other->TakeNews().notices) told |= n.kind() == v1::NOTICE_KIND_STAND_IN_ENDED;
  }
  EXPECT_TRUE(told);
  EXPECT_EQ(SubjectsKept(*other, case_id), 0u);
  EXPECT_EQ(FragmentsKept(*other, case_id), 0u);
  EXPECT_EQ(SubjectsKept(*reg, case_id), 2u);
  EXPECT_EQ(FragmentsKept(*reg, case_id), 1u);
}

// A case handed over for good between two casusregisseurs before anything
// was asked (only the subjects' part goes over): the new coordinator asks the
// police about the subjects it was handed and gets the victim's records (the
// values the region's data holds for that BSN), as in a case it opened
// itself. Identifiers or a salt lost on the way would not give an empty
// answer but a refusal (the agent opens the case's commitments).
TEST_F(CaseFlowClientTest, AfterAHandoverTheNewCoordinatorGetsTheRecordsOfTheSubjectsItWasHanded) {
  ASSERT_OK(region_->StartAgent("politie"));
  auto other = As(kRegisseur2);
  auto reg = As(Region::kCoordinator);
  ASSERT_TRUE(other && reg);
  ASSERT_OK_AND_ASSIGN(v1::CaseResult opened, other->OpenCase("veiligheidstaxatie", Family()));
  const std::string case_id = opened.case_id();
  ASSERT_OK(other->Admit(case_id, "politie").status());
  ASSERT_OK(other->OfferHandover(case_id, Region::kCoordinator, "waarneming-afwezigheid", clock_.NowMillis() + 7 * kDay, 0)
                .status());
  ASSERT_OK_AND_ASSIGN(HandoverTaken taken, reg->AcceptHandover(case_id));
  EXPECT_EQ(taken.subjects, 2u);
  EXPECT_TRUE(reg->TakeNews().problems.empty());
  // The new coordinator holds the subjects as they were committed to.
  ASSERT_OK_AND_ASSIGN(auto subjects, reg->store().Subjects(case_id));
  ASSERT_EQ(subjects.size(), 2u);
  EXPECT_EQ(subjects[0].ref(), "S1");
  EXPECT_EQ(subjects[0].bsn(), Region::kBsn);
  EXPECT_EQ(subjects[0].name(), kCanaryName);
  EXPECT_EQ(subjects[0].salt().size(), 32u);

  auto ask = [&](const std::vector<std::string>& refs) -> Outcome {
    auto id = reg->SendRequest({case_id, "politie", {"politie-incidenten"}, "veiligheidstaxatie", refs, ""});
    EXPECT_THAT(id, IsOk());
    if (!id.ok()) return {};
    auto o = reg->AwaitOutcome(*id, kWaitMs);
    EXPECT_THAT(o, IsOk());
    return o.ok() ? *o : Outcome{};
  };
  auto values = [](const Outcome& o) {
    std::map<std::string, std::string> out;  // field -> value, subject S1's
    for (const auto& c : o.content.categories()) {
      for (const auto& r : c.records()) {
        if (r.subject_ref() != "S1") continue;
        for (const auto& fv : r.values()) out[fv.field()] = fv.value();
      }
    }
    return out;
  };
  for (const std::vector<std::string>& refs : {std::vector<std::string>{"S1"}, std::vector<std::string>{}}) {
    Outcome asked = ask(refs);
    ASSERT_EQ(asked.kind, Outcome::Kind::kDelivered) << asked.refusal.reason() << asked.error.ToString();
    auto got = values(asked);
    EXPECT_EQ(got["datum"], std::string("datum:") + Region::kBsn);
    EXPECT_EQ(got["geweld-gebruikt"], std::string("geweld-gebruikt:") + Region::kBsn);
    EXPECT_EQ(got.count("wapens-aanwezig"), 0u);  // the policy's fields for the role (R-POL-01) still hold
  }
  // The child has no police records in the region's data: asked about the
  // child alone, the police answer, with nothing in it. That empty answer is
  // the data, not the handover.
  Outcome child = ask({"S2"});
  ASSERT_EQ(child.kind, Outcome::Kind::kDelivered) << child.refusal.reason() << child.error.ToString();
  ASSERT_EQ(child.content.categories_size(), 1);
  EXPECT_EQ(child.content.categories(0).records_size(), 0);
}

TEST_F(CaseFlowClientTest, ACancelledOrLapsedOfferLeavesTheCaseWithItsCoordinator) {
  auto reg = As(Region::kCoordinator);
  auto wijk = As(Region::kWijkteamCoordinator);
  ASSERT_TRUE(reg && wijk);
  ASSERT_OK_AND_ASSIGN(v1::CaseResult opened, reg->OpenCase("plan-van-aanpak", Family()));
  const std::string case_id = opened.case_id();

  ASSERT_OK(reg->OfferHandover(case_id, Region::kWijkteamCoordinator, "naar-wijkteam", clock_.NowMillis() + kDay, 0)
                .status());
  ASSERT_OK_AND_ASSIGN(v1::CaseResult cancelled, reg->CancelHandover(case_id, "toch-niet"));
  EXPECT_TRUE(cancelled.status().pending_handover_to().empty());
  EXPECT_FALSE(wijk->AcceptHandover(case_id).ok());

  ASSERT_OK(reg->OfferHandover(case_id, Region::kWijkteamCoordinator, "naar-wijkteam", clock_.NowMillis() + kDay, 0)
                .status());
  clock_.Advance(2 * kDay);
  EXPECT_FALSE(wijk->AcceptHandover(case_id).ok());
  EXPECT_OK(reg->Admit(case_id, "politie").status());
  EXPECT_EQ(SubjectsKept(*reg, case_id), 2u);
}

TEST_F(CaseFlowClientTest, AHandoverIsRefusedWithAReasonWhenItCannotBe) {
  auto reg = As(Region::kCoordinator);
  ASSERT_TRUE(reg);
  ASSERT_OK_AND_ASSIGN(v1::CaseResult opened, reg->OpenCase("plan-van-aanpak", Family()));
  const std::string case_id = opened.case_id();
  const int64_t week = clock_.NowMillis() + 7 * kDay;
  EXPECT_THAT(reg->OfferHandover(case_id, Region::kCoordinator, "x", week, 0), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(reg->OfferHandover(case_id, Region::kWijkteamCoordinator, "Naar het wijkteam", week, 0),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(reg->OfferHandover(case_id, "politie", "naar-politie", week, 0), StatusIs(StatusCode::kNotFound));
  // A participant whose role may not coordinate: the gateway refuses.
  auto refused = reg->OfferHandover(case_id, Region::kNonCoordinator, "naar-wijkteam", week, 0);
  EXPECT_FALSE(refused.ok());
  EXPECT_NE(refused.status().code(), StatusCode::kOk);
  // Nothing changed: the case is still the coordinator's, nothing pending.
  ASSERT_OK_AND_ASSIGN(cases::CaseFacts facts, reg->SyncCase(case_id));
  EXPECT_EQ(facts.PendingOfferAt(clock_.NowMillis()), nullptr);
  EXPECT_OK(reg->Admit(case_id, "politie").status());
  // Removing a partner that is no member is refused; a member is removed.
  EXPECT_FALSE(reg->RemovePartner(case_id, "om", "niet-nodig").ok());
  ASSERT_OK(reg->RemovePartner(case_id, "politie", "niet-nodig").status());
  ASSERT_OK_AND_ASSIGN(auto c, reg->store().GetCase(case_id));
  EXPECT_TRUE(c.partners.empty());
}

// ------------------------------------------------------------------ acute

TEST_F(CaseFlowClientTest, AnAcuteCaseOpensInTheAcutePhaseAndTheAcutePartnersAreTold) {
  auto police = As(Region::kPolitieAcuut);
  auto vt = As(Region::kVeiligThuisCoordinator);
  ASSERT_TRUE(police && vt);
  ASSERT_OK_AND_ASSIGN(v1::CaseResult opened, police->OpenAcuteCase("acuut-gevaar-afwenden", Family()));
  EXPECT_EQ(opened.phase(), "acute-veiligheid");
  EXPECT_GT(opened.status().acute_until_ms(), clock_.NowMillis() + 71 * 3600 * 1000LL);

  ASSERT_OK(vt->FetchInbox("").status());
  bool told = false;
  for (const auto& n : vt->TakeNews().notices) {
    if (n.kind() == v1::NOTICE_KIND_ACUTE_OPENED && n.case_id() == opened.case_id()) {
      told = true;
      EXPECT_THAT(NoticeText(n), HasSubstr("acute case " + opened.case_id()));
    }
  }
  EXPECT_TRUE(told);

  // Handed to Veilig Thuis the next morning.
  clock_.Advance(10 * 3600 * 1000LL);
  ASSERT_OK(police->OfferHandover(opened.case_id(), Region::kVeiligThuisCoordinator, "naar-veilig-thuis",
                                  clock_.NowMillis() + kDay, 0)
                .status());
  ASSERT_OK_AND_ASSIGN(HandoverTaken taken, vt->AcceptHandover(opened.case_id()));
  EXPECT_EQ(taken.subjects, 2u);
  EXPECT_EQ(taken.result.status().acute_until_ms(), 0) << taken.result.DebugString();  // no longer acute
  ASSERT_OK_AND_ASSIGN(cases::CaseFacts handed, vt->LocalFacts(opened.case_id()));
  EXPECT_EQ(handed.CoordinatorAt(clock_.NowMillis()), Region::kVeiligThuisCoordinator);
  EXPECT_EQ(SubjectsKept(*police, opened.case_id()), 2u);  // not yet told
  ASSERT_OK(police->FetchInbox("").status());
  EXPECT_EQ(SubjectsKept(*police, opened.case_id()), 0u);
}

TEST_F(CaseFlowClientTest, AfterTheAcuteWindowARequestIsRefusedWithAReasonThatSaysWhatToDo) {
  ASSERT_OK(region_->StartAgent("veilig-thuis"));
  auto police = As(Region::kPolitieAcuut);
  ASSERT_TRUE(police);
  ASSERT_OK_AND_ASSIGN(v1::CaseResult opened, police->OpenAcuteCase("acuut-gevaar-afwenden", Family()));
  const RequestSpec ask{opened.case_id(), "veilig-thuis", {"veilig-thuis-meldingen"}, "acuut-gevaar-afwenden", {"S1"},
                        ""};
  ASSERT_OK_AND_ASSIGN(std::string first, police->SendRequest(ask));
  ASSERT_OK_AND_ASSIGN(Outcome during, police->AwaitOutcome(first, kWaitMs));
  EXPECT_EQ(during.kind, Outcome::Kind::kDelivered) << during.refusal.reason() << during.error.ToString();

  clock_.Advance(73 * 3600 * 1000LL);
  ASSERT_OK_AND_ASSIGN(std::string late, police->SendRequest(ask));
  ASSERT_OK_AND_ASSIGN(Outcome after, police->AwaitOutcome(late, kWaitMs));
  EXPECT_EQ(after.kind, Outcome::Kind::kRefused);
  EXPECT_THAT(after.refusal.reason(), HasSubstr("acute window"));
  EXPECT_THAT(after.refusal.reason(), HasSubstr("hand it over"));
}

TEST_F(CaseFlowClientTest, OnlyAnAcuteRoleOpensAnAcuteCase) {
  auto wijk = As(Region::kWijkteamCoordinator);
  ASSERT_TRUE(wijk);
  EXPECT_THAT(wijk->OpenAcuteCase("acuut-gevaar-afwenden", Family()), StatusIs(StatusCode::kPermissionDenied));
  ASSERT_OK_AND_ASSIGN(auto cases, wijk->store().ListCases());
  EXPECT_TRUE(cases.empty());
}

TEST_F(CaseFlowClientTest, NoticesReadInWords) {
  v1::CaseNotice n;
  n.set_kind(v1::NOTICE_KIND_HANDOVER_OFFERED);
  n.set_case_id("VT-2026-0001");
  n.set_by("regisseur-01");
  n.set_reason_code("naar-wijkteam");
  n.set_until_ms(1'800'000'000'000);
  EXPECT_THAT(NoticeText(n), HasSubstr("case VT-2026-0001 is offered to you by regisseur-01 (reason naar-wijkteam)"));
  EXPECT_THAT(NoticeText(n), HasSubstr("ketenpoort case accept-handover VT-2026-0001"));
  n.set_kind(v1::NOTICE_KIND_HANDOVER_CANCELLED);
  EXPECT_THAT(NoticeText(n), HasSubstr("regisseur-01 took back the offer of case VT-2026-0001 to you (reason "
                                       "naar-wijkteam); the case stays with regisseur-01"));
  n.set_kind(v1::NOTICE_KIND_ACUTE_WINDOW_ENDED);
  EXPECT_THAT(NoticeText(n), HasSubstr("hand it over"));
  // Data kept back: said to the new coordinator (`by`) and to the former one.
  n.set_kind(v1::NOTICE_KIND_HANDOVER_DATA_WITHHELD);
  n.set_by("wijkteam-01");
  n.set_withheld(3);
  EXPECT_EQ(NoticeText(n, "wijkteam-01"),
            "3 fragment(s) of case VT-2026-0001 were not handed over to you: the policy does not give them to your "
            "role now; ask the partners again if you need them");
  EXPECT_THAT(NoticeText(n, "regisseur-01"),
              HasSubstr("3 fragment(s) of case VT-2026-0001 stayed behind and were deleted"));
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::client
