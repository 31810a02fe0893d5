// The gateway's audit trail over the real log (gateway/log_audit_trail.h):
// a reopen after a failed sync trusts only what the last sync that
// succeeded made durable (docs/operations.md, "A full disk").
#include "core/audit/checkpoint.h"
#include "core/audit/log_verifier.h"
#include "core/base/clock.h"
#include "core/identity/identity.h"
#include "gateway/log_audit_trail.h"
#include "tests/audit/audit_test_util.h"
#include "tests/audit/fault_injecting_storage.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_time.h"

namespace kp::gateway {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

using ::kp::audit::testing::FaultInjectingStorage;
using ::kp::audit::testing::SampleRecord;
using ::kp::testing::IsOk;
using test::kNow;

constexpr char kOrigin[] = "zvh.example/audit";

TEST(LogAuditTrailTest, AReopenAfterAFailedSyncWritesTheUnsyncedRecordsAgainFromTheirKeptCopies) {
  ::kp::testing::TempDir tmp;
  const std::string dir = tmp.path() + "/audit";
  auto id = Identity::Generate("gateway", ParticipantKind::kGateway, "zvh", kNow);
  ASSERT_THAT(id, IsOk());
  FaultInjectingStorage storage;
  ManualClock clock(kNow);
  ASSERT_OK_AND_ASSIGN(auto trail, LogAuditTrail::Open(dir, *id, kOrigin, {.storage = &storage, .clock = &clock}));

  // A unit that is durable, then one written, sent and whose sync fails.
  ASSERT_OK_AND_ASSIGN(audit::StagedRecord first, trail->Stage(SampleRecord(0)));
  ASSERT_THAT(trail->AppendStaged({first}), IsOk());
  std::vector<audit::StagedRecord> outbox;
  for (int i = 1; i <= 3; ++i) {
    ASSERT_OK_AND_ASSIGN(audit::StagedRecord r, trail->Stage(SampleRecord(i)));
    outbox.push_back(r);
  }
  ASSERT_OK_AND_ASSIGN(std::string head, trail->SignHead());
  ASSERT_THAT(trail->WriteStaged(outbox), IsOk());
  storage.FailNextSync();
  EXPECT_FALSE(trail->Sync().ok());
  EXPECT_EQ(trail->durable_size(), 1u);  // the outbox keeps records 1-3

  // The records file still holds all four, as the page cache would show
  // them. The reopen cuts the three the failed sync may have lost; the
  // outbox appends them again.
  ASSERT_THAT(trail->Reopen(), IsOk());
  EXPECT_EQ(trail->size(), 1u);
  ASSERT_THAT(trail->AppendStaged(outbox), IsOk());
  EXPECT_EQ(trail->size(), 4u);
  EXPECT_EQ(trail->durable_size(), 4u);
  ASSERT_OK_AND_ASSIGN(std::string now, trail->Checkpoint());
  auto signer = audit::LogSigner::Create(kOrigin, id->signing().public_key, id->signing().secret_key.Clone());
  ASSERT_THAT(signer, IsOk());
  auto a = audit::OpenCheckpoint(head, signer->verifier_key(), kOrigin);
  auto b = audit::OpenCheckpoint(now, signer->verifier_key(), kOrigin);
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  EXPECT_EQ(a->size, b->size);
  EXPECT_EQ(a->root, b->root);  // the receipt's checkpoint still verifies
  trail.reset();

  audit::VerifyOptions opts;
  opts.key = signer->verifier_key();
  EXPECT_THAT(audit::VerifyLog(dir, opts).status, IsOk());
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::gateway
