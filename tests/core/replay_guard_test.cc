// ReplayGuard's memory is bounded by its time window, also when nothing
// arrives (issue 12, "flat memory"): a hand-moved clock, never a timing
// assertion.
#include "core/envelope/replay_guard.h"

#include <algorithm>
#include <string>

#include "core/base/clock.h"
#include "tests/testing/status_matchers.h"

namespace kp {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

using ::kp::testing::IsOk;
using ::kp::testing::StatusIs;

constexpr int64_t kNow = 1'760'000'000'000;

std::string Id(int i) { return "message-id-" + std::to_string(i) + "-padded-past-sso"; }

TEST(ReplayGuardBoundTest, SizeIsBoundedByTheWindowNotByTheNumberOfMessages) {
  ManualClock clock(kNow);
  ReplayGuard guard(clock, {.window_ms = 1000, .max_entries = 1'000'000});
  // 100 messages per simulated second for 60 s: 6000 messages, but at most
  // about one window's worth (100-200) remembered at any time.
  size_t most = 0;
  for (int i = 0; i < 6000; ++i) {
    if (i % 10 == 0) clock.Advance(100);
    ASSERT_THAT(guard.Check("agent-politie", Id(i), clock.NowMillis()), IsOk()) << i;
    most = std::max(most, guard.size());
  }
  EXPECT_LE(most, 210u);
}

TEST(ReplayGuardBoundTest, PruneForgetsEverythingOnceTheWindowHasPassedWithoutNewMessages) {
  ManualClock clock(kNow);
  ReplayGuard guard(clock, {.window_ms = 1000, .max_entries = 1'000'000});
  for (int i = 0; i < 500; ++i) ASSERT_THAT(guard.Check("a", Id(i), kNow), IsOk());
  EXPECT_EQ(guard.size(), 500u);
  guard.Prune();
  EXPECT_EQ(guard.size(), 500u);  // still within the window: kept
  clock.Advance(1001);            // idle: nothing arrives
  guard.Prune();
  EXPECT_EQ(guard.size(), 0u);
  // Forgetting opens no door: the old ids are now refused as stale.
  EXPECT_THAT(guard.Check("a", Id(0), kNow), StatusIs(StatusCode::kUnauthenticated, "outside"));
}

TEST(ReplayGuardBoundTest, SeenAndRememberKeepTheSameBoundedMemory) {
  ManualClock clock(kNow);
  ReplayGuard guard(clock, {.window_ms = 10'000, .max_entries = 4});
  EXPECT_FALSE(guard.Seen("", Id(1)));
  guard.Remember("", Id(1), kNow);
  EXPECT_TRUE(guard.Seen("", Id(1)));
  EXPECT_FALSE(guard.Seen("other", Id(1)));
  guard.Remember("", Id(1), kNow);  // twice is once
  EXPECT_EQ(guard.size(), 1u);
  for (int i = 2; i <= 6; ++i) guard.Remember("", Id(i), kNow + i);
  EXPECT_EQ(guard.size(), 4u);               // full: the oldest went
  EXPECT_EQ(guard.floor_ms(), kNow + 2);     // ids 1 and 2 (at kNow, kNow + 2) evicted
  EXPECT_FALSE(guard.Seen("", Id(1)));       // so the caller must refuse at or below the floor
  clock.Advance(10'000 + 7);
  guard.Prune();
  EXPECT_EQ(guard.size(), 0u);
}

TEST(ReplayGuardBoundTest, ACheckAfterAnIdleWindowStartsFromEmpty) {
  ManualClock clock(kNow);
  ReplayGuard guard(clock, {.window_ms = 1000, .max_entries = 1'000'000});
  for (int i = 0; i < 300; ++i) ASSERT_THAT(guard.Check("a", Id(i), kNow), IsOk());
  clock.Advance(5000);
  ASSERT_THAT(guard.Check("a", "fresh", clock.NowMillis()), IsOk());
  EXPECT_EQ(guard.size(), 1u);
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp
