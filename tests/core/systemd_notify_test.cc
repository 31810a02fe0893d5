// SystemdNotifier (core/base/systemd_notify.h) against a real notification
// socket, as systemd would offer it, and the --version line (version.h).
// The watchdog's pacing is tested with time points the test chooses, never by
// waiting. The real processes under systemd's protocol:
// tests/gateway/gateway_process_test.cc (UnderSystemd...).
#include "core/base/systemd_notify.h"

#include <stdlib.h>
#include <unistd.h>

#include <regex>

#include "core/base/version.h"
#include "tests/testing/notify_listener.h"
#include "tests/testing/status_matchers.h"

namespace kp {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

using ::kp::testing::NotifyListener;
using ::kp::testing::TempDir;
using namespace std::chrono_literals;

// Sets the variables systemd gives a Type=notify service for the test's
// lifetime, and takes them away again.
class SystemdNotifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(listener_.ok()) << "cannot bind " << listener_.path();
    ::setenv("NOTIFY_SOCKET", listener_.path().c_str(), 1);
    ::unsetenv("WATCHDOG_USEC");
    ::unsetenv("WATCHDOG_PID");
  }
  void TearDown() override {
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
    ::unsetenv("WATCHDOG_PID");
  }
  void Watchdog(const std::string& usec, pid_t pid) {
    ::setenv("WATCHDOG_USEC", usec.c_str(), 1);
    ::setenv("WATCHDOG_PID", std::to_string(pid).c_str(), 1);
  }

  TempDir dir_;
  NotifyListener listener_{dir_.File("notify")};
};

TEST_F(SystemdNotifyTest, ReadySaysReadyWithTheStatus) {
  SystemdNotifier n;
  EXPECT_TRUE(n.active());
  EXPECT_EQ(n.watchdog_interval().count(), 0);
  n.Ready("serving");
  EXPECT_EQ(listener_.Next(0), "READY=1\nSTATUS=serving");
  n.Tick(SystemdNotifier::TimePoint::max());  // no watchdog asked for: no ping
  EXPECT_EQ(listener_.Next(0), std::nullopt);
}

TEST_F(SystemdNotifyTest, AStatusKeepsItsFirstLineOnly) {
  SystemdNotifier n;
  n.Status("3 participants connected\nREADY=1");
  EXPECT_EQ(listener_.Next(0), "STATUS=3 participants connected");
}

TEST_F(SystemdNotifyTest, StoppingSaysStopping) {
  SystemdNotifier n;
  n.Stopping();
  auto d = listener_.Next(0);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->rfind("STOPPING=1\n", 0), 0u) << *d;
}

TEST_F(SystemdNotifyTest, TheWatchdogIsPingedAtHalfItsInterval) {
  Watchdog("10000000", ::getpid());  // 10 s: a ping every 5 s
  SystemdNotifier n;
  EXPECT_EQ(n.watchdog_interval(), 10s);
  n.Ready("serving");
  EXPECT_EQ(listener_.Next(0), "READY=1\nSTATUS=serving\nWATCHDOG=1");
  const auto t0 = std::chrono::steady_clock::now() + 1h;
  n.Tick(t0);
  EXPECT_EQ(listener_.Next(0), "WATCHDOG=1");
  n.Tick(t0 + 4999ms);
  EXPECT_EQ(listener_.Next(0), std::nullopt);
  n.Tick(t0 + 5s);
  EXPECT_EQ(listener_.Next(0), "WATCHDOG=1");
  n.Tick(t0 + 5s + 1ms);
  EXPECT_EQ(listener_.Next(0), std::nullopt);
}

TEST_F(SystemdNotifyTest, AWatchdogMeantForAnotherProcessIsNotPinged) {
  Watchdog("10000000", ::getpid() + 1);  // e.g. inherited from a parent
  SystemdNotifier n;
  EXPECT_EQ(n.watchdog_interval().count(), 0);
  n.Tick(std::chrono::steady_clock::now() + 1h);
  EXPECT_EQ(listener_.Next(0), std::nullopt);
}

TEST_F(SystemdNotifyTest, WithoutSystemdNothingIsSent) {
  ::unsetenv("NOTIFY_SOCKET");
  Watchdog("10000000", ::getpid());
  SystemdNotifier n;
  EXPECT_FALSE(n.active());
  n.Ready("serving");
  n.Tick(std::chrono::steady_clock::now() + 1h);
  n.Stopping();
  EXPECT_EQ(listener_.Next(0), std::nullopt);
}

TEST_F(SystemdNotifyTest, AGoneSocketDoesNotStopTheService) {
  ::setenv("NOTIFY_SOCKET", dir_.File("nobody-listens").c_str(), 1);
  SystemdNotifier n;
  n.Ready("serving");  // logs once, returns
  n.Stopping();
  EXPECT_EQ(listener_.Next(0), std::nullopt);
}

TEST(VersionTest, TheLineNamesProgramVersionCommitAndProtocol) {
  const std::string line = VersionLine("ketenpoort-gateway", 7);
  EXPECT_TRUE(std::regex_match(line, std::regex(R"(ketenpoort-gateway \d+\.\d+\.\d+ \(commit ([0-9a-f]{12}(\+dirty)?|unknown|[A-Za-z0-9+._-]+), protocol 7\))")))
      << line;
  EXPECT_NE(line.find(std::string(Version())), std::string::npos);
  EXPECT_NE(line.find(std::string(GitCommit())), std::string::npos);
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp
