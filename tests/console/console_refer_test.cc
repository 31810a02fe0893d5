// The console's Aanmelden and acute-case forms over HTTP against a real
// region (issue 15, "every coordinator action the client offers";
// docs/console.md "Aanmelden bij het Veiligheidsteam", "Acute casus"):
// Veilig Thuis sends a referral that a regisseur receives, the police on the
// scene open an acute case, a role that is not acute never sees that option
// (and a forged post is refused by the gateway), and a bad form sends nothing.
#include <chrono>
#include <regex>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <spdlog/spdlog.h>

#include "console/console.h"
#include "tests/console/console_fixture.h"
#include "tests/testing/region.h"
#include "tests/testing/status_matchers.h"

namespace kp::console {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

using ::testing::HasSubstr;
using ::testing::Not;
using testing::Region;

constexpr char kChildBsn[] = "999990020";
constexpr char kCanaryName[] = "CANARY-NAAM-Aanmelden";

class ConsoleReferTest : public ConsoleFixture {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(StartRegion(spdlog::level::trace)); }

  // The console of `participant`, logged in.
  void StartConsole(const std::string& participant) {
    ASSERT_OK_AND_ASSIGN(auto coordinator, region_->ConnectAs(participant));
    ASSERT_NO_FATAL_FAILURE(ConsoleFixture::StartConsole(std::move(coordinator)));
  }

  static httplib::Params Family() {
    return {{"aantal", "4"},     {"actie", "openen"},    {"rol1", "victim"},       {"bsn1", Region::kBsn},
            {"naam1", kCanaryName}, {"geboortedatum1", "12-04-1988"}, {"rol2", "child"}, {"bsn2", kChildBsn}};
  }

  static httplib::Params ReferralForm(const std::string& reference) {
    httplib::Params form = Family();
    form.emplace("kenmerk", reference);
    form.emplace("team", "veiligheidsteam");
    form.emplace("doel", "plan-van-aanpak");
    form.emplace("reden", "herhaald-geweld");
    form.emplace("reden", "kinderen-betrokken");
    return form;
  }


};

TEST_F(ConsoleReferTest, VeiligThuisRefersAFamilyAndARegisseurReceivesIt) {
  ASSERT_NO_FATAL_FAILURE(StartConsole(Region::kVeiligThuisCoordinator));
  const std::string start = GetPage("/aanmeldingen");
  EXPECT_THAT(start, HasSubstr("href=\"/aanmelden\""));  // the navigation and the button

  const std::string form = GetPage("/aanmelden");
  EXPECT_THAT(form, HasSubstr("id=\"kenmerk\""));
  EXPECT_THAT(form, HasSubstr("<option value=\"veiligheidsteam\""));
  EXPECT_THAT(form, HasSubstr("Herhaald of structureel geweld in het gezin"));
  auto res = Submit("/aanmelden", form, ReferralForm("VT-2026-0815"));
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 303) << res->body;
  EXPECT_EQ(res->get_header_value("Location"), "/aanmeldingen");

  const std::string after = GetPage("/aanmeldingen");
  EXPECT_THAT(after, HasSubstr("Aanmelding VT-2026-0815 verstuurd"));
  EXPECT_THAT(after, HasSubstr("de regisseurs van Veiligheidsteam Hart van Brabant beslissen"));
  EXPECT_THAT(after, HasSubstr("id=\"aanmeldingen-verstuurd\""));
  EXPECT_THAT(after, HasSubstr("wacht op besluit"));

  ASSERT_OK_AND_ASSIGN(auto regisseur, region_->Coordinator(0));
  ASSERT_OK(regisseur->FetchInbox("").status());
  ASSERT_OK_AND_ASSIGN(auto received, regisseur->store().Referrals());
  ASSERT_EQ(received.size(), 1u);
  EXPECT_TRUE(received[0].received);
  EXPECT_EQ(received[0].body.reference(), "VT-2026-0815");
  EXPECT_EQ(received[0].body.purpose(), "plan-van-aanpak");
  EXPECT_EQ(received[0].body.reason_codes_size(), 2);
  EXPECT_EQ(received[0].body.subjects_size(), 2);

  // Accepted: Veilig Thuis' console shows the case.
  ASSERT_OK_AND_ASSIGN(auto opened, regisseur->AcceptReferral(received[0].id));
  bool shown = false;
  for (int i = 0; i < 50 && !shown; ++i) {
    shown = GetPage("/aanmeldingen").find("casus " + opened.case_id()) != std::string::npos;
    if (!shown) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(shown) << "the accepted referral's case is not on Aanmeldingen";

  EXPECT_THAT(sink_->Text(), Not(HasSubstr(Region::kBsn)));
  EXPECT_THAT(sink_->Text(), Not(HasSubstr(kCanaryName)));
}

TEST_F(ConsoleReferTest, ADeclinedReferralShowsTheReasonToTheSender) {
  ASSERT_NO_FATAL_FAILURE(StartConsole(Region::kVeiligThuisCoordinator));
  auto res = Submit("/aanmelden", GetPage("/aanmelden"), ReferralForm("VT-2026-0816"));
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 303) << res->body;
  ASSERT_OK_AND_ASSIGN(auto regisseur, region_->Coordinator(0));
  ASSERT_OK(regisseur->FetchInbox("").status());
  ASSERT_OK_AND_ASSIGN(auto received, regisseur->store().Referrals());
  ASSERT_EQ(received.size(), 1u);
  ASSERT_OK(regisseur->DeclineReferral(received[0].id, "geen-hoog-risico").status());
  bool shown = false;
  for (int i = 0; i < 50 && !shown; ++i) {
    shown = GetPage("/aanmeldingen").find("afgewezen: Geen hoog risico op escalatie") != std::string::npos;
    if (!shown) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(shown) << "the decline reason is not on Aanmeldingen";
}

TEST_F(ConsoleReferTest, ABadReferralSaysWhatIsWrongAndSendsNothing) {
  ASSERT_NO_FATAL_FAILURE(StartConsole(Region::kVeiligThuisCoordinator));
  std::string last;  // the last refused form
  auto expect_refused = [&](httplib::Params form, const std::string& field_id, const std::string& message) {
    SCOPED_TRACE(field_id);
    auto res = Submit("/aanmelden", GetPage("/aanmelden"), std::move(form));
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400);
    EXPECT_THAT(res->body, HasSubstr("Er is niets verstuurd"));
    EXPECT_THAT(res->body, HasSubstr("<p class=\"veldfout\" id=\"" + field_id + "\">" + message));
    last = res->body;
  };
  auto set = [](httplib::Params f, const std::string& name, const std::string& value) {
    f.erase(name);
    if (!value.empty()) f.emplace(name, value);
    return f;
  };
  const httplib::Params good = ReferralForm("VT-2026-0900");
  expect_refused(set(good, "kenmerk", ""), "kenmerk-fout", "vul het kenmerk van Veilig Thuis in");
  expect_refused(set(good, "kenmerk", "VT 0900;"), "kenmerk-fout", "een kenmerk bevat alleen letters");
  expect_refused(set(good, "kenmerk", std::string(65, 'A')), "kenmerk-fout", "een kenmerk is hoogstens 64 tekens");
  expect_refused(set(good, "reden", ""), "redenen-fout", "kies ten minste één reden");
  expect_refused(set(good, "team", "politie"), "team-fout", "kies het team waarbij u aanmeldt");
  expect_refused(set(good, "bsn1", "123456789"), "bsn1-fout", "dit BSN klopt niet");
  // What was typed stays.
  EXPECT_THAT(last, HasSubstr("id=\"kenmerk\" value=\"VT-2026-0900\""));
  EXPECT_THAT(last, HasSubstr("id=\"reden-kinderen-betrokken\" checked>"));
  EXPECT_THAT(last, HasSubstr("id=\"naam1\" value=\"" + std::string(kCanaryName) + "\""));
  EXPECT_THAT(last, HasSubstr("<option value=\"plan-van-aanpak\" selected>"));
  EXPECT_THAT(sink_->Text(), Not(HasSubstr(kCanaryName)));

  const std::string page = GetPage("/aanmeldingen");
  EXPECT_THAT(page, HasSubstr("U heeft nog geen gezinnen aangemeld"));
  ASSERT_OK_AND_ASSIGN(auto regisseur, region_->Coordinator(0));
  ASSERT_OK(regisseur->FetchInbox("").status());
  ASSERT_OK_AND_ASSIGN(auto received, regisseur->store().Referrals());
  EXPECT_TRUE(received.empty());
}

TEST_F(ConsoleReferTest, ThePoliceOnTheSceneOpenAnAcuteCase) {
  ASSERT_NO_FATAL_FAILURE(StartConsole(Region::kPolitieAcuut));
  const std::string form = GetPage("/casus/nieuw");
  EXPECT_THAT(form, HasSubstr("id=\"acuut-openen\""));
  EXPECT_THAT(form, Not(HasSubstr("href=\"/aanmelden\"")));  // the police refer no one
  const std::string acute = GetPage("/casus/nieuw?acuut=ja");
  EXPECT_THAT(acute, HasSubstr("name=\"acuut\" value=\"ja\""));
  EXPECT_THAT(acute, HasSubstr("<option value=\"acuut-gevaar-afwenden\" selected>"));
  EXPECT_THAT(acute, HasSubstr("binnen 72 uur draagt u haar over aan Veilig Thuis Midden-Brabant en Veiligheidsteam"));
  EXPECT_THAT(acute, HasSubstr("Politie, eenheid Zeeland-West-Brabant, Veilig Thuis Midden-Brabant en Crisis"));

  httplib::Params post = Family();
  post.emplace("doel", "acuut-gevaar-afwenden");
  post.emplace("acuut", "ja");
  auto res = Submit("/casus/nieuw", acute, post);
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 303) << res->body;
  const std::string to = res->get_header_value("Location");
  ASSERT_THAT(to, ::testing::StartsWith("/casus/"));
  const std::string page = GetPage(to);
  EXPECT_THAT(page, HasSubstr("Acuut venster"));
  EXPECT_THAT(page, HasSubstr("Acute casus " + to.substr(7) + " geopend"));
}

TEST_F(ConsoleReferTest, ARoleThatIsNotAcuteNeverSeesItAndAForgedPostIsRefused) {
  ASSERT_NO_FATAL_FAILURE(StartConsole(Region::CoordinatorId(0)));
  const std::string form = GetPage("/casus/nieuw");
  EXPECT_THAT(form, Not(HasSubstr("id=\"acuut-openen\"")));
  EXPECT_THAT(form, Not(HasSubstr("href=\"/aanmelden\"")));
  EXPECT_THAT(GetPage("/casus/nieuw?acuut=ja"), Not(HasSubstr("name=\"acuut\"")));

  httplib::Params post = Family();
  post.emplace("doel", "acuut-gevaar-afwenden");
  post.emplace("acuut", "ja");
  auto res = Submit("/casus/nieuw", form, post);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 409) << res->body;
  EXPECT_THAT(res->body, HasSubstr("De gateway weigerde"));
  EXPECT_THAT(res->body, Not(HasSubstr("name=\"acuut\""))) << "the refused form is the ordinary one";
  EXPECT_EQ(res->get_header_value("Location"), "");
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::console
