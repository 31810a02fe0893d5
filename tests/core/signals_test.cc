// The signal module: real signals raised in this process, flags and the
// forwarder's thread observed with a deadline.
#include "core/base/signals.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <mutex>

#include "tests/testing/status_matchers.h"

namespace kp {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

using ::kp::testing::IsOk;

class SignalsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_THAT(InstallSignalHandlers(), IsOk());
    ClearSignalRequestsForTesting();
  }
  void TearDown() override { ClearSignalRequestsForTesting(); }
};

TEST_F(SignalsTest, HangupRequestsOneReload) {
  EXPECT_FALSE(ReloadRequested());
  ASSERT_EQ(std::raise(SIGHUP), 0);
  EXPECT_TRUE(ReloadRequested());
  EXPECT_FALSE(StopRequested());
  EXPECT_TRUE(TakeReloadRequest());
  EXPECT_FALSE(TakeReloadRequest());  // taken: cleared
  EXPECT_FALSE(ReloadRequested());
}

TEST_F(SignalsTest, SeveralHangupsBeforeATakeAreOneReload) {
  ASSERT_EQ(std::raise(SIGHUP), 0);
  ASSERT_EQ(std::raise(SIGHUP), 0);
  EXPECT_TRUE(TakeReloadRequest());
  EXPECT_FALSE(TakeReloadRequest());
}

TEST_F(SignalsTest, TermRequestsStopAndRemembersTheSignal) {
  ASSERT_EQ(std::raise(SIGTERM), 0);
  EXPECT_TRUE(StopRequested());
  EXPECT_EQ(StopSignal(), SIGTERM);
  EXPECT_FALSE(ReloadRequested());
  ASSERT_EQ(std::raise(SIGINT), 0);  // a second stop changes nothing
  EXPECT_EQ(StopSignal(), SIGTERM);
}

TEST_F(SignalsTest, InterruptRequestsStop) {
  ASSERT_EQ(std::raise(SIGINT), 0);
  EXPECT_TRUE(StopRequested());
  EXPECT_EQ(StopSignal(), SIGINT);
}

TEST_F(SignalsTest, TheSelfPipeWakesAWaiter) {
  EXPECT_GE(signal_fd(), 0);
  EXPECT_FALSE(WaitForSignal(0));  // nothing yet
  ASSERT_EQ(std::raise(SIGHUP), 0);
  EXPECT_TRUE(WaitForSignal(0));
  EXPECT_FALSE(WaitForSignal(0));  // drained
}

// Waits (up to a deadline) until `pred` holds, woken by the callbacks.
class Events {
 public:
  void Note(std::atomic<int>& counter) {
    std::lock_guard<std::mutex> l(mu_);
    ++counter;
    cv_.notify_all();
  }
  template <typename Pred>
  bool WaitFor(Pred pred) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, std::chrono::seconds(5), pred);
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
};

TEST_F(SignalsTest, ForwarderCallsReloadOncePerTakenRequestAndStopOnce) {
  Events events;
  std::atomic<int> stops{0}, reloads{0};
  auto f = SignalForwarder::Start([&] { events.Note(stops); }, [&] { events.Note(reloads); });
  ASSERT_THAT(f.status(), IsOk());
  ASSERT_EQ(::kill(::getpid(), SIGHUP), 0);
  ASSERT_TRUE(events.WaitFor([&] { return reloads.load() == 1; }));
  ASSERT_EQ(::kill(::getpid(), SIGHUP), 0);
  ASSERT_TRUE(events.WaitFor([&] { return reloads.load() == 2; }));
  ASSERT_EQ(::kill(::getpid(), SIGTERM), 0);
  ASSERT_TRUE(events.WaitFor([&] { return stops.load() == 1; }));
  ASSERT_EQ(::kill(::getpid(), SIGINT), 0);  // no second stop call
  ASSERT_EQ(::kill(::getpid(), SIGHUP), 0);  // but reloads still go through
  ASSERT_TRUE(events.WaitFor([&] { return reloads.load() == 3; }));
  f->reset();  // joins
  EXPECT_EQ(stops.load(), 1);
}

TEST_F(SignalsTest, ForwarderActsOnASignalThatCameBeforeIt) {
  ASSERT_EQ(std::raise(SIGTERM), 0);
  Events events;
  std::atomic<int> stops{0};
  auto f = SignalForwarder::Start([&] { events.Note(stops); }, nullptr);
  ASSERT_THAT(f.status(), IsOk());
  EXPECT_TRUE(events.WaitFor([&] { return stops.load() == 1; }));
}

TEST_F(SignalsTest, SecondStopExitsWhenAsked) {
  EXPECT_EXIT(
      {
        ClearSignalRequestsForTesting();
        (void)InstallSignalHandlers({.second_stop_exits = true});
        std::raise(SIGINT);
        std::raise(SIGINT);
        std::_Exit(0);  // not reached
      },
      ::testing::ExitedWithCode(128 + SIGINT), "");
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp
