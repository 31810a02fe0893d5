// Pushes kept from the case's closure (issue 16 §2 and §4, docs/protocol.md
// §3.3 and §3.9), end to end with the real gateway and the police's real
// agent on CURVE sockets on 127.0.0.1: `ketenpoort send` runs as its own
// process with the region's policy in its configuration, so the plan goes
// under R-VT-PLAN-01 (90 days after closure) with retain_after_closure_ms;
// the sink gets that term; a longer term is refused by the agent; the
// agent's own copy goes when its retention ends (after the sink took it, or
// after a closure it was told of), and kept notices go after 90 days.
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

#include "agent/agent.h"
#include "agent/receiver.h"
#include "core/base/encoding.h"
#include "core/base/file_util.h"
#include "core/crypto/random.h"
#include "tests/testing/capture_sink.h"
#include "tests/testing/child_process.h"
#include "tests/testing/plan_push.h"
#include "tests/testing/region.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_time.h"

namespace kp {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

namespace v1 = ketenpoort::v1;
using client::Coordinator;
using client::PushSpec;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::IsOk;
using testing::Region;

using test::kDay;
using test::kWaitMs;
constexpr char kCanaryName[] = "CANARY-NAAM-Bewaren";
constexpr char kRecipient[] = "politie";

class PushRetentionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sink_ = std::make_shared<testing::CaptureSink>();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("push-retention", sink_));
    ASSERT_OK_AND_ASSIGN(region_, Region::Create(dir_.path(), SystemClock::Get()));
    sink_dir_ = dir_.File("sink");
    std::filesystem::create_directories(sink_dir_);
    region_->SetAgentConfigHook([this](const std::string&, agent::AgentConfig& c) {
      c.sink.folder = sink_dir_;
      c.sink.retry_ms = 100;
    });
    ASSERT_OK(region_->StartGateway());
    ASSERT_OK(region_->StartAgent(kRecipient));
    ASSERT_OK_AND_ASSIGN(auto c, region_->Coordinator());
    std::vector<v1::Subject> subjects(1);
    subjects[0].set_role(v1::SUBJECT_ROLE_VICTIM);
    subjects[0].set_bsn(Region::kBsn);
    subjects[0].set_name(kCanaryName);
    subjects[0].set_date_of_birth("1990-01-01");
    ASSERT_OK_AND_ASSIGN(v1::CaseResult opened, c->OpenCase("plan-van-aanpak", subjects));
    case_id_ = opened.case_id();
    ASSERT_OK(c->Admit(case_id_, kRecipient).status());
    ASSERT_OK(c->Admit(case_id_, "ggz").status());
  }

  void TearDown() override {
    region_.reset();
    if (HasFailure()) std::cerr << "log:\n" << sink_->Text();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("null"));
  }

  // The coordinator's client configuration as a file, naming the policy.
  std::string ConfigFile() {
    const client::ClientConfig c = region_->CoordinatorConfig(0);
    const std::string path = dir_.path() + "/client.yaml";
    std::ofstream(path) << "gateway:\n  endpoint: " << c.gateway_endpoint << "\n  card: " << c.gateway_card
                        << "\nidentity: " << c.identity << "\nenrolment_card: " << c.enrolment_card
                        << "\nregistry: " << c.registry << "\nstore: " << c.store
                        << "\npseudonym_key: " << c.pseudonym_key << "\npolicy: " << Region::PolicyPath() << "\n";
    return path;
  }

  std::string ContentFile() {
    const std::string path = dir_.path() + "/plan.json";
    std::ofstream(path) << R"({"categories": [{"category": "veiligheidsplan", "records": [{"subject_ref": "S1",
        "fields": {"veiligheidsafspraken": "geen contact zonder begeleiding", "evaluatiedatum": "2027-01-15"}}]}]})";
    return path;
  }

  testing::ProcessResult Send(std::vector<std::string> args) {
    args.insert(args.begin(), testing::BuildBinary("cli/ketenpoort"));
    auto r = testing::RunToEnd(args, dir_.path() + "/cli-" + std::to_string(++runs_) + ".log", 20'000);
    EXPECT_THAT(r, IsOk());
    return r.ok() ? *r : testing::ProcessResult{};
  }

  PushSpec Plan(int keep_days, bool from_closure) const {
    PushSpec spec = testing::PlanPush(case_id_, kRecipient, keep_days);
    spec.keep_from_closure = from_closure;
    return spec;
  }

  std::string ReceivedDir() const { return region_->AgentConfigFor(kRecipient).data_dir + "/received"; }

  // A receiver of its own on a copy of the agent's received/ folder, with
  // its own clock and log, for Purge (the running agent purges by the
  // system clock).
  struct OwnReceiver {
    std::unique_ptr<audit::LogWriter> log;
    std::unique_ptr<agent::Receiver> receiver;
    std::optional<agent::AgentParts> parts;
    std::string data_dir;
  };
  OwnReceiver CopyReceiver(const Clock& clock, const std::string& name) {
    OwnReceiver r;
    r.data_dir = dir_.File(name);
    std::filesystem::create_directories(r.data_dir);
    std::filesystem::copy(ReceivedDir(), r.data_dir + "/received", std::filesystem::copy_options::recursive);
    agent::AgentConfig config = region_->AgentConfigFor(kRecipient);
    std::vector<std::string> problems, report;
    r.parts = agent::LoadAgentParts(config, &problems, &report);
    EXPECT_TRUE(r.parts.has_value());
    const Identity& me = *r.parts->identity;
    auto signer = audit::LogSigner::Create("ketenpoort.test/agent-audit", me.signing().public_key,
                                           me.signing().secret_key.Clone());
    EXPECT_OK(signer.status());
    r.log = audit::LogWriter::Open(dir_.File(name + "-audit"), std::move(signer).value()).value();
    agent::ReceiverOptions options;
    options.data_dir = r.data_dir;
    options.purge_interval_ms = 0;
    r.receiver = agent::Receiver::Create(me, *r.parts->registry, r.parts->policy, *r.log, clock, options).value();
    return r;
  }

  static size_t Count(const std::string& dir, const std::string& ext) {
    size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir)) n += e.path().extension() == ext ? 1 : 0;
    return n;
  }

  testing::TempDir dir_;
  std::shared_ptr<testing::CaptureSink> sink_;
  std::unique_ptr<Region> region_;
  std::string case_id_;
  std::string sink_dir_;
  int runs_ = 0;
};

TEST_F(PushRetentionTest, TheSendCommandSendsThePlanKeptFromClosureAsThePolicySays) {
  const std::string config = ConfigFile();
  const std::string content = ContentFile();
  auto sent = Send({"send", case_id_, "--config", config, "--to", kRecipient, "--purpose", "plan-van-aanpak",
                    "--category", "veiligheidsplan", "--content", content, "--json"});
  ASSERT_EQ(sent.exit_code, 0) << sent.output;
  EXPECT_THAT(sent.output, HasSubstr("allowed by R-VT-PLAN-01"));
  EXPECT_THAT(sent.output, HasSubstr("keeps it at most 90 days after the case closes"));
  EXPECT_THAT(sent.output, HasSubstr("\"state\": \"received\""));
  // The sink got the term from closure, no date.
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(sink_dir_)) files.push_back(e.path().string());
  ASSERT_EQ(files.size(), 1u);
  ASSERT_OK_AND_ASSIGN(std::string text, ReadFileBounded(files[0], 1 << 20));
  auto j = nlohmann::json::parse(text);
  ASSERT_TRUE(j.contains("keep_until") && j.contains("keep_days_after_closure")) << text;
  EXPECT_TRUE(j["keep_until"].is_null());
  EXPECT_EQ(j["keep_days_after_closure"], 90);

  // Not allowed to the GGz: refused by the gateway, exit code 3.
  const std::string ggz_content = dir_.path() + "/ggz.json";
  std::ofstream(ggz_content) << R"({"categories": [{"category": "veiligheidsplan", "records": [{"subject_ref": "S1",
      "fields": {"veiligheidsafspraken": "x"}}]}]})";
  auto refused = Send({"send", case_id_, "--config", config, "--to", "ggz", "--purpose", "plan-van-aanpak",
                       "--category", "veiligheidsplan", "--content", ggz_content});
  EXPECT_EQ(refused.exit_code, 3) << refused.output;
  EXPECT_THAT(refused.output, HasSubstr("refused by"));

  auto listed = Send({"pushes", "--config", config, "--case", case_id_});
  EXPECT_EQ(listed.exit_code, 0) << listed.output;
  EXPECT_THAT(listed.output, HasSubstr("received by"));
  for (const auto* canary : {Region::kBsn, kCanaryName}) {
    EXPECT_THAT(sent.output + refused.output + listed.output, Not(HasSubstr(canary)));
    EXPECT_THAT(sink_->Text(), Not(HasSubstr(canary)));
  }
}

TEST_F(PushRetentionTest, ATermAfterClosureLongerThanThePolicysIsRefusedByTheAgent) {
  ASSERT_OK_AND_ASSIGN(auto c, region_->Coordinator());
  ASSERT_OK_AND_ASSIGN(client::PushInfo longer, c->Push(Plan(120, true), kWaitMs));
  EXPECT_EQ(longer.state, "refused");
  EXPECT_THAT(longer.reason, HasSubstr("longer than the policy's retention of 90 days"));
  ASSERT_OK_AND_ASSIGN(client::PushInfo within, c->Push(Plan(90, true), kWaitMs));
  EXPECT_EQ(within.state, "received") << within.reason;
}

TEST_F(PushRetentionTest, TheAgentsCopyGoesWhenItsRetentionEnds) {
  ASSERT_OK_AND_ASSIGN(auto c, region_->Coordinator());
  ASSERT_OK_AND_ASSIGN(client::PushInfo dated, c->Push(Plan(30, false), kWaitMs));
  ASSERT_EQ(dated.state, "received") << dated.reason;
  ASSERT_OK_AND_ASSIGN(client::PushInfo closure, c->Push(Plan(90, true), kWaitMs));
  ASSERT_EQ(closure.state, "received") << closure.reason;
  const std::string closure_hex = HexEncode(closure.push_id);
  ASSERT_TRUE(testing::WaitUntil(
      [&] { return std::filesystem::exists(ReceivedDir() + "/" + closure_hex + ".taken"); }, kWaitMs));
  const int64_t now = SystemClock::Get().NowMillis();

  // Taken by the sink: the dated copy goes at its date, the other 90 days
  // after the sink took it (the agent was not told of a closure).
  ManualClock clock(now);
  OwnReceiver taken = CopyReceiver(clock, "taken");
  EXPECT_EQ(taken.receiver->Purge().pushes, 0u);
  clock.Set(now + 31 * kDay);
  EXPECT_EQ(taken.receiver->Purge().pushes, 1u);
  EXPECT_TRUE(std::filesystem::exists(taken.data_dir + "/received/" + closure_hex + ".push"));
  clock.Set(now + 91 * kDay);
  EXPECT_EQ(taken.receiver->Purge().pushes, 1u);
  EXPECT_EQ(Count(taken.data_dir + "/received", ".push"), 0u);
  EXPECT_EQ(Count(taken.data_dir + "/received", ".keep"), 0u);
  EXPECT_EQ(Count(taken.data_dir + "/received", ".taken"), 0u);

  // Not taken by the sink: kept until the agent learns the case closed (a
  // WATCH_ENDED notice, casus-gesloten), then 90 days after the closure.
  ManualClock later(now);
  OwnReceiver waiting = CopyReceiver(later, "waiting");
  const std::string received = waiting.data_dir + "/received/";
  std::filesystem::remove(received + closure_hex + ".taken");
  std::filesystem::remove(received + HexEncode(dated.push_id) + ".push");
  later.Set(now + 400 * kDay);
  EXPECT_EQ(waiting.receiver->Purge().pushes, 0u);  // nobody said the case closed
  v1::CaseNotice closed;
  closed.set_kind(v1::NOTICE_KIND_WATCH_ENDED);
  closed.set_case_id(case_id_);
  closed.set_at_ms(now + 400 * kDay);
  closed.set_reason_code("casus-gesloten");
  ASSERT_OK(WriteFileDurable(received + HexEncode(NewMessageId()) + ".notice", closed.SerializeAsString(), 0600,
                             WriteMode::kReplace));
  // The notice is older than 90 days by this clock, so it goes; the closure
  // it told stays with the push.
  agent::Receiver::Purged first = waiting.receiver->Purge();
  EXPECT_EQ(first.pushes, 0u);
  EXPECT_EQ(first.notices, 1u);
  EXPECT_EQ(Count(waiting.data_dir + "/received", ".notice"), 0u);
  ASSERT_OK_AND_ASSIGN(std::string keep, ReadFileBounded(received + closure_hex + ".keep", 256));
  EXPECT_EQ(keep, "0 " + std::to_string(90 * kDay) + " " + std::to_string(now + 400 * kDay) + "\n");
  later.Set(now + 490 * kDay - 1);
  EXPECT_EQ(waiting.receiver->Purge().pushes, 0u);
  later.Set(now + 490 * kDay);
  EXPECT_EQ(waiting.receiver->Purge().pushes, 1u);
  EXPECT_EQ(Count(waiting.data_dir + "/received", ".push"), 0u);
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp
