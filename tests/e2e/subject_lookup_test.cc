// `ketenpoort audit subject` on a real region's logs (issue 17 §3): the
// coordinator's client opens a case about a victim and a suspect, the real
// police agent answers a request about both, the coordinator sends the
// police a plan about the victim; then, with the gateway and agent stopped,
// the privacy officer's command — with the region's key file — finds the
// victim's records in the gateway's log and the police agent's own log, and
// writes a draft that names the police as source and recipient and holds no
// BSN, name or other subject's ref. The suspect is found on their own; a
// person who is in no case is not, and no file is written.
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "agent/agent.h"
#include "cli/cli_context.h"
#include "core/base/file_util.h"
#include "gateway/gateway.h"
#include "tests/testing/capture_sink.h"
#include "tests/testing/cli_run.h"
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
constexpr char kVictimName[] = "CANARY-NAAM-Inzage";
constexpr char kSuspectBsn[] = "999990032";

using testing::CliRun;
using testing::RunCli;

v1::Subject Person(v1::SubjectRole role, const std::string& bsn, const std::string& name, const std::string& dob) {
  v1::Subject s;
  s.set_role(role);
  s.set_bsn(bsn);
  s.set_name(name);
  s.set_date_of_birth(dob);
  return s;
}

TEST(SubjectLookupTest, TheOfficerFindsOnePersonAcrossTheGatewayAndAgentLogs) {
  testing::TempDir dir;
  auto sink = std::make_shared<testing::CaptureSink>();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("subject", sink));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Region> region, Region::Create(dir.path(), SystemClock::Get()));
  std::filesystem::create_directories(dir.File("sink"));
  region->SetAgentConfigHook([&](const std::string&, agent::AgentConfig& c) {
    c.sink.folder = dir.File("sink");
    c.sink.retry_ms = 100;
  });
  ASSERT_OK(region->StartGateway());
  ASSERT_OK(region->StartAgent("politie"));
  const v1::Subject victim = Person(v1::SUBJECT_ROLE_VICTIM, Region::kBsn, kVictimName, "1990-01-01");
  const v1::Subject suspect = Person(v1::SUBJECT_ROLE_SUSPECTED_PERPETRATOR, kSuspectBsn, "", "");
  {
    ASSERT_OK_AND_ASSIGN(auto c, region->Coordinator());
    ASSERT_OK_AND_ASSIGN(v1::CaseResult opened, c->OpenCase("plan-van-aanpak", {victim, suspect}));
    const std::string case_id = opened.case_id();
    ASSERT_OK(c->Admit(case_id, "politie").status());
    ASSERT_OK_AND_ASSIGN(std::string request_id, c->SendRequest({case_id, "politie", {"politie-incidenten"},
                                                                 "plan-van-aanpak", {"S1", "S2"}, ""}));
    ASSERT_OK_AND_ASSIGN(Outcome answered, c->AwaitOutcome(request_id, kWaitMs));
    ASSERT_EQ(answered.kind, Outcome::Kind::kDelivered) << answered.refusal.reason();
    ASSERT_OK_AND_ASSIGN(client::PushInfo pushed, c->Push(testing::PlanPush(case_id, "politie"), kWaitMs));
    ASSERT_EQ(pushed.state, "received") << pushed.reason;
  }
  const std::string gateway_log = gateway::Gateway::AuditDir(region->gateway_config());
  const std::string agent_log = agent::Agent::AuditDir(region->AgentConfigFor("politie"));
  // The privacy officer works on copies; here the stopped region's folders.
  region->StopAgent("politie");
  region->StopGateway();
  const std::string key = region->pseudonym_key_path();
  const std::string out = dir.File("inzage.html");

  CliRun r = RunCli({"audit", "subject", "--bsn", Region::kBsn, "--pseudonym-key", key, "--out", out,
                        gateway_log, agent_log});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The victim is in the gateway's log (case opened, request .. delivery,
  // push) and the agent's own (its delivery, the push received).
  EXPECT_THAT(r.out, HasSubstr("verified log(s)"));
  std::string html = std::move(ReadFileBounded(out, 1 << 22)).value();
  for (const char* want : {"politie", "politie-incidenten", "veiligheidsplan", "plan-van-aanpak", "Informatie verstrekt",
                           "Informatie ontvangen door de partner", "Casus geopend", "c. Ontvangers"}) {
    EXPECT_THAT(html, HasSubstr(want));
  }
  for (const char* canary : {Region::kBsn, kVictimName, kSuspectBsn, ">S2<", ">S1<"}) {
    EXPECT_THAT(html, Not(HasSubstr(canary)));
    EXPECT_THAT(r.out + r.err, Not(HasSubstr(canary)));
  }
  // Both logs contributed.
  EXPECT_THAT(r.out, Not(HasSubstr(": 0 of")));
  if (const char* keep = std::getenv("KP_SUBJECT_SAMPLE_DIR"); keep != nullptr && *keep != '\0') {
    ASSERT_OK(WriteFileDurable(std::string(keep) + "/inzage-region.html", html, 0600, WriteMode::kReplace));
    std::cerr << r.out;
  }

  // By name and date of birth: the same person.
  std::filesystem::remove(out);
  r = RunCli({"audit", "subject", "--name", kVictimName, "--birth-date", "1990-01-01", "--pseudonym-key", key,
              "--out", out, gateway_log, agent_log});
  EXPECT_EQ(r.exit_code, 0) << r.err;

  // The suspect has no name and date of birth in the case: found by BSN; the
  // plan was about the victim only, so no push in their draft.
  std::filesystem::remove(out);
  r = RunCli({"audit", "subject", "--bsn", kSuspectBsn, "--pseudonym-key", key, "--out", out, gateway_log,
              agent_log});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  html = std::move(ReadFileBounded(out, 1 << 22)).value();
  EXPECT_THAT(html, HasSubstr("politie-incidenten"));
  EXPECT_THAT(html, Not(HasSubstr("Informatie ontvangen door de partner")));
  EXPECT_THAT(html, Not(HasSubstr(kVictimName)));

  // Someone in no case: nothing, no file.
  std::filesystem::remove(out);
  r = RunCli({"audit", "subject", "--bsn", "100000009", "--pseudonym-key", key, "--out", out, gateway_log, agent_log});
  EXPECT_EQ(r.exit_code, cli::kExitError);
  EXPECT_THAT(r.err, HasSubstr("is this the right key?"));
  EXPECT_FALSE(std::filesystem::exists(out));
  EXPECT_EQ(sink->Text().find(kVictimName), std::string::npos);
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("null"));
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp
