// The coordinator's local store on a real SQLite file: encryption at rest,
// binding of encrypted subject data to its case and reference, retention and
// purge, request states, file modes.
#include "client/coordinator_store.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <filesystem>

#include "tests/testing/status_matchers.h"
#include "tests/testing/test_time.h"

namespace kp::client {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

namespace v1 = ketenpoort::v1;
using testing::IsOk;

constexpr char kCanaryBsn[] = "999990019";
constexpr char kCanaryName[] = "CANARY-NAAM-Store";
using test::kNow;

Identity MakeIdentity(const std::string& id) {
  auto idn = Identity::Generate(id, ParticipantKind::kCoordinator, "veiligheidsteam", kNow);
  EXPECT_THAT(idn, IsOk());
  return std::move(idn).value();
}

v1::Subject Subject(const std::string& ref) {
  v1::Subject s;
  s.set_ref(ref);
  s.set_role(v1::SUBJECT_ROLE_VICTIM);
  s.set_bsn(kCanaryBsn);
  s.set_name(kCanaryName);
  s.set_date_of_birth("1990-01-01");
  return s;
}

class CoordinatorStoreTest : public ::testing::Test {
 protected:
  std::string Dir() const { return dir_.File("store"); }
  testing::TempDir dir_;
  Identity me_ = MakeIdentity("regisseur-01");
};

TEST_F(CoordinatorStoreTest, SubjectDataIsEncryptedAtRestAndReadsBack) {
  {
    ASSERT_OK_AND_ASSIGN(auto store, CoordinatorStore::Open(Dir(), me_));
    ASSERT_OK(store->PutCase({"VT-2026-0001", "plan-van-aanpak", "acute-veiligheid", kNow, false, {}}));
    ASSERT_OK(store->PutSubject("VT-2026-0001", Subject("S1")));
  }
  const std::string bytes = testing::AllBytesUnder(Dir());
  EXPECT_EQ(bytes.find(kCanaryBsn), std::string::npos);
  EXPECT_EQ(bytes.find(kCanaryName), std::string::npos);
  EXPECT_NE(bytes.find("VT-2026-0001"), std::string::npos);  // ids are not secret

  ASSERT_OK_AND_ASSIGN(auto store, CoordinatorStore::Open(Dir(), me_));
  ASSERT_OK_AND_ASSIGN(auto subjects, store->Subjects("VT-2026-0001"));
  ASSERT_EQ(subjects.size(), 1u);
  EXPECT_EQ(subjects[0].bsn(), kCanaryBsn);
  EXPECT_EQ(subjects[0].name(), kCanaryName);

  struct stat st {};
  ASSERT_EQ(::stat(Dir().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat(CoordinatorStore::DatabasePath(Dir()).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(CoordinatorStoreTest, AnotherIdentityOrAMovedRowCannotReadSubjectData) {
  {
    ASSERT_OK_AND_ASSIGN(auto store, CoordinatorStore::Open(Dir(), me_));
    ASSERT_OK(store->PutSubject("VT-2026-0001", Subject("S1")));
    ASSERT_OK(store->PutSubject("VT-2026-0001", Subject("S2")));
  }
  Identity other = MakeIdentity("regisseur-02");
  // Refused at open: the store's key check does not open under its key.
  EXPECT_EQ(CoordinatorStore::Open(Dir(), other).status().code(), StatusCode::kFailedPrecondition);
  // Swap the encrypted blobs of S1 and S2 (and flip a bit in another copy):
  // the binding to (case, ref) makes both fail.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(CoordinatorStore::DatabasePath(Dir()).c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "UPDATE subjects SET ref = CASE ref WHEN 'S1' THEN 'tmp' ELSE ref END;"
                         "UPDATE subjects SET ref = 'S1' WHERE ref = 'S2';"
                         "UPDATE subjects SET ref = 'S2' WHERE ref = 'tmp';",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  ASSERT_OK_AND_ASSIGN(auto store, CoordinatorStore::Open(Dir(), me_));
  EXPECT_EQ(store->Subjects("VT-2026-0001").status().code(), StatusCode::kDataLoss);
}

TEST_F(CoordinatorStoreTest, RequestsMoveFromWaitingToOneAnswerOnly) {
  ASSERT_OK_AND_ASSIGN(auto store, CoordinatorStore::Open(Dir(), me_));
  const std::string a(16, 'a'), b(16, 'b');
  ASSERT_OK(
      store->AddRequest({a, "VT-2026-0001", "politie", "politie-agent", {"politie-incidenten"}, "p", kNow}));
  ASSERT_OK(store->AddRequest({b, "VT-2026-0001", "ggz", "ggz-agent", {"ggz-in-zorg", "x"}, "p", kNow + 1}));
  EXPECT_FALSE(store->AddRequest({a, "VT-2026-0001", "politie", "politie-agent", {}, "p", kNow}).ok());
  ASSERT_OK(store->PutFragment({a, "VT-2026-0001", "politie-agent", kNow, kNow + 1000, "delivery-bytes"}));
  // A refusal arriving after the delivery changes nothing.
  ASSERT_OK(store->MarkRefused(a, "late", kNow));
  ASSERT_OK(store->MarkRefused(b, "geen toestemming", kNow));
  ASSERT_OK_AND_ASSIGN(auto reqs, store->Requests("VT-2026-0001"));
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].state, RequestState::kDelivered);
  EXPECT_EQ(reqs[0].refusal, "");
  EXPECT_EQ(reqs[1].state, RequestState::kRefused);
  EXPECT_EQ(reqs[1].refusal, "geen toestemming");
  EXPECT_EQ(reqs[1].categories, (std::vector<std::string>{"ggz-in-zorg", "x"}));
  // A second fragment for the same request is refused by the database.
  EXPECT_FALSE(store->PutFragment({a, "VT-2026-0001", "politie-agent", kNow, kNow + 1000, "again"}).ok());
}

TEST_F(CoordinatorStoreTest, AnUnsyncedTransactionKeepsItsChangesAndEveryOtherCommitStaysSynced) {
  ASSERT_OK_AND_ASSIGN(auto store, CoordinatorStore::Open(Dir(), me_));
  const std::string a(16, 'a'), b(16, 'b');
  ASSERT_OK_AND_ASSIGN(bool synced, store->CommitsAreSynced());
  EXPECT_TRUE(synced);
  ASSERT_OK(store->AddRequest({a, "VT-1", "politie", "politie-agent", {"politie-incidenten"}, "p", kNow}));
  ASSERT_OK(store->AddRequest({b, "VT-1", "politie", "politie-agent", {"politie-incidenten"}, "p", kNow}));
  // The gateway's confirmation, taken in without a sync.
  ASSERT_OK(store->BeginUnsynced());
  ASSERT_OK_AND_ASSIGN(synced, store->CommitsAreSynced());
  EXPECT_FALSE(synced);
  ASSERT_OK(store->MarkAccepted(a));
  ASSERT_OK(store->SetAcceptedIndex(a, 7));
  ASSERT_OK(store->Commit());
  ASSERT_OK_AND_ASSIGN(synced, store->CommitsAreSynced());
  EXPECT_TRUE(synced);
  // Rolled back: nothing kept, and synced again.
  ASSERT_OK(store->BeginUnsynced());
  ASSERT_OK_AND_ASSIGN(synced, store->CommitsAreSynced());
  EXPECT_FALSE(synced);  // the second time too
  ASSERT_OK(store->MarkAccepted(b));
  store->Rollback();
  ASSERT_OK_AND_ASSIGN(synced, store->CommitsAreSynced());
  EXPECT_TRUE(synced);
  // A durable transaction after an unsynced one is synced.
  ASSERT_OK(store->Begin());
  ASSERT_OK_AND_ASSIGN(synced, store->CommitsAreSynced());
  EXPECT_TRUE(synced);
  ASSERT_OK(store->PutFragment({a, "VT-1", "politie-agent", kNow, kNow + 1000, "delivery-bytes"}));
  ASSERT_OK(store->Commit());
  store.reset();
  // All of it is there when the store is opened again.
  ASSERT_OK_AND_ASSIGN(store, CoordinatorStore::Open(Dir(), me_));
  ASSERT_OK_AND_ASSIGN(auto got_a, store->GetRequest(a));
  ASSERT_OK_AND_ASSIGN(auto got_b, store->GetRequest(b));
  ASSERT_TRUE(got_a.has_value() && got_b.has_value());
  EXPECT_TRUE(got_a->accepted);
  EXPECT_EQ(got_a->state, RequestState::kDelivered);
  EXPECT_FALSE(got_b->accepted);
  ASSERT_OK_AND_ASSIGN(auto index, store->AcceptedIndex(a));
  EXPECT_EQ(index, std::optional<uint64_t>(7));
}

TEST_F(CoordinatorStoreTest, AConfirmedWatchIsNoNewAnswerButARefusedOneIs) {
  ASSERT_OK_AND_ASSIGN(auto store, CoordinatorStore::Open(Dir(), me_));
  const std::string c = "VT-2026-0001", watch(16, 'w'), refused(16, 'r'), asked(16, 'a');
  ASSERT_OK(store->PutCase({c, "plan-van-aanpak", "herstel", kNow, false, {}}));
  for (const std::string& id : {watch, refused}) {
    ASSERT_OK(store->AddRequest({id, c, "politie", "politie-agent", {"politie-incidenten"}, "p", kNow}));
    ASSERT_OK(store->PutWatch({id,
                               c,
                               "politie",
                               "politie-agent",
                               {"politie-incidenten"},
                               {"S1"},
                               kNow,
                               kNow + 1000000,
                               WatchState::kWaiting,
                               ""}));
  }
  ASSERT_OK(store->MarkWatchStarted(watch, kNow + 10));
  ASSERT_OK(store->MarkRefused(refused, "geen grond", kNow + 10));
  ASSERT_OK_AND_ASSIGN(auto cases, store->CaseSummaries(kNow));
  ASSERT_EQ(cases.size(), 1u);
  EXPECT_EQ(cases[0].new_answers, 1u);  // the refusal only
  EXPECT_EQ(cases[0].waiting, 0u);

  ASSERT_OK(store->AddRequest({asked, c, "politie", "politie-agent", {"politie-incidenten"}, "p", kNow}));
  ASSERT_OK(store->PutFragment({asked, c, "politie-agent", kNow + 20, kNow + 1000, "delivery-bytes"}));
  ASSERT_OK_AND_ASSIGN(cases, store->CaseSummaries(kNow));
  EXPECT_EQ(cases[0].new_answers, 2u);  // and the answer to the request
}

TEST_F(CoordinatorStoreTest, PurgeRemovesExpiredFragmentsAndSubjectsOfClosedCases) {
  ASSERT_OK_AND_ASSIGN(auto store, CoordinatorStore::Open(Dir(), me_));
  ASSERT_OK(store->PutCase({"VT-1", "p", "acute-veiligheid", kNow, false, {}}));
  ASSERT_OK(store->PutCase({"VT-2", "p", "gesloten", kNow, true, {}}));
  ASSERT_OK(store->PutSubject("VT-1", Subject("S1")));
  ASSERT_OK(store->PutSubject("VT-2", Subject("S1")));
  const std::string r1(16, '1'), r2(16, '2'), r3(16, '3');
  for (const auto& [id, c] : {std::pair{r1, "VT-1"}, {r2, "VT-2"}, {r3, "VT-2"}}) {
    ASSERT_OK(store->AddRequest({id, c, "politie", "politie-agent", {"politie-incidenten"}, "p", kNow}));
  }
  ASSERT_OK(store->PutFragment({r1, "VT-1", "politie-agent", kNow, kNow + 10, "CANARY-FRAGMENT-1"}));
  ASSERT_OK(store->PutFragment({r2, "VT-2", "politie-agent", kNow, kNow + 10, "CANARY-FRAGMENT-2"}));
  ASSERT_OK(store->PutFragment({r3, "VT-2", "politie-agent", kNow, kNow + 99, "CANARY-FRAGMENT-3"}));

  ASSERT_OK_AND_ASSIGN(auto none, store->Purge(kNow + 10));  // retention holds through its last millisecond
  EXPECT_EQ(none.fragments, 0u);
  ASSERT_OK_AND_ASSIGN(auto some, store->Purge(kNow + 11));
  EXPECT_EQ(some.fragments, 2u);
  EXPECT_EQ(some.subjects, 0u);  // VT-2 still holds a fragment
  ASSERT_OK_AND_ASSIGN(auto rest, store->Purge(kNow + 100));
  EXPECT_EQ(rest.fragments, 1u);
  EXPECT_EQ(rest.subjects, 1u);  // closed VT-2's subject goes with its last fragment
  ASSERT_OK_AND_ASSIGN(auto open_subjects, store->Subjects("VT-1"));
  EXPECT_EQ(open_subjects.size(), 1u);  // an open case keeps its subjects
  ASSERT_OK_AND_ASSIGN(auto closed_subjects, store->Subjects("VT-2"));
  EXPECT_TRUE(closed_subjects.empty());
  // Deleted content is overwritten, not left in free pages or the WAL.
  store.reset();
  const std::string bytes = testing::AllBytesUnder(Dir());
  EXPECT_EQ(bytes.find("CANARY-FRAGMENT"), std::string::npos);
}

// A term counted from the case's closure (FragmentContent.retain_after_closure_ms,
// protocol §3.3): kept while the case is open, gone the term after it closed;
// a store that kept it as a negative retain_until_ms moves it on opening.
TEST_F(CoordinatorStoreTest, AFragmentKeptFromClosureGoesTheTermAfterTheCaseClosed) {
  const std::string r1(16, '1'), r2(16, '2');
  {
    ASSERT_OK_AND_ASSIGN(auto store, CoordinatorStore::Open(Dir(), me_));
    ASSERT_OK(store->PutCase({"VT-1", "p", "acute-veiligheid", kNow, false, {}}));
    for (const auto& id : {r1, r2}) {
      ASSERT_OK(
          store->AddRequest({id, "VT-1", "politie", "politie-agent", {"politie-incidenten"}, "p", kNow}));
    }
    ASSERT_OK(store->PutFragment({r1, "VT-1", "politie-agent", kNow, 0, "F1", "", "", 50}));
    ASSERT_OK(store->PutFragment({r2, "VT-1", "politie-agent", kNow, kNow + 10, "F2"}));
  }
  // As an older store kept r1: a negative retain_until_ms, no column.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(CoordinatorStore::DatabasePath(Dir()).c_str(), &db), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(db,
                   "UPDATE fragments SET retain_until_ms = -retain_after_closure_ms WHERE "
                   "retain_after_closure_ms > 0; ALTER TABLE fragments DROP COLUMN retain_after_closure_ms;",
                   nullptr, nullptr, nullptr),
      SQLITE_OK);
  sqlite3_close(db);
  ASSERT_OK_AND_ASSIGN(auto store, CoordinatorStore::Open(Dir(), me_));
  ASSERT_OK_AND_ASSIGN(auto kept, store->Fragments("VT-1"));
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[0].retain_until_ms + kept[1].retain_until_ms, kNow + 10);
  EXPECT_EQ(kept[0].retain_after_closure_ms + kept[1].retain_after_closure_ms, 50);
  ASSERT_OK_AND_ASSIGN(auto open, store->Purge(kNow + 1000));
  EXPECT_EQ(open.fragments, 1u);  // the dated one; the other stays while the case is open
  ASSERT_OK(store->SetClosedAt("VT-1", kNow + 2000));
  ASSERT_OK_AND_ASSIGN(auto term, store->Purge(kNow + 2050));
  EXPECT_EQ(term.fragments, 0u);  // the term holds through its last millisecond
  ASSERT_OK_AND_ASSIGN(auto after, store->Purge(kNow + 2051));
  EXPECT_EQ(after.fragments, 1u);
}

TEST_F(CoordinatorStoreTest, RefusesAFolderOthersMayWrite) {
  std::filesystem::create_directories(Dir());
  ::chmod(Dir().c_str(), 0777);
  EXPECT_FALSE(CoordinatorStore::Open(Dir(), me_).ok());
}

TEST_F(CoordinatorStoreTest, ReferralSubjectsAndHandedContentAreEncryptedAtRestAndGoWhenDone) {
  const std::string id(16, 'r');
  {
    ASSERT_OK_AND_ASSIGN(auto store, CoordinatorStore::Open(Dir(), me_));
    ReferralInfo r;
    r.id = id;
    r.received = true;
    r.sender = "veilig-thuis-01";
    r.at_ms = kNow;
    r.body.set_reference("VT-MB-2026-0815");
    r.envelope = "the referral envelope";
    r.state = v1::REFERRAL_STATE_WAITING;
    ASSERT_OK(store->PutReferral(r));
    ASSERT_OK(store->PutReferral(r));  // a second copy is ignored
    ASSERT_OK(store->PutReferralSubjects(id, {Subject("S1")}));
    ASSERT_OK(store->PutCase({"VT-2026-0001", "plan-van-aanpak", "acute-veiligheid", kNow, false, {}}));
    ASSERT_OK(store->PutSubject("VT-2026-0001", Subject("S1")));
    ASSERT_OK(store->PutHandedFragment({std::string(16, 'q'), "VT-2026-0001", "politie-agent", kNow,
                                        kNow + 86'400'000, "delivery", std::string("content ") + kCanaryName,
                                        "regisseur-02"}));
  }
  const std::string bytes = testing::AllBytesUnder(Dir());
  EXPECT_EQ(bytes.find(kCanaryBsn), std::string::npos);
  EXPECT_EQ(bytes.find(kCanaryName), std::string::npos);

  ASSERT_OK_AND_ASSIGN(auto store, CoordinatorStore::Open(Dir(), me_));
  ASSERT_OK_AND_ASSIGN(auto all, store->Referrals());
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].body.reference(), "VT-MB-2026-0815");
  ASSERT_OK_AND_ASSIGN(auto subjects, store->ReferralSubjects(id));
  ASSERT_EQ(subjects.size(), 1u);
  EXPECT_EQ(subjects[0].name(), kCanaryName);
  ASSERT_OK_AND_ASSIGN(auto fragments, store->Fragments("VT-2026-0001"));
  ASSERT_EQ(fragments.size(), 1u);
  EXPECT_EQ(fragments[0].content, std::string("content ") + kCanaryName);
  EXPECT_EQ(fragments[0].handed_by, "regisseur-02");

  ASSERT_OK(
      store->UpdateReferral(id, v1::REFERRAL_STATE_DECLINED, "", "regisseur-01", "geen-hoog-risico", kNow));
  ASSERT_OK(store->DropReferralSubjects(id));
  ASSERT_OK_AND_ASSIGN(subjects, store->ReferralSubjects(id));
  EXPECT_TRUE(subjects.empty());
  ASSERT_OK_AND_ASSIGN(size_t gone, store->ForgetCaseData("VT-2026-0001"));
  EXPECT_EQ(gone, 2u);
  ASSERT_OK_AND_ASSIGN(auto left, store->Subjects("VT-2026-0001"));
  EXPECT_TRUE(left.empty());
  ASSERT_OK_AND_ASSIGN(fragments, store->Fragments("VT-2026-0001"));
  EXPECT_TRUE(fragments.empty());
  ASSERT_OK(store->GetCase("VT-2026-0001").status());  // the case's ids stay
}

// A key rotation (docs/formats.md §2.4): after keygen --activate the store's
// key (derived from the sealing key) changes. The first open with the new
// key, whose key ring holds the previous one, re-seals every sealed item
// under the new key; afterwards the old key is not needed. A store that no
// key of the ring sealed is refused at open.
TEST_F(CoordinatorStoreTest, AfterAKeyRotationTheStoreIsReSealedUnderTheNewKey) {
  const std::string id(16, 'r');
  {
    ASSERT_OK_AND_ASSIGN(auto store, CoordinatorStore::Open(Dir(), me_));
    ReferralInfo r;
    r.id = id;
    r.received = true;
    r.sender = "veilig-thuis-01";
    r.at_ms = kNow;
    r.envelope = "the referral envelope";
    r.state = v1::REFERRAL_STATE_WAITING;
    ASSERT_OK(store->PutReferral(r));
    ASSERT_OK(store->PutReferralSubjects(id, {Subject("S1")}));
    ASSERT_OK(store->PutSubject("VT-2026-0001", Subject("S1")));
    ASSERT_OK(store->PutSubject("VT-2026-0001", Subject("S2")));
    ASSERT_OK(store->PutHandedFragment({std::string(16, 'q'), "VT-2026-0001", "politie-agent", kNow,
                                        kNow + 86'400'000, "delivery", "content", "regisseur-02"}));
  }
  // keygen --activate: the new key set active, the old one as previous.
  const std::string keys = dir_.File("keys");
  ASSERT_EQ(::mkdir(keys.c_str(), 0700), 0);
  Identity next = MakeIdentity("regisseur-01");
  ASSERT_OK(WriteIdentityFiles(keys, next));
  ASSERT_OK(WriteIdentityFiles(keys, me_, nullptr, 0, "previous"));
  ASSERT_OK_AND_ASSIGN(Identity rotated, Identity::LoadFile(IdentityFilePath(keys, "regisseur-01")));
  ASSERT_OK(rotated.LoadKeyRing(IdentityFilePath(keys, "regisseur-01")).status());
  auto check = [&](CoordinatorStore& store) {
    ASSERT_OK_AND_ASSIGN(auto subjects, store.Subjects("VT-2026-0001"));
    ASSERT_EQ(subjects.size(), 2u);
    EXPECT_EQ(subjects[1].name(), kCanaryName);
    ASSERT_OK_AND_ASSIGN(auto referral, store.ReferralSubjects(id));
    ASSERT_EQ(referral.size(), 1u);
    ASSERT_OK_AND_ASSIGN(auto fragments, store.Fragments("VT-2026-0001"));
    ASSERT_EQ(fragments.size(), 1u);
    EXPECT_EQ(fragments[0].content, "content");
  };
  {
    ASSERT_OK_AND_ASSIGN(auto store, CoordinatorStore::Open(Dir(), rotated));
    check(*store);
  }
  // ID.previous.secret wiped: the new key alone opens it.
  ASSERT_OK_AND_ASSIGN(Identity alone, Identity::LoadFile(IdentityFilePath(keys, "regisseur-01")));
  {
    ASSERT_OK_AND_ASSIGN(auto store, CoordinatorStore::Open(Dir(), alone));
    check(*store);
  }
  // The old key no longer does.
  EXPECT_EQ(CoordinatorStore::Open(Dir(), me_).status().code(), StatusCode::kFailedPrecondition);
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::client
