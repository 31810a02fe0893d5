// The Casus page's actions for what the client does besides case commands
// (issue 15: the console covers every coordinator action): "Bijwerken"
// (SyncCase, then FetchInbox for the case) and "Opnieuw versturen" for a
// waiting request the gateway never confirmed (Resend, then a short wait
// for the answer). Over HTTP against a real region: the gateway and the
// police's agent on loopback.
#include <chrono>
#include <regex>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <spdlog/spdlog.h>

#include "client/coordinator.h"
#include "console/console.h"
#include "core/base/encoding.h"
#include "tests/console/console_fixture.h"
#include "tests/testing/region.h"
#include "tests/testing/status_matchers.h"

namespace kp::console {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

using ::testing::HasSubstr;
using ::testing::Not;
using testing::Region;

constexpr char kPurpose[] = "veiligheidstaxatie";
constexpr char kCanaryName[] = "CANARY-NAAM-Acties";

class ConsoleCaseActionsTest : public ConsoleFixture {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(StartRegion(spdlog::level::trace));
    ASSERT_OK(region_->StartAgent("politie"));
  }

  // A case of regisseur-01 with the police admitted, opened by the client
  // itself before there is a console (as with the CLI).
  static Result<std::string> OpenCaseWithPolice(client::Coordinator& c) {
    return OpenCaseWith(c, kPurpose, kCanaryName, "politie");
  }

};

// A case opened by the client before the console ran is on the console;
// "Bijwerken" fetches its history and inbox and says what came.
TEST_F(ConsoleCaseActionsTest, BijwerkenFetchesHistoryAndAnswers) {
  ASSERT_OK_AND_ASSIGN(auto coordinator, region_->Coordinator(0));
  ASSERT_OK_AND_ASSIGN(const std::string id, OpenCaseWithPolice(*coordinator));
  ASSERT_NO_FATAL_FAILURE(StartConsole(std::move(coordinator)));
  const std::string path = "/casus/" + id;
  const std::string page = GetPage(path);
  EXPECT_THAT(page, HasSubstr("Casus geopend"));
  const std::string form = Section(page, "<form id=\"bijwerken\"", "</form>");
  ASSERT_THAT(form, HasSubstr("Bijwerken"));

  const std::string after = Follow(Submit(path + "/bijwerken", form, {}));
  EXPECT_THAT(after, HasSubstr("Bijgewerkt: fase "));
  EXPECT_THAT(after, HasSubstr("0 nieuwe antwoorden."));
  EXPECT_THAT(after, HasSubstr("politie")) << "the admitted partner is still there";

  // An unknown case: nothing to update.
  auto unknown = Submit("/casus/bestaat-niet/bijwerken", Section(GetPage(path), "<form id=\"bijwerken\"", "</form>"), {});
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
}

// A request the gateway never got (sent while it was down) waits
// unconfirmed; "Opnieuw versturen" sends it again and the police's answer
// comes. A forged request id, or one that does not wait, sends nothing.
TEST_F(ConsoleCaseActionsTest, OpnieuwVersturenSendsAnUnconfirmedRequestAgain) {
  std::string id, request_id, other_request;
  {
    ASSERT_OK_AND_ASSIGN(auto before, region_->Coordinator(0));
    ASSERT_OK_AND_ASSIGN(id, OpenCaseWithPolice(*before));
    ASSERT_OK_AND_ASSIGN(const std::string other, OpenCaseWithPolice(*before));
    // The gateway goes down: the request is stored as waiting, not
    // confirmed, and queued on a socket that is closed (its linger passes
    // while the gateway is away) before the gateway is back — it never
    // reaches the gateway.
    region_->StopGateway();
    ASSERT_OK_AND_ASSIGN(request_id, before->SendRequest({id, "politie", {"politie-incidenten"}, kPurpose, {}, ""}));
    ASSERT_OK_AND_ASSIGN(other_request,
                         before->SendRequest({other, "politie", {"politie-incidenten"}, kPurpose, {}, ""}));
  }
  ASSERT_OK(region_->StartGateway());
  ASSERT_OK_AND_ASSIGN(auto coordinator, region_->Coordinator(0));
  {
    ASSERT_OK_AND_ASSIGN(auto stored, coordinator->store().GetRequest(request_id));
    ASSERT_TRUE(stored.has_value());
    ASSERT_EQ(stored->state, client::RequestState::kPending);
    ASSERT_FALSE(stored->accepted);
  }
  ASSERT_NO_FATAL_FAILURE(StartConsole(std::move(coordinator)));
  const std::string path = "/casus/" + id;
  const std::string hex = HexEncode(request_id);

  // It does not come by itself: the gateway never got it.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  std::string page = GetPage(path);
  EXPECT_THAT(page, Not(HasSubstr("<table id=\"antwoorden\"")));
  const std::string waiting = Section(page, "<table id=\"wachtend\"", "</table>");
  ASSERT_THAT(waiting, HasSubstr("niet bevestigd door de gateway"));
  const std::string form = Section(waiting, "<form class=\"opnieuw\"", "</form>");
  ASSERT_THAT(form, HasSubstr("value=\"" + hex + "\""));
  ASSERT_THAT(form, HasSubstr("Opnieuw versturen"));

  // A forged id, an id of no request, and a malformed one: 400, nothing sent.
  // And a request waiting unconfirmed in another case.
  for (const std::string& bad : {std::string(32, '0'), std::string("zz") + hex.substr(2), std::string("abc"),
                                 std::string(), HexEncode(other_request)}) {
    SCOPED_TRACE(bad);
    auto res = Submit(path + "/opnieuw", Section(GetPage(path), "<form class=\"opnieuw\"", "</form>"),
                      {{"verzoek", bad}});
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400);
    EXPECT_THAT(res->body, HasSubstr("Dit verzoek wacht niet op antwoord in deze casus"));
  }
  EXPECT_THAT(sink_->Text(), Not(HasSubstr("sent again")));

  // The real one: the answer comes, with the police's values.
  page = Follow(Submit(path + "/opnieuw", Section(GetPage(path), "<form class=\"opnieuw\"", "</form>"),
                       {{"verzoek", hex}}));
  EXPECT_THAT(page, HasSubstr("Opnieuw verstuurd"));
  for (int i = 0; i < 50 && page.find("<table id=\"antwoorden\"") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    page = GetPage(path);
  }
  const std::string answers = Section(page, "<table id=\"antwoorden\"", "</table>\n");
  ASSERT_FALSE(answers.empty()) << page;
  EXPECT_THAT(answers, HasSubstr("<td class=\"waarde\">"));
  EXPECT_THAT(page, Not(HasSubstr("niet bevestigd door de gateway")));

  // Answered: it waits no more, so it cannot be sent again.
  auto again = Submit(path + "/opnieuw", Section(page, "<form id=\"bijwerken\"", "</form>"), {{"verzoek", hex}});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 400);

  EXPECT_THAT(sink_->Text(), HasSubstr("request " + hex + " sent again"));
  EXPECT_THAT(sink_->Text(), Not(HasSubstr(kCanaryName)));
  EXPECT_THAT(sink_->Text(), Not(HasSubstr(Region::kBsn)));
}

// A request the gateway confirmed waits for the police's agent, which is
// away: "wacht op antwoord", and no button (the answer comes by itself).
TEST_F(ConsoleCaseActionsTest, AConfirmedRequestWaitsWithoutAButton) {
  ASSERT_OK_AND_ASSIGN(auto coordinator, region_->Coordinator(0));
  ASSERT_OK_AND_ASSIGN(const std::string id, OpenCaseWithPolice(*coordinator));
  region_->StopAgent("politie");
  ASSERT_OK_AND_ASSIGN(const std::string request_id,
                       coordinator->SendRequest({id, "politie", {"politie-incidenten"}, kPurpose, {}, ""}));
  auto none = coordinator->AwaitOutcome(request_id, 1000);  // takes in the gateway's ACCEPTED
  ASSERT_EQ(none.status().code(), StatusCode::kDeadlineExceeded);
  ASSERT_OK_AND_ASSIGN(auto stored, coordinator->store().GetRequest(request_id));
  ASSERT_TRUE(stored.has_value() && stored->accepted);
  ASSERT_NO_FATAL_FAILURE(StartConsole(std::move(coordinator)));

  const std::string waiting = Section(GetPage("/casus/" + id), "<table id=\"wachtend\"", "</table>");
  EXPECT_THAT(waiting, HasSubstr("wacht op antwoord"));
  EXPECT_THAT(waiting, Not(HasSubstr("niet bevestigd door de gateway")));
  EXPECT_THAT(waiting, Not(HasSubstr("Opnieuw versturen")));
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::console
