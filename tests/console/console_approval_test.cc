// "Wacht op goedkeuring van <partner>" on the case page (issue 16 §3,
// docs/console.md) over HTTP against a real region: the gateway and GGz's
// agent on loopback. A request under the example policy's conflict of
// duties (R-GGZ-02: the weighing and GGz's own professional's approval)
// waits in the GGz agent's approval queue; the console shows the wait with
// its end; once the professional approves, the answer replaces the line.
#include <chrono>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <spdlog/spdlog.h>

#include "agent/approvals.h"
#include "client/coordinator.h"
#include "console/console.h"
#include "console/security.h"
#include "core/base/encoding.h"
#include "core/crypto/sha256.h"
#include "policy/policy_loader.h"
#include "tests/testing/capture_sink.h"
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

constexpr char kCanaryName[] = "CANARY-NAAM-Goedkeuring";
using test::kWaitMs;

int64_t Now() { return SystemClock::Get().NowMillis(); }

std::string Section(const std::string& html, const std::string& open, const std::string& close) {
  const size_t from = html.find(open);
  if (from == std::string::npos) return "";
  const size_t to = html.find(close, from);
  return html.substr(from, to == std::string::npos ? std::string::npos : to + close.size() - from);
}

class ConsoleApprovalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sink_ = std::make_shared<testing::CaptureSink>();
    auto logger = std::make_shared<spdlog::logger>("console", sink_);
    logger->set_level(spdlog::level::debug);
    spdlog::set_default_logger(logger);
    ASSERT_OK_AND_ASSIGN(region_, Region::Create(dir_.path(), SystemClock::Get()));
    ASSERT_OK(region_->StartGateway());
    ASSERT_OK(region_->StartAgent("ggz"));
    ASSERT_OK_AND_ASSIGN(auto coordinator, region_->Coordinator(0));
    std::vector<v1::Subject> family(1);
    family[0].set_role(v1::SUBJECT_ROLE_VICTIM);
    family[0].set_bsn(Region::kBsn);
    family[0].set_name(kCanaryName);
    family[0].set_date_of_birth("1990-01-01");
    ASSERT_OK_AND_ASSIGN(v1::CaseResult opened, coordinator->OpenCase("plan-van-aanpak", std::move(family)));
    case_id_ = opened.case_id();  // in the acute phase
    ASSERT_OK(coordinator->Admit(case_id_, "ggz").status());

    // In acute danger, without consent: the conflict of duties, with the
    // five questions answered. The GGz agent holds it for its professional.
    client::RequestSpec spec{case_id_, "ggz", {"ggz-in-zorg"}, "acuut-gevaar-afwenden", {"S1"}, ""};
    v1::Weighing w;
    w.set_consent("De cliënt is in een psychose en niet in staat toestemming te geven.");
    w.set_harm("Hij heeft gedreigd zijn partner vannacht iets aan te doen.");
    w.set_no_other_way("De crisisdienst is niet bereikbaar en de partner is al gewaarschuwd.");
    w.set_effect("De casusregisseur kan de behandelaar bellen en een crisisplan maken.");
    w.set_minimum("Alleen of hij in zorg is en wie de contactpersoon is.");
    w.set_approver("A. Bakker, casusregisseur Veiligheidsteam");
    spec.weighing = w;
    ASSERT_OK_AND_ASSIGN(request_id_, coordinator->SendRequest(spec));
    for (const int64_t deadline = Now() + kWaitMs; until_ == 0 && Now() < deadline;) {
      (void)coordinator->Poll(100, nullptr);
      ASSERT_OK_AND_ASSIGN(until_, coordinator->store().ApprovalWaitUntil(request_id_));
    }
    ASSERT_GT(until_, 0) << "the GGz agent did not hold the request";

    ASSERT_OK_AND_ASSIGN(auto policy, policy::LoadPolicyFile(Region::PolicyPath(), [](std::string_view text) {
                           return HexEncode(Sha256String(text));
                         }));
    ConsoleOptions options;
    options.port = 0;
    options.poll_ms = 100;
    ASSERT_OK_AND_ASSIGN(server_, ConsoleServer::Start(std::move(coordinator), policy, SystemClock::Get(), options));
    port_ = server_->port();
    const std::string address = server_->LoginAddress();
    auto res = Client()->Get(address.substr(address.find("/start")).c_str());
    ASSERT_TRUE(res && res->status == 303);
    const std::string cookie = res->get_header_value("Set-Cookie");
    cookie_ = "kp_sessie=" + SessionFromCookie(cookie.substr(0, cookie.find(';')));
  }

  void TearDown() override {
    server_.reset();
    region_.reset();
    if (HasFailure()) std::cerr << "log:\n" << sink_->Text();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("null"));
  }

  std::unique_ptr<httplib::Client> Client() {
    auto c = std::make_unique<httplib::Client>("127.0.0.1", port_);
    c->set_read_timeout(20, 0);
    return c;
  }

  std::string GetPage(const std::string& path) {
    auto res = Client()->Get(path.c_str(), httplib::Headers{{"Cookie", cookie_}});
    EXPECT_TRUE(res) << path;
    if (!res) return "";
    EXPECT_EQ(res->status, 200) << path << "\n" << res->body;
    return res->body;
  }

  testing::TempDir dir_;
  std::shared_ptr<testing::CaptureSink> sink_;
  std::unique_ptr<Region> region_;
  std::unique_ptr<ConsoleServer> server_;
  std::string case_id_, request_id_;
  int64_t until_ = 0;
  int port_ = 0;
  std::string cookie_;
};

TEST_F(ConsoleApprovalTest, TheCasePageSaysTheRequestWaitsForTheSourcesApprovalUntilTheAnswerComes) {
  const std::string path = "/casus/" + case_id_;
  const std::string waiting = Section(GetPage(path), "<table id=\"wachtend\"", "</table>");
  EXPECT_THAT(waiting, HasSubstr("wacht op goedkeuring van GGz Breburg"));
  EXPECT_THAT(waiting, HasSubstr("(tot "));
  EXPECT_THAT(waiting, HasSubstr("een professional van de bron beslist eerst"));
  EXPECT_THAT(waiting, Not(HasSubstr("wacht op antwoord</span>")));

  // It waits in the real agent's queue, where GGz's professional approves it.
  auto queue = agent::Approvals::Open(region_->AgentConfigFor("ggz").data_dir);
  ASSERT_THAT(queue, testing::IsOk());
  ASSERT_OK_AND_ASSIGN(auto listed, (*queue)->List(false));
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].request_id, request_id_);
  EXPECT_EQ(listed[0].decide_by_ms, until_);
  ASSERT_OK((*queue)->Decide(request_id_, /*approve=*/true, "dr. A. de Wit, psychiater", "", Now()));

  std::string page;
  for (const int64_t deadline = Now() + kWaitMs; Now() < deadline;) {
    page = GetPage(path);
    if (page.find("wacht op goedkeuring") == std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_THAT(page, Not(HasSubstr("wacht op goedkeuring")));
  EXPECT_THAT(page, Not(HasSubstr("<table id=\"wachtend\"")));
  EXPECT_THAT(page, HasSubstr("In zorg bij GGz Breburg"));  // the answer

  for (const std::string& canary : {std::string(kCanaryName), std::string(Region::kBsn)}) {
    EXPECT_EQ(sink_->Text().find(canary), std::string::npos) << canary << " in the log";
  }
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::console
