// Pruning closed cases from cases.db (issue 17 §6; docs/operations.md,
// "Retention"): CaseStore::PrunableCases offers a closed case only once its
// closure is old enough and nothing of it is pending; PruneCase removes the
// case and what was kept for it, and its number is never given out again.
#include "case/case_facts.h"
#include "gateway/case_store.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_time.h"

namespace kp::gateway {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

using ::kp::testing::StatusIs;

using test::kNow;
using test::kDay;

class CasePruneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = CaseStore::Open(dir_.File("cases.db"));
    ASSERT_OK(s.status());
    store_ = std::move(s).value();
  }

  // A case with a chain of two commands, closed at kNow.
  std::string ClosedCase() {
    auto c = store_->OpenCase("plan-van-aanpak", "regisseur-01", "acute-veiligheid", 2026, kNow - 10 * kDay);
    EXPECT_OK(c.status());
    EXPECT_OK(store_->AppendCommand(c->id, 0, std::string(32, 'a'), "open"));
    EXPECT_OK(store_->AppendCommand(c->id, 1, std::string(32, 'b'), "close"));
    EXPECT_OK(store_->CloseCase(c->id, "gesloten", kNow));
    return c->id;
  }

  std::vector<std::string> Prunable(int64_t closed_before) {
    auto got = store_->PrunableCases(closed_before, 100);
    EXPECT_OK(got.status());
    std::vector<std::string> ids;
    if (got.ok()) {
      for (const auto& c : *got) ids.push_back(c.id);
    }
    return ids;
  }

  testing::TempDir dir_;
  std::unique_ptr<CaseStore> store_;
};

TEST_F(CasePruneTest, OnlyAClosureOldEnoughMakesACasePrunable) {
  const std::string id = ClosedCase();
  auto open = store_->OpenCase("plan-van-aanpak", "regisseur-01", "acute-veiligheid", 2026, kNow);
  ASSERT_OK(open.status());
  EXPECT_TRUE(Prunable(kNow - 1).empty());
  EXPECT_EQ(Prunable(kNow), std::vector<std::string>{id});  // the open case never
}

TEST_F(CasePruneTest, APendingRequestAHeldMessageOrHandoverPartKeepsTheCase) {
  const std::string id = ClosedCase();
  StoredRequest r{std::string(16, 'r'), id,   "regisseur-01", "politie", {"politie-incidenten"}, "auth", kNow,
                  kNow + kDay,          false};
  ASSERT_OK(store_->AddRequest(r));
  EXPECT_TRUE(Prunable(kNow).empty());
  ASSERT_OK(store_->CloseRequest(r, ClosedRequest{r.request_id, r.coordinator, r.source_partner,
                                                  RequestOutcome::kExpired, 0, "", kNow}));
  EXPECT_EQ(Prunable(kNow).size(), 1u);

  InboxItem held{std::string(16, 'm'), "regisseur-01", id, "sealed envelope", kNow,
                 kNow + 7 * kDay,      r.request_id};
  ASSERT_OK(store_->AddToInbox(held));
  EXPECT_TRUE(Prunable(kNow).empty());
  ASSERT_OK(store_->RemoveFromInbox(held.message_id));

  HeldHandoverPart part{
      id, std::string(32, 'o'), "regisseur-02", 1, 1, "regisseur-01", std::string(16, 'h'), "package", kNow};
  ASSERT_OK(store_->HoldHandoverPart(part));
  EXPECT_TRUE(Prunable(kNow).empty());
  ASSERT_OK(store_->DropHandoverParts(part.offer));

  ASSERT_OK(store_->AddDelivered({std::string(16, 'd'), id, "request", "decision", kNow, 0}));
  EXPECT_TRUE(Prunable(kNow).empty());
  ASSERT_OK(store_->ForgetDelivered(id));

  ASSERT_OK(store_->AddApprovalWait(std::string(16, 'w'), id, kNow + kDay));
  EXPECT_TRUE(Prunable(kNow).empty());
  ASSERT_OK(store_->RemoveApprovalWait(std::string(16, 'w')));

  EXPECT_EQ(Prunable(kNow), std::vector<std::string>{id});
}

TEST_F(CasePruneTest, AWatchKeepsTheCaseUntilItEndedAndItsAgentWasTold) {
  const std::string id = ClosedCase();
  StoredWatch w;
  w.watch_id = std::string(16, 'w');
  w.case_id = id;
  w.coordinator = "regisseur-01";
  w.source_partner = "politie";
  w.agent = "politie-agent";
  w.categories = {"politie-incidenten"};
  w.subject_refs = {"S1"};
  w.started_ms = kNow - kDay;
  w.until_ms = kNow + 30 * kDay;
  ASSERT_OK(store_->AddWatch(w));
  EXPECT_TRUE(Prunable(kNow).empty());
  ASSERT_OK(store_->EndWatch(w.watch_id, kNow, "casus-gesloten"));
  EXPECT_TRUE(Prunable(kNow).empty());  // its agent still watches
  ASSERT_OK(store_->MarkWatchTold(w.watch_id));
  EXPECT_EQ(Prunable(kNow), std::vector<std::string>{id});
}

TEST_F(CasePruneTest, PruningRemovesTheCaseAndWhatWasKeptForItAndItsNumberIsNotGivenAgain) {
  const std::string id = ClosedCase();
  const std::string other = ClosedCase();
  StoredWatch w;
  w.watch_id = std::string(16, 'w');
  w.case_id = id;
  w.coordinator = "regisseur-01";
  w.source_partner = "politie";
  w.agent = "politie-agent";
  w.until_ms = kNow + kDay;
  ASSERT_OK(store_->AddWatch(w));
  ASSERT_OK(store_->EndWatch(w.watch_id, kNow, "casus-gesloten"));
  ASSERT_OK(store_->MarkWatchTold(w.watch_id));
  cases::ConsentFact consent;
  consent.valid_until_ms = kNow + kDay;
  ASSERT_OK(store_->PutSourceConsent(id, "ggz", "S1", "plan-van-aanpak", consent));
  ASSERT_OK(store_->AddDeadline({id, DeadlineKind::kStandInEnds, "", kNow + 100 * kDay}));

  ASSERT_OK(store_->Begin());
  ASSERT_OK_AND_ASSIGN(CaseStore::PrunedRows rows, store_->PruneCase(id));
  ASSERT_OK(store_->Commit());
  EXPECT_EQ(rows.commands, 2u);
  EXPECT_EQ(rows.watches, 1u);
  EXPECT_EQ(rows.consents, 1u);
  EXPECT_EQ(rows.deadlines, 1u);

  EXPECT_THAT(store_->GetCase(id),
              StatusIs(StatusCode::kNotFound, "does not exist any more: it was closed and the gateway"));
  EXPECT_THAT(store_->GetCase("VT-2026-0099"),
              StatusIs(StatusCode::kNotFound, "case VT-2026-0099 does not exist"));
  ASSERT_OK_AND_ASSIGN(auto chain, store_->Commands(id));
  EXPECT_TRUE(chain.empty());
  ASSERT_OK_AND_ASSIGN(auto watch, store_->GetWatch(w.watch_id));
  EXPECT_FALSE(watch.has_value());
  ASSERT_OK_AND_ASSIGN(auto deadlines, store_->DueDeadlines(kNow + 200 * kDay));
  EXPECT_TRUE(deadlines.empty());
  ASSERT_OK_AND_ASSIGN(CaseRecord kept, store_->GetCase(other));  // the other closed case is untouched
  EXPECT_EQ(kept.length, 2u);

  ASSERT_OK_AND_ASSIGN(CaseRecord next,
                       store_->OpenCase("plan-van-aanpak", "regisseur-01", "acute-veiligheid", 2026, kNow));
  EXPECT_NE(next.id, id);
  EXPECT_EQ(next.id, "VT-2026-0003");
}

TEST_F(CasePruneTest, ADeclinedOrLapsedReferralIsPrunableAfterItsDecisionAnAcceptedOneGoesWithItsCase) {
  auto referral = [&](char id, ReferralState state, const std::string& case_id) {
    StoredReferral r;
    r.id = std::string(16, id);
    r.reference = std::string("VT-MELD-") + id;
    r.referrer = "veilig-thuis-01";
    r.to_partner = "veiligheidsteam";
    r.purpose = "plan-van-aanpak";
    r.coordinators = {"regisseur-01"};
    r.envelope = "signed envelope with sealed identifiers";
    r.state = state;
    r.received_ms = kNow - kDay;
    r.expires_ms = kNow;
    r.decided_ms = kNow;
    r.case_id = case_id;
    EXPECT_OK(store_->AddReferral(r));
    return r.id;
  };
  const std::string id = ClosedCase();
  const std::string declined = referral('d', ReferralState::kDeclined, "");
  const std::string lapsed = referral('l', ReferralState::kExpired, "");
  referral('w', ReferralState::kWaiting, "");
  const std::string accepted = referral('a', ReferralState::kAccepted, id);

  EXPECT_TRUE(store_->PrunableReferrals(kNow - 1, 10)->empty());
  ASSERT_OK_AND_ASSIGN(auto due, store_->PrunableReferrals(kNow, 10));
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(due[0].reference.substr(0, 8), "VT-MELD-");
  ASSERT_OK(store_->PruneReferral(declined));
  ASSERT_OK(store_->PruneReferral(lapsed));
  EXPECT_FALSE(store_->GetReferral(declined)->has_value());
  EXPECT_TRUE(store_->GetReferral(std::string(16, 'w'))->has_value());  // still waiting: never

  ASSERT_OK_AND_ASSIGN(CaseStore::PrunedRows rows, store_->PruneCase(id));
  EXPECT_EQ(rows.referrals, 1u);
  EXPECT_FALSE(store_->GetReferral(accepted)->has_value());
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::gateway
