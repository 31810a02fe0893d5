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
#include "console/security.h"
#include "core/base/encoding.h"
#include "core/base/file_util.h"
#include "core/crypto/sha256.h"
#include "policy/policy_loader.h"
#include "tests/testing/capture_sink.h"
#include "tests/testing/region.h"
#include "tests/testing/status_matchers.h"

namespace kp::console {
namespace {

namespace v1 = ketenpoort::v1;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::Region;

constexpr char kPurpose[] = "plan-van-aanpak";
constexpr char kCanaryName[] = "CANARY-NAAM-Versturen";
constexpr char kCanaryValue[] = "CANARY-AFSPRAAK-geen-contact";

std::string Section(const std::string& html, const std::string& open, const std::string& close) {
  const size_t from = html.find(open);
  if (from == std::string::npos) return "";
  const size_t to = html.find(close, from);
  return html.substr(from, to == std::string::npos ? std::string::npos : to + close.size() - from);
}

class ConsolePushTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sink_ = std::make_shared<testing::CaptureSink>();
    auto logger = std::make_shared<spdlog::logger>("console", sink_);
    logger->set_level(spdlog::level::trace);
    spdlog::set_default_logger(logger);
    ASSERT_OK_AND_ASSIGN(region_, Region::Create(dir_.path(), SystemClock::Get()));
    sink_dir_ = dir_.File("sink");
    std::filesystem::create_directories(sink_dir_);
    region_->SetAgentConfigHook([this](const std::string&, agent::AgentConfig& c) { c.sink.folder = sink_dir_; });
    ASSERT_OK(region_->StartGateway());
    ASSERT_OK(region_->StartAgent("politie"));
  }

  void TearDown() override {
    server_.reset();
    region_.reset();
    if (HasFailure()) std::cerr << "log:\n" << sink_->Text();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("null"));
  }

  // A case of regisseur-01 with the police admitted, opened by the client
  // itself before there is a console (as with the CLI).
  static Result<std::string> OpenCaseWithPolice(client::Coordinator& c) {
    std::vector<v1::Subject> family(1);
    family[0].set_role(v1::SUBJECT_ROLE_VICTIM);
    family[0].set_bsn(Region::kBsn);
    family[0].set_name(kCanaryName);
    family[0].set_date_of_birth("1990-01-01");
    KP_ASSIGN_OR_RETURN(v1::CaseResult opened, c.OpenCase(kPurpose, std::move(family)));
    KP_RETURN_IF_ERROR(c.Admit(opened.case_id(), "politie").status());
    return opened.case_id();
  }

  // The console for regisseur-01 with `coordinator` (the same store).
  void StartConsole(std::unique_ptr<client::Coordinator> coordinator) {
    ASSERT_OK_AND_ASSIGN(auto policy, policy::LoadPolicyFile(Region::PolicyPath(), [](std::string_view text) {
                           return HexEncode(Sha256String(text));
                         }));
    ConsoleOptions options;
    options.port = 0;
    options.poll_ms = 200;
    ASSERT_OK_AND_ASSIGN(server_, ConsoleServer::Start(std::move(coordinator), policy, SystemClock::Get(), options));
    port_ = server_->port();
    const std::string address = server_->LoginAddress();
    auto res = Client()->Get(address.substr(address.find("/start")).c_str());
    ASSERT_TRUE(res && res->status == 303);
    const std::string cookie = res->get_header_value("Set-Cookie");
    cookie_ = "kp_sessie=" + SessionFromCookie(cookie.substr(0, cookie.find(';')));
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

  // Posts `form` with the csrf token and the one-time form id of the form
  // whose HTML is `form_html` (as a browser would).
  httplib::Result Submit(const std::string& path, const std::string& form_html, httplib::Params form) {
    std::smatch csrf, id;
    std::regex_search(form_html, csrf, std::regex(R"re(name="csrf" value="([0-9a-f]+)")re"));
    std::regex_search(form_html, id, std::regex(R"re(name="formulier" value="([0-9a-f]+)")re"));
    EXPECT_TRUE(csrf.size() > 1 && id.size() > 1) << "no form fields before " << path;
    if (csrf.size() > 1) form.emplace("csrf", csrf[1].str());
    if (id.size() > 1) form.emplace("formulier", id[1].str());
    return Client()->Post(path.c_str(), httplib::Headers{{"Cookie", cookie_}}, form);
  }

  // The flash on the page a redirect leads to.
  std::string Follow(const httplib::Result& res) {
    EXPECT_TRUE(res);
    if (!res) return "";
    EXPECT_EQ(res->status, 303) << res->body;
    return GetPage(res->get_header_value("Location"));
  }

  testing::TempDir dir_;
  std::shared_ptr<testing::CaptureSink> sink_;
  std::unique_ptr<Region> region_;
  std::unique_ptr<ConsoleServer> server_;
  int port_ = 0;
  std::string cookie_;
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

}  // namespace
}  // namespace kp::console
