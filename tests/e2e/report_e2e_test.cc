// The privacy officer's report on a real region's log (issue 17 §1): a real
// gateway and agents, a request answered by the police, a push the police
// received, a request the policy refused. The report on the gateway's own
// log has, for every disclosure row, its purpose, legal basis, phase, rules,
// policy version and retention (the gateway now logs them with the delivery
// and the push-received); `--partner politie` has its totals; no BSN or name
// of the subjects is in it. Set KP_REPORT_SAMPLE_DIR to keep the reports
// (the browser test, tests/audit/report_browser_test.py, opens them).
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <fstream>
#include <regex>

#include "core/audit/log_reader.h"
#include "core/audit/log_verifier.h"
#include "core/audit/report.h"
#include "gateway/gateway.h"
#include "tests/testing/capture_sink.h"
#include "tests/testing/plan_push.h"
#include "tests/testing/region.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_time.h"

namespace kp {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

namespace v1 = ketenpoort::v1;
using client::Outcome;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::Region;

using test::kWaitMs;
constexpr char kCanaryName[] = "CANARY-NAAM-Rapport";

class ReportE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sink_ = std::make_shared<testing::CaptureSink>();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("report", sink_));
    ASSERT_OK_AND_ASSIGN(region_, Region::Create(dir_.path(), SystemClock::Get()));
    std::filesystem::create_directories(dir_.File("sink"));
    region_->SetAgentConfigHook([this](const std::string&, agent::AgentConfig& c) {
      c.sink.folder = dir_.File("sink");
      c.sink.retry_ms = 100;
    });
    ASSERT_OK(region_->StartGateway());
  }

  void TearDown() override {
    region_.reset();
    if (HasFailure()) std::cerr << "log:\n" << sink_->Text();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("null"));
  }

  Result<std::string> Report(const audit::ReportOptions& o, const std::string& name) {
    const std::string dir = gateway::Gateway::AuditDir(region_->gateway_config());
    audit::VerifyReport rep = audit::VerifyLog(dir, audit::VerifyOptions());
    EXPECT_TRUE(rep.status.ok()) << rep.status.message();
    KP_ASSIGN_OR_RETURN(auto reader, audit::LogReader::Open(dir));
    auto html = audit::RenderHtmlReport(*reader, rep, o);
    if (const char* out = std::getenv("KP_REPORT_SAMPLE_DIR"); out != nullptr && html.ok()) {
      std::ofstream(std::string(out) + "/" + name + ".html") << *html;
    }
    return html;
  }

  testing::TempDir dir_;
  std::shared_ptr<testing::CaptureSink> sink_;
  std::unique_ptr<Region> region_;
};

TEST_F(ReportE2eTest, EveryDisclosureRowOfARealRegionIsComplete) {
  ASSERT_OK(region_->StartAgent("politie"));
  ASSERT_OK(region_->StartAgent("ggz"));
  ASSERT_OK_AND_ASSIGN(auto c, region_->Coordinator());
  v1::Subject victim;
  victim.set_role(v1::SUBJECT_ROLE_VICTIM);
  victim.set_bsn(Region::kBsn);
  victim.set_name(kCanaryName);
  victim.set_date_of_birth("1990-01-01");
  ASSERT_OK_AND_ASSIGN(v1::CaseResult opened, c->OpenCase("plan-van-aanpak", {victim}));
  const std::string case_id = opened.case_id();
  ASSERT_OK(c->Admit(case_id, "politie").status());
  ASSERT_OK(c->Admit(case_id, "ggz").status());

  // The police answer; the GGz is not asked: no consent is recorded (refused by the policy).
  ASSERT_OK_AND_ASSIGN(std::string request_id,
                       c->SendRequest({case_id, "politie", {"politie-incidenten"}, "plan-van-aanpak", {"S1"}, ""}));
  ASSERT_OK_AND_ASSIGN(Outcome answered, c->AwaitOutcome(request_id, kWaitMs));
  ASSERT_EQ(answered.kind, Outcome::Kind::kDelivered) << answered.refusal.reason();
  auto refused = c->SendRequest({case_id, "ggz", {"ggz-in-zorg"}, "plan-van-aanpak", {"S1"}, ""});
  if (refused.ok()) {
    ASSERT_OK_AND_ASSIGN(Outcome no, c->AwaitOutcome(*refused, kWaitMs));
    EXPECT_EQ(no.kind, Outcome::Kind::kRefused);
  }
  // The plan sent to the police.
  ASSERT_OK_AND_ASSIGN(client::PushInfo pushed, c->Push(testing::PlanPush(case_id, "politie"), kWaitMs));
  ASSERT_EQ(pushed.state, "received") << pushed.reason;
  region_->StopGateway();  // every record written and the log closed

  audit::ReportOptions o;
  o.case_id = case_id;
  o.generated_at_millis = SystemClock::Get().NowMillis();
  ASSERT_OK_AND_ASSIGN(std::string html, Report(o, "region-case"));
  const size_t a = html.find("<h3>Disclosures</h3>");
  ASSERT_NE(a, std::string::npos);
  const std::string table = html.substr(a, html.find("</table>", a) - a);
  // Two disclosures: the police's answer and the push; cells in the table's order:
  // # when from to categories purpose basis phase rules policy kept size.
  std::regex row("<tr[^>]*><td>\\d+</td><td>[^<]+</td><td>([^<]*)</td><td>([^<]*)</td><td>(.*?)</td><td>([^<]*)</td>"
                 "<td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td><td>[1-9]\\d* B</td></tr>");
  int rows = 0;
  for (std::sregex_iterator it(table.begin(), table.end(), row), end; it != end; ++it) {
    ++rows;
    for (size_t i = 1; i <= 9; ++i) EXPECT_FALSE((*it)[i].str().empty()) << "cell " << i << " of " << it->str();
    EXPECT_EQ((*it)[4].str(), "plan-van-aanpak") << it->str();
    EXPECT_THAT((*it)[8].str(), HasSubstr("veiligheidsteam-hvb")) << it->str();
  }
  EXPECT_EQ(rows, 2) << table;
  EXPECT_THAT(table, HasSubstr("R-POL-01"));
  EXPECT_THAT(table, HasSubstr("wpg-art-20"));
  EXPECT_THAT(table, HasSubstr("<span class=\"badge art10\">art10</span>"));
  EXPECT_THAT(html, HasSubstr("<h3>Refused requests</h3>"));
  EXPECT_THAT(html, Not(HasSubstr("<h3>Refused requests</h3><table><tr><th>#</th><th>when</th><th>from</th><th>to</th>"
                                  "<th>categories</th><th>purpose</th><th>reason</th><th>rules</th></tr><tr><td "
                                  "colspan=\"8\">none")));

  o = audit::ReportOptions();
  o.partner = "politie";
  o.generated_at_millis = SystemClock::Get().NowMillis();
  ASSERT_OK_AND_ASSIGN(std::string by_partner, Report(o, "region-politie"));
  EXPECT_THAT(by_partner, HasSubstr("<h2>Totals for partner politie</h2>"));
  EXPECT_THAT(by_partner, HasSubstr("<tr><td>politie-incidenten</td><td class=\"n\">1</td>"));
  EXPECT_THAT(by_partner, HasSubstr("<tr><td>veiligheidsplan</td><td class=\"n\">\u2013</td><td class=\"n\">1</td>"));
  for (const std::string& report : {html, by_partner}) {
    EXPECT_EQ(report.find(Region::kBsn), std::string::npos);
    EXPECT_EQ(report.find(kCanaryName), std::string::npos);
  }
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp
