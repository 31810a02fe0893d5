// The console's guards against a real console on loopback, in front of a
// real gateway (docs/console.md, "Veiligheid"): what a page of another site,
// another user of this machine or another machine would try.
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <regex>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <spdlog/spdlog.h>

#include "console/console.h"
#include "console/security.h"
#include "core/crypto/sha256.h"
#include "tests/console/console_fixture.h"
#include "tests/testing/region.h"
#include "tests/testing/status_matchers.h"

namespace kp::console {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

using ::testing::HasSubstr;
using ::testing::Not;
using testing::Region;

constexpr int64_t kIdleMs = 15 * 60 * 1000;

class ConsoleSecurityTest : public ConsoleFixture {
 protected:
  // A console not yet logged in, on a clock the tests move by hand.
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(StartRegion(spdlog::level::info));
    ASSERT_OK_AND_ASSIGN(auto coordinator, region_->Coordinator(0));
    ConsoleOptions options = TestOptions();
    options.idle_ms = kIdleMs;
    ASSERT_NO_FATAL_FAILURE(StartServer(std::move(coordinator), options, clock_));
  }

  ManualClock clock_{SystemClock::Get().NowMillis()};
};

TEST_F(ConsoleSecurityTest, WithoutTheStartTokenNothingIsShown) {
  for (const char* path : {"/", "/aanmeldingen", "/casus/nieuw", "/casus/VT-2026-0001", "/live"}) {
    auto res = Get(path, "");
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 401) << path;
    EXPECT_THAT(res->body, HasSubstr("niet (meer) aangemeld")) << path;
    EXPECT_THAT(res->body, Not(HasSubstr("Lopende casussen"))) << path;
  }
  // A made-up session cookie is no session.
  auto res = Get("/", "kp_sessie=" + std::string(64, 'a'));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 401);
}

TEST_F(ConsoleSecurityTest, TheStartTokenWorksOnceForAnHttpOnlyStrictCookie) {
  const std::string address = server_->LoginAddress();
  ASSERT_THAT(address, ::testing::StartsWith("http://127.0.0.1:" + std::to_string(port_) + "/start?token="));
  const std::string path = address.substr(address.find("/start"));
  auto wrong = Client()->Get(("/start?token=" + std::string(64, '0')).c_str());
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 403);
  auto first = Client()->Get(path.c_str());
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 303);
  EXPECT_EQ(first->get_header_value("Location"), "/");
  const std::string cookie = first->get_header_value("Set-Cookie");
  EXPECT_THAT(cookie, ::testing::StartsWith("kp_sessie="));
  EXPECT_THAT(cookie, HasSubstr("HttpOnly"));
  EXPECT_THAT(cookie, HasSubstr("SameSite=Strict"));
  auto again = Client()->Get(path.c_str());
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 403) << "a start token is used once";
  auto page = Get("/", "kp_sessie=" + SessionFromCookie(cookie.substr(0, cookie.find(';'))));
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_THAT(page->body, HasSubstr("Mijn casussen"));
}

TEST_F(ConsoleSecurityTest, AForeignHostHeaderIsRefused) {
  const std::string cookie = Login();
  const std::string port = std::to_string(port_);
  for (const std::string& host : std::vector<std::string>{"evil.example:" + port, "localhost:" + port, "127.0.0.1",
                                                          "127.0.0.1:1", ""}) {
    auto res = Client()->Get("/", httplib::Headers{{"Host", host}, {"Cookie", cookie}});
    ASSERT_TRUE(res) << host;
    EXPECT_EQ(res->status, 421) << host;
    EXPECT_THAT(res->body, Not(HasSubstr("Mijn casussen"))) << host;
  }
  auto start = Client()->Get(("/start?token=x"), httplib::Headers{{"Host", "evil.example"}});
  ASSERT_TRUE(start);
  EXPECT_EQ(start->status, 421);
}

TEST_F(ConsoleSecurityTest, EveryAnswerCarriesTheStrictHeaders) {
  const std::string cookie = Login();
  for (const char* path : {"/", "/aanmeldingen", "/casus/nieuw", "/casus/GEEN-CASUS", "/bestaat-niet", "/static/console.css",
                           "/static/console.js", "/start?token=fout"}) {
    auto res = Get(path, cookie);
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->get_header_value("Content-Security-Policy"), kContentSecurityPolicy) << path;
    EXPECT_EQ(res->get_header_value("Cache-Control"), "no-store") << path;
    EXPECT_EQ(res->get_header_value("X-Content-Type-Options"), "nosniff") << path;
    EXPECT_EQ(res->get_header_value("X-Frame-Options"), "DENY") << path;
    // same-origin, not no-referrer: with no-referrer Chromium sends "Origin: null" with a form post.
    EXPECT_EQ(res->get_header_value("Referrer-Policy"), "same-origin") << path;
  }
  auto unauthenticated = Get("/", "");
  ASSERT_TRUE(unauthenticated);
  EXPECT_EQ(unauthenticated->get_header_value("Content-Security-Policy"), kContentSecurityPolicy);
  // No inline script or style anywhere: the CSP would refuse it.
  auto page = Get("/", cookie);
  ASSERT_TRUE(page);
  EXPECT_THAT(page->body, Not(HasSubstr("<script>")));
  EXPECT_THAT(page->body, Not(HasSubstr("style=")));
  EXPECT_THAT(page->body, Not(HasSubstr(" on")));  // onclick=, onload=, ...
}

TEST_F(ConsoleSecurityTest, AFormPostNeedsTheSessionsCsrfTokenAndAFreshFormId) {
  const std::string cookie = Login();
  auto page = Get("/", cookie);
  ASSERT_TRUE(page);
  auto [csrf, form] = FormFields(page->body);
  ASSERT_FALSE(csrf.empty());
  ASSERT_FALSE(form.empty());

  auto missing = Post("/afmelden", cookie, {{"formulier", form}});
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 403);
  auto wrong = Post("/afmelden", cookie, {{"csrf", std::string(64, 'f')}, {"formulier", form}});
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 403);
  // Another session's token is as wrong.
  const std::string other = Login();
  auto other_page = Get("/", other);
  ASSERT_TRUE(other_page);
  auto other_csrf = FormFields(other_page->body).first;
  auto crossed = Post("/afmelden", cookie, {{"csrf", other_csrf}, {"formulier", form}});
  ASSERT_TRUE(crossed);
  EXPECT_EQ(crossed->status, 403);
  // From a page of another site (the browser names it in Origin).
  auto foreign = Post("/afmelden", cookie, {{"csrf", csrf}, {"formulier", form}}, {{"Origin", "https://evil.example"}});
  ASSERT_TRUE(foreign);
  EXPECT_EQ(foreign->status, 403);
  auto unknown_form = Post("/afmelden", cookie, {{"csrf", csrf}, {"formulier", std::string(32, '0')}});
  ASSERT_TRUE(unknown_form);
  EXPECT_EQ(unknown_form->status, 409);
  // Still logged in: nothing above did anything.
  auto still = Get("/", cookie);
  ASSERT_TRUE(still);
  EXPECT_EQ(still->status, 200);

  auto ok = Post("/afmelden", cookie, {{"csrf", csrf}, {"formulier", form}},
                 {{"Origin", "http://127.0.0.1:" + std::to_string(port_)}});
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_THAT(ok->body, HasSubstr("afgemeld"));
  auto after = Get("/", cookie);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 401);
}

TEST_F(ConsoleSecurityTest, ASessionEndsAfterInactivity) {
  const std::string cookie = Login();
  clock_.Advance(kIdleMs - 1000);
  auto active = Get("/", cookie);
  ASSERT_TRUE(active);
  EXPECT_EQ(active->status, 200);
  clock_.Advance(kIdleMs - 1000);  // used just now: still within the idle time
  auto still = Get("/", cookie);
  ASSERT_TRUE(still);
  EXPECT_EQ(still->status, 200);
  clock_.Advance(kIdleMs + 1);
  auto ended = Get("/", cookie);
  ASSERT_TRUE(ended);
  EXPECT_EQ(ended->status, 401);
  auto later = Get("/", cookie);
  ASSERT_TRUE(later);
  EXPECT_EQ(later->status, 401) << "an ended session does not come back";
}

// The listening socket is bound to 127.0.0.1 only: /proc/net/tcp lists it
// with local address 0100007F, and no other address of this machine answers.
TEST_F(ConsoleSecurityTest, NothingIsServedOnANonLoopbackAddress) {
  std::ifstream tcp("/proc/net/tcp");
  std::string line;
  char port_hex[8];
  std::snprintf(port_hex, sizeof port_hex, "%04X", port_);
  bool found = false;
  while (std::getline(tcp, line)) {
    std::istringstream fields(line);
    std::string sl, local, remote, state;
    fields >> sl >> local >> remote >> state;
    if (state == "0A" && local.size() == 13 && local.substr(9) == port_hex) {
      found = true;
      EXPECT_EQ(local.substr(0, 8), "0100007F") << "the console listens on " << local;
    }
  }
  EXPECT_TRUE(found) << "no listening socket for port " << port_;

  ifaddrs* addrs = nullptr;
  ASSERT_EQ(getifaddrs(&addrs), 0);
  int tried = 0;
  for (ifaddrs* a = addrs; a != nullptr; a = a->ifa_next) {
    if (a->ifa_addr == nullptr || a->ifa_addr->sa_family != AF_INET) continue;
    sockaddr_in to = *reinterpret_cast<sockaddr_in*>(a->ifa_addr);
    if ((ntohl(to.sin_addr.s_addr) >> 24) == 127) continue;
    to.sin_port = htons(static_cast<uint16_t>(port_));
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    EXPECT_NE(::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to), 0)
        << "the console answered on " << inet_ntoa(to.sin_addr);
    ::close(fd);
    ++tried;
  }
  freeifaddrs(addrs);
  std::cerr << "non-loopback addresses tried: " << tried << "\n";
}

TEST(SecurityHelpersTest, HostOriginAndCookie) {
  EXPECT_TRUE(HostAllowed("127.0.0.1:8470", 8470));
  EXPECT_FALSE(HostAllowed("127.0.0.1:8471", 8470));
  EXPECT_FALSE(HostAllowed("localhost:8470", 8470));
  EXPECT_FALSE(HostAllowed("127.0.0.1:8470.evil.example", 8470));
  EXPECT_FALSE(HostAllowed("", 8470));
  EXPECT_TRUE(OriginAllowed("", 8470));
  EXPECT_TRUE(OriginAllowed("http://127.0.0.1:8470", 8470));
  EXPECT_FALSE(OriginAllowed("null", 8470));
  EXPECT_FALSE(OriginAllowed("http://127.0.0.1:8470.evil.example", 8470));
  EXPECT_EQ(SessionFromCookie("a=1; kp_sessie=abc; b=2"), "abc");
  EXPECT_EQ(SessionFromCookie("kp_sessiex=abc"), "");
  EXPECT_EQ(SessionFromCookie(""), "");
}

TEST(SecurityHelpersTest, FormIdsAreUsedOnce) {
  ManualClock clock(1'000'000);
  Sessions sessions(clock, 1000);
  sessions.IssueStartToken();
  EXPECT_FALSE(sessions.Redeem("wrong").has_value());
  const std::string token = sessions.IssueStartToken();
  auto id = sessions.Redeem(token);
  ASSERT_TRUE(id.has_value());
  EXPECT_FALSE(sessions.Redeem(token).has_value());
  const std::string form = sessions.NewForm(*id);
  EXPECT_FALSE(sessions.TakeForm("other-session", form));
  EXPECT_TRUE(sessions.TakeForm(*id, form));
  EXPECT_FALSE(sessions.TakeForm(*id, form));
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::console
