// Consent per subject and the conflict-of-duties weighing in the console
// (issue 16; docs/console.md), over HTTP against a real region: the consent
// form records who gave the consent and the age from the date of birth, and
// the case page shows both; a bad choice of givers is refused at its field
// and records nothing; the ask page shows the weighing's questions when
// "met afweging" is ticked and refuses answers that do not count ("n.v.t.")
// at the field, sending nothing. No name, BSN or date of birth in the log.
#include <regex>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <spdlog/spdlog.h>

#include "case/consent.h"
#include "console/console.h"
#include "core/base/time_format.h"
#include "tests/console/console_fixture.h"
#include "tests/testing/region.h"
#include "tests/testing/status_matchers.h"

namespace kp::console {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

using ::testing::HasSubstr;
using ::testing::Not;
using testing::Region;

constexpr char kCanaryName[] = "CANARY-NAAM-Toestemming";
constexpr char kChildBirthTyped[] = "03-09-2015";
constexpr char kChildBirthIso[] = "2015-09-03";
constexpr char kChildBsn[] = "999990020";

class ConsoleConsentTest : public ConsoleFixture {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(StartRegion(spdlog::level::trace));
    ASSERT_OK_AND_ASSIGN(auto coordinator, region_->Coordinator(0));
    ASSERT_NO_FATAL_FAILURE(StartConsole(std::move(coordinator)));
  }

  void TearDown() override {
    server_.reset();
    region_.reset();
    for (const char* canary : {kCanaryName, Region::kBsn, kChildBsn, kChildBirthIso, kChildBirthTyped}) {
      EXPECT_THAT(sink_->Text(), Not(HasSubstr(canary))) << canary << " in the log";
    }
    ConsoleFixture::TearDown();
  }

  // A case with a victim (S1) and a child (S2) opened through the form.
  std::string OpenCase() {
    httplib::Params form{{"doel", "veiligheidstaxatie"}, {"aantal", "2"},       {"actie", "openen"},
                         {"rol1", "victim"},             {"bsn1", Region::kBsn}, {"naam1", kCanaryName},
                         {"geboortedatum1", "12-04-1988"}, {"rol2", "child"},    {"bsn2", kChildBsn},
                         {"geboortedatum2", kChildBirthTyped}};
    auto res = Submit("/casus/nieuw", GetPage("/casus/nieuw"), form);
    EXPECT_TRUE(res && res->status == 303);
    const std::string to = res ? res->get_header_value("Location") : "";
    return to.size() > 7 ? to.substr(7) : "";
  }

  static std::string InAYear() {
    const std::string iso = FormatUtcDate(SystemClock::Get().NowMillis() + 365LL * 86'400'000);
    return iso.substr(8, 2) + "-" + iso.substr(5, 2) + "-" + iso.substr(0, 4);
  }

};

TEST_F(ConsoleConsentTest, TheConsentFormRecordsWhoGaveItAndTheAge) {
  const std::string id = OpenCase();
  ASSERT_FALSE(id.empty());
  const int age = cases::AgeOn(kChildBirthIso, SystemClock::Get().NowMillis()).value();
  const std::string page = GetPage("/casus/" + id);
  EXPECT_THAT(page, HasSubstr("Wie gaf toestemming"));
  EXPECT_THAT(page, HasSubstr("S2 (kind, " + std::to_string(age) + " jaar)"));

  // A choice of givers the form does not offer: at its field, nothing recorded.
  auto bad = Submit("/casus/" + id + "/toestemming", page,
                    {{"persoon", "S2"}, {"doel", "veiligheidstaxatie"}, {"tot", InAYear()}, {"gegeven_door", "buurman"}});
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_THAT(bad->body, HasSubstr("kies wie de toestemming gaf"));
  EXPECT_THAT(bad->body, HasSubstr("name=\"gegeven_door\" required aria-invalid=\"true\""));
  EXPECT_THAT(bad->body, Not(HasSubstr("door de betrokkene")));

  auto ok = Submit("/casus/" + id + "/toestemming", GetPage("/casus/" + id),
                   {{"persoon", "S2"}, {"doel", "veiligheidstaxatie"}, {"tot", InAYear()}, {"gegeven_door", "beide"}});
  ASSERT_TRUE(ok);
  ASSERT_EQ(ok->status, 303) << ok->body;
  const std::string after = GetPage("/casus/" + id);
  EXPECT_THAT(after, HasSubstr("gegeven door de betrokkene en de ouders"));  // the flash
  EXPECT_THAT(after, HasSubstr("door de betrokkene en de ouders, toen " + std::to_string(age) + " jaar"));
}

TEST_F(ConsoleConsentTest, TheAskPageAsksTheWeighingAndRefusesNvt) {
  const std::string id = OpenCase();
  ASSERT_FALSE(id.empty());
  const std::string ask =
      GetPage("/casus/" + id + "/opvragen?getoond=1&doel=veiligheidstaxatie&betrokkene=S1&met_afweging=1");
  EXPECT_THAT(ask, HasSubstr("Met afweging"));
  EXPECT_THAT(ask, HasSubstr("id=\"afweging\""));
  for (const char* q : {"afweging_toestemming", "afweging_schade", "afweging_andere_weg", "afweging_effect",
                        "afweging_minimum", "afweging_door"}) {
    EXPECT_THAT(ask, HasSubstr(std::string("name=\"") + q + "\"")) << q;
  }
  httplib::Params form{{"doel", "veiligheidstaxatie"}, {"betrokkene", "S1"}, {"met_afweging", "1"},
                       {"keuze", "politie/politie-incidenten"}};
  for (const char* q : {"afweging_toestemming", "afweging_schade", "afweging_andere_weg", "afweging_effect",
                        "afweging_minimum", "afweging_door"}) {
    form.emplace(q, "n.v.t.");
  }
  auto res = Submit("/casus/" + id + "/opvragen/uitleg", ask, form);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_THAT(res->body, HasSubstr("id=\"afweging-fout\""));
  EXPECT_THAT(res->body, HasSubstr("beantwoord elk van de vijf vragen in woorden"));
  EXPECT_THAT(res->body, HasSubstr(">n.v.t.</textarea>"));  // what was typed stays
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::console
