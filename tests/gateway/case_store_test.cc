#include "gateway/case_store.h"

#include "tests/testing/status_matchers.h"
#include "tests/testing/test_time.h"

namespace kp::gateway {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

using ::testing::Not;

using ::kp::testing::IsOk;
using ::kp::testing::StatusIs;

using test::kNow;

class CaseStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { store_ = Reopen(); }
  std::unique_ptr<CaseStore> Reopen() {
    store_.reset();
    auto s = CaseStore::Open(dir_.File("cases.db"));
    EXPECT_THAT(s, IsOk());
    return std::move(s).value();
  }
  testing::TempDir dir_;
  std::unique_ptr<CaseStore> store_;
};

TEST_F(CaseStoreTest, CasesAreNumberedPerYearAndSurviveAReopen) {
  ASSERT_OK_AND_ASSIGN(CaseRecord a, store_->OpenCase("veiligheidsplan", "regisseur-01", "acute-veiligheid", 2026, kNow));
  ASSERT_OK_AND_ASSIGN(CaseRecord b, store_->OpenCase("veiligheidsplan", "regisseur-01", "acute-veiligheid", 2026, kNow));
  EXPECT_EQ(a.id, "VT-2026-0001");
  EXPECT_EQ(b.id, "VT-2026-0002");
  store_ = Reopen();
  ASSERT_OK_AND_ASSIGN(CaseRecord c, store_->OpenCase("veiligheidsplan", "regisseur-01", "acute-veiligheid", 2027, kNow));
  EXPECT_EQ(c.id, "VT-2027-0001");
  ASSERT_OK_AND_ASSIGN(CaseRecord got, store_->GetCase("VT-2026-0002"));
  EXPECT_EQ(got.coordinator, "regisseur-01");
  EXPECT_FALSE(got.closed);
  EXPECT_THAT(store_->GetCase("VT-2026-0099"), StatusIs(StatusCode::kNotFound));
}

TEST_F(CaseStoreTest, PhaseAndClosure) {
  ASSERT_OK_AND_ASSIGN(CaseRecord c, store_->OpenCase("p", "regisseur-01", "acute-veiligheid", 2026, kNow));
  ASSERT_OK(store_->SetPhase(c.id, "stabiele-veiligheid"));
  ASSERT_OK(store_->CloseCase(c.id, "gesloten", kNow + 5));
  ASSERT_OK_AND_ASSIGN(CaseRecord closed, store_->GetCase(c.id));
  EXPECT_TRUE(closed.closed);
  EXPECT_EQ(closed.phase, "gesloten");
  EXPECT_EQ(closed.closed_ms, kNow + 5);
}

TEST_F(CaseStoreTest, TheChainIsKeptInOrderWithItsHead) {
  ASSERT_OK_AND_ASSIGN(CaseRecord c, store_->OpenCase("p", "regisseur-01", "acute-veiligheid", 2026, kNow));
  EXPECT_EQ(c.length, 0u);
  ASSERT_OK(store_->AppendCommand(c.id, 0, std::string(32, 'a'), "open-envelope"));
  ASSERT_OK(store_->AppendCommand(c.id, 1, std::string(32, 'b'), "admit-envelope"));
  ASSERT_OK(store_->AppendCommand(c.id, 2, std::string(32, 'c'), std::string(100, 'x')));
  EXPECT_THAT(store_->AppendCommand(c.id, 2, std::string(32, 'd'), "a fork"), Not(IsOk()));  // one command per place
  store_ = Reopen();
  ASSERT_OK_AND_ASSIGN(CaseRecord got, store_->GetCase(c.id));
  EXPECT_EQ(got.length, 3u);
  EXPECT_EQ(got.head, std::string(32, 'c'));
  ASSERT_OK_AND_ASSIGN(auto all, store_->Commands(c.id));
  EXPECT_EQ(all, (std::vector<std::string>{"open-envelope", "admit-envelope", std::string(100, 'x')}));
  ASSERT_OK_AND_ASSIGN(auto two, store_->Commands(c.id, 1, 2));
  EXPECT_EQ(two, (std::vector<std::string>{"admit-envelope", std::string(100, 'x')}));
  ASSERT_OK_AND_ASSIGN(auto small, store_->Commands(c.id, 0, 10, 20));  // bounded by bytes, at least one
  EXPECT_EQ(small, (std::vector<std::string>{"open-envelope"}));
  ASSERT_OK_AND_ASSIGN(auto none, store_->Commands(c.id, 3));
  EXPECT_TRUE(none.empty());
}

TEST_F(CaseStoreTest, RequestsWaitForTheirAgentAndExpire) {
  StoredRequest r{std::string(16, '\x01'), "VT-2026-0001", "regisseur-01", "politie", {"a", "b"}, "auth-bytes",
                  kNow, kNow + 100, false};
  ASSERT_OK(store_->AddRequest(r));
  store_ = Reopen();
  ASSERT_OK_AND_ASSIGN(auto waiting, store_->UndeliveredFor("politie"));
  ASSERT_EQ(waiting.size(), 1u);
  EXPECT_EQ(waiting[0].categories, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(waiting[0].authorisation, "auth-bytes");
  ASSERT_OK(store_->MarkDelivered(r.request_id));
  EXPECT_TRUE(store_->UndeliveredFor("politie")->empty());
  ASSERT_OK_AND_ASSIGN(auto got, store_->GetRequest(r.request_id));
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(got->delivered);
  EXPECT_TRUE(store_->TakeExpiredRequests(kNow + 99)->empty());
  ASSERT_OK_AND_ASSIGN(auto expired, store_->TakeExpiredRequests(kNow + 100));
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_FALSE(store_->GetRequest(r.request_id)->has_value());
}

TEST_F(CaseStoreTest, InboxHoldsCiphertextUntilFetchedOrExpired) {
  ASSERT_OK(store_->AddToInbox({std::string(16, '\x02'), "regisseur-01", "VT-2026-0001", "sealed", kNow, kNow + 50}));
  store_ = Reopen();
  ASSERT_OK_AND_ASSIGN(auto items, store_->InboxFor("regisseur-01"));
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].envelope, "sealed");
  EXPECT_TRUE(store_->InboxFor("regisseur-02")->empty());
  ASSERT_OK_AND_ASSIGN(auto expired, store_->TakeExpiredInbox(kNow + 50));
  EXPECT_EQ(expired.size(), 1u);
  EXPECT_TRUE(store_->InboxFor("regisseur-01")->empty());
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::gateway

namespace kp::gateway {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

TEST_F(CaseStoreTest, HowARequestEndedIsRememberedAndExpiredOnesAreClosedAsExpired) {
  const std::string delivered(16, '\x01'), expired(16, '\x02');
  for (const auto& id : {delivered, expired}) {
    ASSERT_OK(store_->AddRequest({id, "VT-2026-0001", "regisseur-01", "politie", {"politie-incidenten"}, "auth",
                                  kNow, kNow + 1000, true}));
  }
  ASSERT_OK_AND_ASSIGN(auto waiting, store_->GetRequest(delivered));
  ASSERT_OK(store_->CloseRequest(*waiting, ClosedRequest{delivered, "regisseur-01", "politie",
                                                          RequestOutcome::kDelivered, 42, std::string(16, 'd'), kNow}));
  ASSERT_OK_AND_ASSIGN(auto taken, store_->TakeExpiredRequests(kNow + 1000));
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_EQ(taken[0].request_id, expired);
  store_ = Reopen();
  ASSERT_OK_AND_ASSIGN(auto gone, store_->GetRequest(delivered));
  EXPECT_FALSE(gone.has_value());
  ASSERT_OK_AND_ASSIGN(auto d, store_->GetClosedRequest(delivered));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->outcome, RequestOutcome::kDelivered);
  EXPECT_EQ(d->audit_index, 42u);
  ASSERT_OK_AND_ASSIGN(auto e, store_->GetClosedRequest(expired));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->outcome, RequestOutcome::kExpired);
  ASSERT_OK(store_->ForgetClosedRequests(kNow + 1));
  ASSERT_OK_AND_ASSIGN(auto forgotten, store_->GetClosedRequest(delivered));
  EXPECT_FALSE(forgotten.has_value());
}

TEST_F(CaseStoreTest, TheAuditOutboxKeepsStagedRecordsUntilTheyAreInTheLog) {
  for (uint64_t i = 5; i < 8; ++i) {
    ASSERT_OK(store_->AddAuditOutbox({i, std::string(32, static_cast<char>(i)), "record " + std::to_string(i)}));
  }
  store_ = Reopen();
  ASSERT_OK_AND_ASSIGN(auto kept, store_->AuditOutbox());
  ASSERT_EQ(kept.size(), 3u);
  EXPECT_EQ(kept[0].index, 5u);
  EXPECT_EQ(kept[2].record, "record 7");
  ASSERT_OK(store_->TrimAuditOutbox(7));  // 5 and 6 are in the log now
  ASSERT_OK_AND_ASSIGN(auto left, store_->AuditOutbox());
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].index, 7u);
}

TEST_F(CaseStoreTest, AReferralIsKeptWithItsCoordinatorsAndDecidedAcrossAReopen) {
  StoredReferral r;
  r.id = std::string(16, 'r');
  r.reference = "VT-MB-2026-0815";
  r.referrer = "vt-01";
  r.to_partner = "veiligheidsteam";
  r.purpose = "plan-van-aanpak";
  r.reason_codes = {"herhaald-geweld", "kinderen-betrokken"};
  r.subjects = 2;
  r.coordinators = {"regisseur-01", "regisseur-02"};
  r.envelope = std::string("\0signed referral\xff", 18);
  r.received_ms = kNow;
  r.expires_ms = kNow + 100;
  ASSERT_OK(store_->AddReferral(r));
  EXPECT_THAT(store_->AddReferral(r), Not(IsOk()));  // one per id
  store_ = Reopen();
  ASSERT_OK_AND_ASSIGN(auto got, store_->GetReferral(r.id));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->envelope, r.envelope);  // byte for byte
  EXPECT_EQ(got->reason_codes, r.reason_codes);
  EXPECT_EQ(got->coordinators, r.coordinators);
  EXPECT_EQ(got->state, ReferralState::kWaiting);
  EXPECT_TRUE(store_->ExpiredReferrals(kNow + 99)->empty());
  EXPECT_EQ(store_->ExpiredReferrals(kNow + 100)->size(), 1u);
  r.state = ReferralState::kAccepted;
  r.decided_by = "regisseur-02";
  r.decided_ms = kNow + 5;
  r.case_id = "VT-2026-0001";
  r.audit_index = 7;
  ASSERT_OK(store_->UpdateReferral(r));
  store_ = Reopen();
  ASSERT_OK_AND_ASSIGN(auto decided, store_->GetReferral(r.id));
  EXPECT_EQ(decided->state, ReferralState::kAccepted);
  EXPECT_EQ(decided->case_id, "VT-2026-0001");
  EXPECT_EQ(decided->audit_index, 7u);
  EXPECT_TRUE(store_->ExpiredReferrals(kNow + 1000)->empty());  // decided: it no longer lapses
  EXPECT_FALSE(store_->GetReferral(std::string(16, 'x'))->has_value());
}

TEST_F(CaseStoreTest, HandoverPartsAreHeldPerOfferReplacedWhenSentAgainAndDropped) {
  const std::string offer(32, 'o');
  HeldHandoverPart p{"VT-2026-0001", offer, "wijk-01", 1, 2, "regisseur-01", std::string(16, 'm'), "part one", kNow};
  ASSERT_OK(store_->HoldHandoverPart(p));
  p.part = 2;
  p.envelope = "part two";
  ASSERT_OK(store_->HoldHandoverPart(p));
  p.envelope = "part two, sent again";
  ASSERT_OK(store_->HoldHandoverPart(p));
  ASSERT_OK(store_->HoldHandoverPart({"VT-2026-0002", std::string(32, 'q'), "wijk-01", 1, 1, "regisseur-01",
                                      std::string(16, 'n'), "another", kNow}));
  store_ = Reopen();
  ASSERT_OK_AND_ASSIGN(auto held, store_->HandoverParts(offer));
  ASSERT_EQ(held.size(), 2u);
  EXPECT_EQ(held[0].envelope, "part one");
  EXPECT_EQ(held[1].envelope, "part two, sent again");
  ASSERT_OK(store_->DropHandoverParts(offer));
  EXPECT_TRUE(store_->HandoverParts(offer)->empty());
  EXPECT_EQ(store_->HandoverParts(std::string(32, 'q'))->size(), 1u);
}

TEST_F(CaseStoreTest, CaseDeadlinesComeDueOnceRemoved) {
  ASSERT_OK(store_->AddDeadline({"VT-2026-0001", DeadlineKind::kOfferLapses, std::string(32, 'o'), kNow + 10}));
  ASSERT_OK(store_->AddDeadline({"VT-2026-0001", DeadlineKind::kAcuteWindowEnds, "", kNow + 20}));
  ASSERT_OK(store_->AddDeadline({"VT-2026-0002", DeadlineKind::kStandInEnds, std::string(32, 's'), kNow + 30}));
  EXPECT_TRUE(store_->DueDeadlines(kNow + 9)->empty());
  store_ = Reopen();
  ASSERT_OK_AND_ASSIGN(auto due, store_->DueDeadlines(kNow + 20));
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(due[0].kind, DeadlineKind::kOfferLapses);
  EXPECT_EQ(due[1].kind, DeadlineKind::kAcuteWindowEnds);
  for (const auto& d : due) ASSERT_OK(store_->RemoveDeadline(d));
  EXPECT_TRUE(store_->DueDeadlines(kNow + 20)->empty());
  EXPECT_EQ(store_->DueDeadlines(kNow + 30)->size(), 1u);
}

TEST_F(CaseStoreTest, WhatWasAuthorisedForADeliveredRequestIsKeptUntilItsCaseClosesOrItsRetentionPasses) {
  const std::string a(16, 'a'), b(16, 'b'), c(16, 'c');
  ASSERT_OK(store_->AddDelivered({a, "VT-2026-0001", "request a", "decision a", kNow, kNow + 100}));
  ASSERT_OK(store_->AddDelivered({b, "VT-2026-0001", "request b", "decision b", kNow, 0}));  // until closed
  ASSERT_OK(store_->AddDelivered({c, "VT-2026-0002", "request c", "decision c", kNow, kNow + 100}));
  store_ = Reopen();
  ASSERT_OK_AND_ASSIGN(auto got, store_->GetDelivered(a, kNow + 99));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->case_id, "VT-2026-0001");
  EXPECT_EQ(got->request, "request a");
  EXPECT_EQ(got->decision, "decision a");
  EXPECT_FALSE(store_->GetDelivered(a, kNow + 100)->has_value());  // its retention passed
  EXPECT_FALSE(store_->GetDelivered(std::string(16, 'x'), kNow)->has_value());
  ASSERT_OK(store_->ForgetExpiredDelivered(kNow + 100));
  EXPECT_FALSE(store_->GetDelivered(a, kNow)->has_value());
  EXPECT_TRUE(store_->GetDelivered(b, kNow + 1000)->has_value());
  ASSERT_OK(store_->ForgetDelivered("VT-2026-0001"));
  EXPECT_FALSE(store_->GetDelivered(b, kNow)->has_value());
  EXPECT_FALSE(store_->GetDelivered(c, kNow)->has_value());  // gone by ForgetExpiredDelivered
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::gateway
