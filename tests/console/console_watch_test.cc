// Laten volgen and Signalen in the console (issue 16 §1, docs/console.md)
// over HTTP against a real region: the gateway and the police's agent on
// loopback, the police's JSON files as its source. The form offers only what
// the policy lets the coordinator ask now and refuses anything else; a watch
// sent from it is kept by the police's agent; a new police record gives a
// signal that Mijn casussen marks "nieuw signaal" and the case page lists
// with a link to Informatie opvragen.
#include <sys/stat.h>

#include <chrono>
#include <regex>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <spdlog/spdlog.h>

#include "client/coordinator.h"
#include "console/console.h"
#include "core/base/time_format.h"
#include "tests/console/console_fixture.h"
#include "tests/testing/region.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_time.h"

namespace kp::console {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

namespace v1 = ketenpoort::v1;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::Region;

constexpr char kPurpose[] = "veiligheidstaxatie";
constexpr char kCanaryName[] = "CANARY-NAAM-Volgen";
using test::kDay;
using test::kWaitMs;

int64_t Now() { return SystemClock::Get().NowMillis(); }

class ConsoleWatchTest : public ConsoleFixture {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(StartRegion(spdlog::level::debug));
    region_->SetAgentConfigHook([](const std::string&, agent::AgentConfig& c) { c.watch_interval_ms = 100; });
    ASSERT_OK(region_->StartAgent("politie"));
    ASSERT_OK_AND_ASSIGN(auto coordinator, region_->Coordinator(0));
    ASSERT_OK_AND_ASSIGN(case_id_, OpenCaseWith(*coordinator, kPurpose, kCanaryName, "politie"));
    ASSERT_NO_FATAL_FAILURE(StartConsole(std::move(coordinator), TestOptions(100)));
  }

  // The Laten volgen form as the page offers it.
  std::string WatchForm() {
    return Section(GetPage("/casus/" + case_id_ + "/volgen"), "<form id=\"volgen\"", "</form>");
  }

  // Pages `path` until it holds `text`, or the wait is over.
  bool PageShows(const std::string& path, const std::string& text) {
    for (const int64_t deadline = Now() + kWaitMs; Now() < deadline;) {
      if (GetPage(path).find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  std::string case_id_;
};

TEST_F(ConsoleWatchTest, LatenVolgenThenANewPoliceRecordIsASignalOnMijnCasussenAndTheCasePage) {
  const std::string path = "/casus/" + case_id_;
  EXPECT_THAT(GetPage(path), HasSubstr("href=\"/casus/" + case_id_ + "/volgen\""));
  const std::string form = WatchForm();
  ASSERT_THAT(form, HasSubstr("value=\"politie/politie-incidenten\""));
  const std::string until = FormatUtcDate(Now() + 30 * kDay);

  const std::string sent_html = [&] {
    auto res = Submit(path + "/volgen", form,
                      {{"doel", kPurpose}, {"betrokkene", "S1"}, {"keuze", "politie/politie-incidenten"}, {"tot", until}});
    EXPECT_TRUE(res);
    if (!res) return std::string();
    EXPECT_EQ(res->status, 303) << res->body;
    return GetPage(res->get_header_value("Location"));
  }();
  EXPECT_THAT(sent_html, HasSubstr("volgt nu tot"));
  const std::string watches = Section(sent_html, "<table id=\"volgen-lijst\"", "</table>");
  EXPECT_THAT(watches, HasSubstr("volgt"));
  EXPECT_THAT(watches, HasSubstr("Politie"));
  EXPECT_THAT(sent_html, HasSubstr("Nog geen signalen."));
  // The police's confirmation is no answer: not on the timeline, not on Mijn casussen.
  EXPECT_THAT(sent_html, HasSubstr("Volgen bevestigd door Politie"));
  EXPECT_THAT(sent_html, Not(HasSubstr("Antwoord ontvangen")));
  EXPECT_THAT(GetPage("/"), Not(HasSubstr("nieuw antwoord")));

  // The police register something new about S1: the file changes.
  const std::string file = dir_.path() + "/data/politie-incidenten/" + Region::kBsn + ".json";
  const int64_t later = Now() + 2000;
  const timespec times[2] = {{later / 1000, 0}, {later / 1000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, file.c_str(), times, 0), 0) << file;
  ASSERT_TRUE(PageShows("/", "nieuw signaal")) << "Mijn casussen shows no new signal";

  const std::string page = GetPage(path);
  const std::string signals = Section(page, "<table id=\"signalen-lijst\"", "</table>");
  EXPECT_THAT(signals, HasSubstr("Politie"));
  EXPECT_THAT(signals, HasSubstr("nieuw signaal"));
  EXPECT_THAT(signals, HasSubstr("(slachtoffer)"));
  EXPECT_THAT(signals, HasSubstr("/casus/" + case_id_ + "/opvragen?getoond=1&amp;doel=" + kPurpose +
                                 "&amp;betrokkene=S1&amp;keuze=politie/politie-incidenten"));
  // Seen now: no longer new on Mijn casussen.
  EXPECT_THAT(GetPage("/"), Not(HasSubstr("nieuw signaal")));

  for (const std::string& canary : {std::string(kCanaryName), std::string(Region::kBsn)}) {
    EXPECT_EQ(sink_->Text().find(canary), std::string::npos) << canary << " in the log";
  }
}

TEST_F(ConsoleWatchTest, OnlyWhatThePolicyAllowsNowCanBeWatchedAndTheEndIsChecked) {
  const std::string path = "/casus/" + case_id_;
  // Not on offer (the OM's data is not this partner's, nor is Veilig
  // Thuis admitted): refused, nothing sent.
  for (const std::string& forged : {std::string("politie/veilig-thuis-meldingen"), std::string("om/om-voorwaarden"),
                                    std::string("politie/bestaat-niet")}) {
    auto res = Submit(path + "/volgen", WatchForm(),
                      {{"doel", kPurpose}, {"betrokkene", "S1"}, {"keuze", forged},
                       {"tot", FormatUtcDate(Now() + 30 * kDay)}});
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400) << forged;
    EXPECT_THAT(res->body, HasSubstr("kies uit de lijst")) << forged;
  }
  // An end in the past, and one beyond a year.
  for (const int64_t end : {Now() - 2 * kDay, Now() + 400 * kDay}) {
    auto res = Submit(path + "/volgen", WatchForm(),
                      {{"doel", kPurpose}, {"betrokkene", "S1"}, {"keuze", "politie/politie-incidenten"},
                       {"tot", FormatUtcDate(end)}});
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400);
    EXPECT_THAT(res->body, HasSubstr("id=\"tot-fout\""));
  }
  // A subject the case does not have.
  auto res = Submit(path + "/volgen", WatchForm(),
                    {{"doel", kPurpose}, {"betrokkene", "S9"}, {"keuze", "politie/politie-incidenten"},
                     {"tot", FormatUtcDate(Now() + kDay)}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  // Nothing was sent.
  EXPECT_THAT(GetPage(path), Not(HasSubstr("<table id=\"volgen-lijst\"")));
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::console
