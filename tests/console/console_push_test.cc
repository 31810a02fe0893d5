// Versturen naar partner (console/page_push.cc, issue 16 §2) over HTTP
// against a real region: the gateway and the police's agent on loopback,
// with a sink folder. The page shows what the policy lets the coordinator
// send (R-VT-PLAN-01: the veiligheidsplan to the police) with its rule,
// basis and term, the chosen category's allowed fields, sends it, and the
// case page shows it received; a choice the policy does not allow, forged
// into the form, is refused before anything goes; nothing typed is logged.
#include <chrono>
#include <filesystem>
#include <regex>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <spdlog/spdlog.h>

#include "client/coordinator.h"
#include "console/console.h"
#include "core/base/file_util.h"
#include "tests/console/console_fixture.h"
#include "tests/testing/region.h"
#include "tests/testing/status_matchers.h"

namespace kp::console {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

using ::testing::HasSubstr;
using ::testing::Not;
using testing::Region;

constexpr char kPurpose[] = "plan-van-aanpak";
constexpr char kCanaryName[] = "CANARY-NAAM-Versturen";
constexpr char kCanaryValue[] = "CANARY-AFSPRAAK-geen-contact";

class ConsolePushTest : public ConsoleFixture {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(StartRegion(spdlog::level::trace));
    sink_dir_ = dir_.File("sink");
    std::filesystem::create_directories(sink_dir_);
    region_->SetAgentConfigHook([this](const std::string&, agent::AgentConfig& c) { c.sink.folder = sink_dir_; });
    ASSERT_OK(region_->StartAgent("politie"));
  }

  // A case of regisseur-01 with the police admitted, opened by the client
  // itself before there is a console (as with the CLI).
  static Result<std::string> OpenCaseWithPolice(client::Coordinator& c) {
    return OpenCaseWith(c, kPurpose, kCanaryName, "politie");
  }

  std::string sink_dir_;
};

TEST_F(ConsolePushTest, ThePlanGoesToThePoliceAndTheCasePageShowsItReceived) {
  ASSERT_OK_AND_ASSIGN(auto coordinator, region_->Coordinator(0));
  ASSERT_OK_AND_ASSIGN(const std::string id, OpenCaseWithPolice(*coordinator));
  ASSERT_NO_FATAL_FAILURE(StartConsole(std::move(coordinator)));
  EXPECT_THAT(GetPage("/casus/" + id), HasSubstr("/casus/" + id + "/versturen"));

  const std::string base = "/casus/" + id + "/versturen?getoond=1&doel=" + kPurpose + "&betrokkene=S1";
  const std::string choices = GetPage(base);
  const std::string table = Section(choices, "<table id=\"mogelijk\"", "</table>");
  EXPECT_THAT(table, HasSubstr("value=\"politie/veiligheidsplan\""));
  EXPECT_THAT(table, HasSubstr("R-VT-PLAN-01"));
  EXPECT_THAT(table, HasSubstr("dagen"));
  EXPECT_THAT(table, Not(HasSubstr("politie/politie-incidenten")));  // the police's own data is not ours to send

  const std::string form_page = GetPage(base + "&keuze=politie/veiligheidsplan");
  const std::string form = Section(form_page, "<form id=\"versturen\"", "</form>");
  EXPECT_THAT(form, HasSubstr("name=\"veld-veiligheidsafspraken\""));
  EXPECT_THAT(form, HasSubstr("R-VT-PLAN-01"));
  EXPECT_THAT(form, HasSubstr("grondslag"));
  EXPECT_THAT(form, Not(HasSubstr(">politie/veiligheidsplan</textarea>")));  // the fields start empty

  auto sent = Submit("/casus/" + id + "/versturen", form,
                     {{"doel", kPurpose},
                      {"betrokkene", "S1"},
                      {"keuze", "politie/veiligheidsplan"},
                      {"veld-veiligheidsafspraken", kCanaryValue},
                      {"veld-evaluatiedatum", "2027-01-15"},
                      {"bewaren", "30"}});
  const std::string after = Follow(sent);
  EXPECT_THAT(after, HasSubstr("is ontvangen door"));
  const std::string list = Section(after, "<table id=\"verstuurd\"", "</table>");
  EXPECT_THAT(list, HasSubstr("ontvangen"));
  // It is in the police's sink, with what was typed.
  bool found = false;
  for (const auto& e : std::filesystem::directory_iterator(sink_dir_)) {
    auto json = ReadFileBounded(e.path().string(), 1 << 20);
    if (json.ok() && json->find(kCanaryValue) != std::string::npos) found = true;
  }
  EXPECT_TRUE(found);
  EXPECT_THAT(sink_->Text(), Not(HasSubstr(kCanaryValue)));
  EXPECT_THAT(sink_->Text(), Not(HasSubstr(kCanaryName)));
}

TEST_F(ConsolePushTest, AChoiceThePolicyDoesNotAllowIsRefusedBeforeItGoes) {
  ASSERT_OK_AND_ASSIGN(auto coordinator, region_->Coordinator(0));
  ASSERT_OK_AND_ASSIGN(const std::string id, OpenCaseWithPolice(*coordinator));
  ASSERT_NO_FATAL_FAILURE(StartConsole(std::move(coordinator)));
  const std::string page = GetPage("/casus/" + id + "/versturen?getoond=1&doel=" + kPurpose + "&betrokkene=S1");
  auto res = Submit("/casus/" + id + "/versturen", page,
                    {{"doel", kPurpose},
                     {"betrokkene", "S1"},
                     {"keuze", "politie/politie-incidenten"},
                     {"veld-omschrijving", kCanaryValue}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 409);
  EXPECT_THAT(res->body, HasSubstr("Het beleid staat dit nu niet toe"));
  EXPECT_TRUE(std::filesystem::is_empty(sink_dir_));
  EXPECT_THAT(sink_->Text(), Not(HasSubstr(kCanaryValue)));
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::console
