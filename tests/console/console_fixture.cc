#include "tests/console/console_fixture.h"

#include <iostream>
#include <regex>

#include "console/security.h"
#include "core/base/encoding.h"
#include "core/crypto/sha256.h"
#include "policy/policy_loader.h"

namespace kp::console {

void ConsoleFixture::TearDown() {
  server_.reset();
  region_.reset();
  if (HasFailure() && sink_ != nullptr) std::cerr << "log:\n" << sink_->Text();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("null"));
}

void ConsoleFixture::StartRegion(spdlog::level::level_enum level) {
  sink_ = std::make_shared<testing::CaptureSink>();
  auto logger = std::make_shared<spdlog::logger>("console", sink_);
  logger->set_level(level);
  spdlog::set_default_logger(logger);
  ASSERT_OK_AND_ASSIGN(region_, testing::Region::Create(dir_.path(), SystemClock::Get()));
  ASSERT_OK(region_->StartGateway());
}

Result<std::string> ConsoleFixture::OpenCaseWith(client::Coordinator& c, const std::string& purpose,
                                                 const std::string& name, const std::string& partner) {
  std::vector<ketenpoort::v1::Subject> family(1);
  family[0].set_role(ketenpoort::v1::SUBJECT_ROLE_VICTIM);
  family[0].set_bsn(testing::Region::kBsn);
  family[0].set_name(name);
  family[0].set_date_of_birth("1990-01-01");
  KP_ASSIGN_OR_RETURN(ketenpoort::v1::CaseResult opened, c.OpenCase(purpose, std::move(family)));
  KP_RETURN_IF_ERROR(c.Admit(opened.case_id(), partner).status());
  return opened.case_id();
}

ConsoleOptions ConsoleFixture::TestOptions(int poll_ms) {
  ConsoleOptions options;
  options.port = 0;
  options.poll_ms = poll_ms;
  return options;
}

void ConsoleFixture::StartServer(std::unique_ptr<client::Coordinator> coordinator, ConsoleOptions options,
                                 const Clock& clock) {
  ASSERT_OK_AND_ASSIGN(auto policy, policy::LoadPolicyFile(testing::Region::PolicyPath(), [](std::string_view text) {
                         return HexEncode(Sha256String(text));
                       }));
  ASSERT_OK_AND_ASSIGN(server_, ConsoleServer::Start(std::move(coordinator), policy, clock, options));
  port_ = server_->port();
}

void ConsoleFixture::StartConsole(std::unique_ptr<client::Coordinator> coordinator, ConsoleOptions options,
                                  const Clock& clock) {
  ASSERT_NO_FATAL_FAILURE(StartServer(std::move(coordinator), options, clock));
  cookie_ = Login();
  ASSERT_FALSE(cookie_.empty());
}

std::unique_ptr<httplib::Client> ConsoleFixture::Client() const {
  auto c = std::make_unique<httplib::Client>("127.0.0.1", port_);
  c->set_read_timeout(20, 0);
  return c;
}

std::string ConsoleFixture::Login() {
  const std::string address = server_->LoginAddress();
  auto res = Client()->Get(address.substr(address.find("/start")).c_str());
  EXPECT_TRUE(res) << "no answer to the start address";
  if (!res) return "";
  EXPECT_EQ(res->status, 303);
  if (res->status != 303) return "";
  const std::string cookie = res->get_header_value("Set-Cookie");
  return "kp_sessie=" + SessionFromCookie(cookie.substr(0, cookie.find(';')));
}

httplib::Result ConsoleFixture::Get(const std::string& path, const std::string& cookie) {
  auto res = Client()->Get(path.c_str(), httplib::Headers{{"Cookie", cookie}});
  if (res) pages_ += res->body;
  return res;
}

httplib::Result ConsoleFixture::Post(const std::string& path, const std::string& cookie,
                                     const httplib::Params& form, httplib::Headers extra) {
  extra.emplace("Cookie", cookie);
  auto res = Client()->Post(path.c_str(), extra, form);
  if (res) pages_ += res->body;
  return res;
}

std::string ConsoleFixture::GetPage(const std::string& path, int status) {
  auto res = Get(path, cookie_);
  EXPECT_TRUE(res) << path;
  if (!res) return "";
  EXPECT_EQ(res->status, status) << path << "\n" << res->body;
  return res->body;
}

httplib::Result ConsoleFixture::Submit(const std::string& path, const std::string& form_html,
                                       httplib::Params form) {
  auto [csrf, id] = FormFields(form_html);
  EXPECT_TRUE(!csrf.empty() && !id.empty()) << "no form fields before " << path;
  if (!csrf.empty()) form.emplace("csrf", csrf);
  if (!id.empty()) form.emplace("formulier", id);
  return Post(path, cookie_, form);
}

std::string ConsoleFixture::Follow(const httplib::Result& res) {
  EXPECT_TRUE(res);
  if (!res) return "";
  EXPECT_EQ(res->status, 303) << res->body;
  return GetPage(res->get_header_value("Location"));
}

std::pair<std::string, std::string> ConsoleFixture::FormFields(const std::string& html) {
  std::smatch csrf, form;
  std::regex_search(html, csrf, std::regex(R"re(name="csrf" value="([0-9a-f]+)")re"));
  std::regex_search(html, form, std::regex(R"re(name="formulier" value="([0-9a-f]+)")re"));
  return {csrf.size() > 1 ? csrf[1].str() : "", form.size() > 1 ? form[1].str() : ""};
}

std::string ConsoleFixture::Section(const std::string& html, const std::string& open, const std::string& close) {
  const size_t from = html.find(open);
  if (from == std::string::npos) return "";
  const size_t to = html.find(close, from);
  return html.substr(from, to == std::string::npos ? std::string::npos : to + close.size() - from);
}

}  // namespace kp::console
