// A policy change rolled across a running region (issue 18 §4): the real
// gateway serves a signed policy bundle (docs/formats.md §5), the real
// agents fetch it on connect or take it when the gateway offers it after a
// reload, and switch without a restart. Requests decided under the old
// policy and answered after the switch are answered (the agent checks them
// against the policy the decision names, which was in force when they were
// asked); requests after the switch are decided and answered under the new
// one. None is lost. A tampered bundle is refused and the one in force stays.
#include <spdlog/spdlog.h>

#include <chrono>
#include <thread>

#include "case/config_update.h"
#include "case/policy_bundle.h"
#include "core/audit/log_reader.h"
#include "core/base/file_util.h"
#include "core/crypto/sha256.h"
#include "tests/testing/capture_sink.h"
#include "tests/testing/region.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_time.h"

namespace kp {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

namespace v1 = ketenpoort::v1;
using client::Outcome;
using testing::Region;

using test::kWaitMs;

std::string PolicyText(const std::string& version) {
  std::string text = ReadFileBounded(Region::PolicyPath(), 1 << 20).value();
  if (version.empty()) return text;  // the exact file the agents were configured with
  const std::string from = "version: \"2026.1-example\"";
  size_t p = text.find(from);
  KP_CHECK(p != std::string::npos);
  text.replace(p, from.size(), "version: \"" + version + "\"");
  return text;
}

class PolicyRollTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sink_ = std::make_shared<testing::CaptureSink>();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("roll", sink_));
    ASSERT_OK_AND_ASSIGN(region_, Region::Create(dir_.path(), SystemClock::Get()));
    bundle_ = dir_.path() + "/policy-bundle";
    ASSERT_EQ(::mkdir(bundle_.c_str(), 0700), 0);
    ASSERT_OK(WriteFileDurable(bundle_ + "/hvb-2026.1.yaml", PolicyText(""), 0644, WriteMode::kReplace));
    ASSERT_OK(
        WriteFileDurable(bundle_ + "/hvb-2026.2.yaml", PolicyText("2026.2"), 0644, WriteMode::kReplace));
    const int64_t now = SystemClock::Get().NowMillis();
    ASSERT_OK(Sign({{"hvb-2026.1.yaml", now - 3'600'000}}, now));
    region_->gateway_config().policy_bundle = bundle_;
    region_->gateway_config().policy.clear();
    ASSERT_OK(region_->StartGateway());
  }

  void TearDown() override {
    region_.reset();
    if (HasFailure()) std::cerr << "log:\n" << sink_->Text();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("null"));
  }

  Status Sign(const std::vector<std::pair<std::string, int64_t>>& entries, int64_t now) {
    return cases::SignPolicyBundle(bundle_, region_->identity("enrolment-hvb").signing().secret_key,
                                   cases::kEnrolmentSigner, "hart-van-brabant", entries, now);
  }

  // The policy bundle serial `partner`'s agent keeps (data_dir/config/serials), once it reaches `serial`.
  bool AgentReaches(const std::string& partner, uint64_t serial) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kWaitMs);
    while (std::chrono::steady_clock::now() < deadline) {
      auto s = cases::LoadConfigSerials(region_->AgentConfigFor(partner).data_dir);
      if (s.ok() && s->policy >= serial) return s->policy == serial;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  std::vector<v1::AuditRecord> GatewayRecords() {
    std::vector<v1::AuditRecord> out;
    auto reader = audit::LogReader::Open(gateway::Gateway::AuditDir(region_->gateway_config()));
    EXPECT_OK(reader.status());
    if (!reader.ok()) return out;
    EXPECT_OK((*reader)->ForEachEntry([&](const audit::LogEntry& e) {
      out.push_back(e.record);
      return OkStatus();
    }));
    return out;
  }

  testing::TempDir dir_;
  std::shared_ptr<testing::CaptureSink> sink_;
  std::unique_ptr<Region> region_;
  std::string bundle_;
};

TEST_F(PolicyRollTest, APolicyChangeRollsAcrossTheRegionAndNoRequestIsLost) {
  // Both agents fetch bundle serial 1 on connect; OM goes offline again.
  ASSERT_OK(region_->StartAgent("om"));
  ASSERT_OK(region_->StartAgent("politie"));
  ASSERT_TRUE(AgentReaches("om", 1));
  ASSERT_TRUE(AgentReaches("politie", 1));
  region_->StopAgent("om");

  ASSERT_OK_AND_ASSIGN(auto c, region_->Coordinator());
  std::vector<v1::Subject> subjects(1);
  subjects[0].set_role(v1::SUBJECT_ROLE_VICTIM);
  subjects[0].set_bsn(Region::kBsn);
  subjects[0].set_date_of_birth("1990-01-01");
  ASSERT_OK_AND_ASSIGN(v1::CaseResult opened, c->OpenCase("plan-van-aanpak", subjects));
  const std::string case_id = opened.case_id();
  ASSERT_OK(c->Admit(case_id, "om").status());
  ASSERT_OK(c->Admit(case_id, "politie").status());

  // In flight across the switch: decided under 2026.1, held for the offline OM agent.
  std::vector<std::string> held;
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK_AND_ASSIGN(std::string id,
                         c->SendRequest({case_id, "om", {"om-voorwaarden"}, "plan-van-aanpak", {"S1"}, ""}));
    held.push_back(id);
  }
  ASSERT_EQ(c->AwaitOutcome(held.back(), 300).status().code(), StatusCode::kDeadlineExceeded);

  // The enrolment office signs serial 2: 2026.2 from now on. The gateway
  // reloads (SIGHUP) and offers it to the connected politie agent unasked.
  const int64_t switch_at = SystemClock::Get().NowMillis();
  ASSERT_OK(Sign({{"hvb-2026.1.yaml", switch_at - 3'600'000}, {"hvb-2026.2.yaml", switch_at}}, switch_at));
  region_->gateway()->RequestReload();
  ASSERT_TRUE(AgentReaches("politie", 2));

  // OM comes back under 2026.2 and answers what was decided under 2026.1.
  ASSERT_OK(region_->StartAgent("om"));
  for (const auto& id : held) {
    ASSERT_OK_AND_ASSIGN(Outcome o, c->AwaitOutcome(id, kWaitMs));
    EXPECT_EQ(o.kind, Outcome::Kind::kDelivered) << o.error.ToString();
  }
  EXPECT_TRUE(AgentReaches("om", 2));
  // Decided and answered under 2026.2.
  for (const std::string partner : {"politie", "om"}) {
    const std::string category = partner == "om" ? "om-voorwaarden" : "politie-incidenten";
    ASSERT_OK_AND_ASSIGN(std::string id,
                         c->SendRequest({case_id, partner, {category}, "plan-van-aanpak", {"S1"}, ""}));
    ASSERT_OK_AND_ASSIGN(Outcome o, c->AwaitOutcome(id, kWaitMs));
    EXPECT_EQ(o.kind, Outcome::Kind::kDelivered) << partner << ": " << o.error.ToString();
  }

  // The gateway's log: the bundle taken into use, and decisions under both versions.
  const std::string v1_sha = Sha256String(PolicyText(""));
  const std::string v2_sha = Sha256String(PolicyText("2026.2"));
  bool accepted = false;
  int decided_v1 = 0, decided_v2 = 0;
  for (const auto& r : GatewayRecords()) {
    if (r.event() == v1::AUDIT_EVENT_POLICY_BUNDLE_ACCEPTED && r.config().serial() == 2) accepted = true;
    if (r.event() == v1::AUDIT_EVENT_DECISION && r.decision().verdict() == v1::AUDIT_VERDICT_PERMIT) {
      if (r.decision().policy_sha256() == v1_sha) ++decided_v1;
      if (r.decision().policy_sha256() == v2_sha) ++decided_v2;
    }
  }
  EXPECT_TRUE(accepted);
  EXPECT_EQ(decided_v1, 3);
  EXPECT_EQ(decided_v2, 2);

  // A tampered bundle (a policy file changed after signing) is refused by
  // the gateway; serial 2 stays in force and is still served.
  ASSERT_OK(Sign({{"hvb-2026.1.yaml", switch_at - 3'600'000}, {"hvb-2026.2.yaml", switch_at}}, switch_at));
  ASSERT_OK(WriteFileDurable(bundle_ + "/hvb-2026.2.yaml", PolicyText("2026.2") + "\n# changed\n", 0644,
                             WriteMode::kReplace));
  region_->gateway()->RequestReload();
  bool refused = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kWaitMs);
  while (!refused && std::chrono::steady_clock::now() < deadline) {
    for (const auto& r : GatewayRecords()) refused = refused || r.event() == v1::AUDIT_EVENT_CONFIG_REFUSED;
    if (!refused) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(refused);
  ASSERT_OK_AND_ASSIGN(
      std::string id,
      c->SendRequest({case_id, "politie", {"politie-incidenten"}, "plan-van-aanpak", {"S1"}, ""}));
  ASSERT_OK_AND_ASSIGN(Outcome o, c->AwaitOutcome(id, kWaitMs));
  EXPECT_EQ(o.kind, Outcome::Kind::kDelivered) << o.error.ToString();
  EXPECT_TRUE(AgentReaches("politie", 2));

  // A new registry (serial 2, the same participants and roles) reaches the
  // agents and the coordinator's client the same way, without a restart.
  ASSERT_OK_AND_ASSIGN(
      Registry old_registry,
      Registry::Load(region_->registry_dir(), region_->identity("enrolment-hvb").signing().public_key));
  std::map<std::string, std::string> roles;
  for (const auto& [pid, e] : old_registry.entries()) {
    if (!e.role.empty()) roles[pid] = e.role;
  }
  ASSERT_OK(Registry::Sign(region_->registry_dir(), region_->identity("enrolment-hvb").signing().secret_key,
                           roles, old_registry.region(), SystemClock::Get().NowMillis()));
  region_->gateway()->RequestReload();
  bool agent_has_it = false;
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(kWaitMs);
  while (!agent_has_it && std::chrono::steady_clock::now() < until) {
    auto s = cases::LoadConfigSerials(region_->AgentConfigFor("politie").data_dir);
    agent_has_it = s.ok() && s->registry == 2;
    if (!agent_has_it) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(agent_has_it);
  ASSERT_OK_AND_ASSIGN(
      std::string after,
      c->SendRequest({case_id, "politie", {"politie-incidenten"}, "plan-van-aanpak", {"S1"}, ""}));
  ASSERT_OK_AND_ASSIGN(Outcome answered, c->AwaitOutcome(after, kWaitMs));
  EXPECT_EQ(answered.kind, Outcome::Kind::kDelivered) << answered.error.ToString();
  EXPECT_EQ(c->registry().serial(), 2u);  // offered unasked to the connected client
  // The client took the policy bundle the same way (case/config_update.h),
  // and shows with it what is in force.
  ASSERT_NE(c->policies(), nullptr);
  EXPECT_EQ(c->policies()->serial(), 2u);
  ASSERT_OK_AND_ASSIGN(auto client_policy, c->PolicyInForce());
  EXPECT_EQ(client_policy->version(), "2026.2");
  // A new client connecting fetches it from the gateway as well (it keeps it in its store folder).
  ASSERT_OK_AND_ASSIGN(auto fresh, region_->Coordinator());
  EXPECT_EQ(fresh->registry().serial(), 2u);  // its configured folder holds serial 2 too
  ASSERT_NE(fresh->policies(), nullptr);      // kept in its store folder (config/policy)
  EXPECT_EQ(fresh->policies()->serial(), 2u);
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp

namespace kp {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

// A bundle whose next policy takes effect in the future (docs/policy-language.md,
// "Effective-from"), fetched by the real agents: until that moment the old
// policy decides (a request only the new one allows is refused, one the old
// allows is answered); from then on the new one, without a reload. Every
// part of the region runs on one clock moved by hand, so the moment is
// passed exactly, without waiting for it.
class PolicyEffectiveFromTest : public ::testing::Test {
 protected:
  PolicyEffectiveFromTest() : clock_(SystemClock::Get().NowMillis()) {}

  void SetUp() override {
    sink_ = std::make_shared<testing::CaptureSink>();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("effective-from", sink_));
    ASSERT_OK_AND_ASSIGN(region_, Region::Create(dir_.path(), clock_));
    // The old policy: the police share incidents for a taxation only; the
    // new one (the example) also for the plan of approach.
    std::string old_policy = PolicyText("2026.1");
    const size_t rule = old_policy.find("- id: R-POL-01");
    ASSERT_NE(rule, std::string::npos);
    const std::string purposes = "purposes: [veiligheidstaxatie, plan-van-aanpak]";
    const size_t p = old_policy.find(purposes, rule);
    ASSERT_NE(p, std::string::npos);
    old_policy.replace(p, purposes.size(), "purposes: [veiligheidstaxatie]");
    const std::string bundle = dir_.path() + "/policy-bundle";
    ASSERT_EQ(::mkdir(bundle.c_str(), 0700), 0);
    ASSERT_OK(WriteFileDurable(bundle + "/hvb-old.yaml", old_policy, 0644, WriteMode::kReplace));
    ASSERT_OK(WriteFileDurable(bundle + "/hvb-new.yaml", PolicyText("2026.2"), 0644, WriteMode::kReplace));
    const int64_t now = clock_.NowMillis();
    switch_at_ = now + 10'000;
    ASSERT_OK(cases::SignPolicyBundle(
        bundle, region_->identity("enrolment-hvb").signing().secret_key, cases::kEnrolmentSigner,
        "hart-van-brabant", {{"hvb-old.yaml", now - 3'600'000}, {"hvb-new.yaml", switch_at_}}, now));
    new_sha_ = Sha256String(PolicyText("2026.2"));
    region_->gateway_config().policy_bundle = bundle;
    region_->gateway_config().policy.clear();
    ASSERT_OK(region_->StartGateway());
  }

  void TearDown() override {
    region_.reset();
    if (HasFailure()) std::cerr << "log:\n" << sink_->Text();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("null"));
  }

  bool AgentHasBundle(const std::string& partner) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kWaitMs);
    while (std::chrono::steady_clock::now() < deadline) {
      auto s = cases::LoadConfigSerials(region_->AgentConfigFor(partner).data_dir);
      if (s.ok() && s->policy == 1) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  Result<Outcome> Ask(client::Coordinator& c, const std::string& partner, const std::string& category) {
    KP_ASSIGN_OR_RETURN(std::string id,
                        c.SendRequest({case_id_, partner, {category}, "plan-van-aanpak", {"S1"}, ""}));
    return c.AwaitOutcome(id, kWaitMs);
  }

  ManualClock clock_;
  testing::TempDir dir_;
  std::shared_ptr<testing::CaptureSink> sink_;
  std::unique_ptr<Region> region_;
  int64_t switch_at_ = 0;
  std::string new_sha_;
  std::string case_id_;
};

TEST_F(PolicyEffectiveFromTest, TheOldPolicyDecidesUntilTheNewOnesMomentAndTheNewOneAfter) {
  ASSERT_OK(region_->StartAgent("politie"));
  ASSERT_OK(region_->StartAgent("om"));
  ASSERT_TRUE(AgentHasBundle("politie"));
  ASSERT_TRUE(AgentHasBundle("om"));
  ASSERT_OK_AND_ASSIGN(auto c, region_->Coordinator());
  std::vector<v1::Subject> subjects(1);
  subjects[0].set_role(v1::SUBJECT_ROLE_VICTIM);
  subjects[0].set_bsn(Region::kBsn);
  subjects[0].set_date_of_birth("1990-01-01");
  ASSERT_OK_AND_ASSIGN(v1::CaseResult opened, c->OpenCase("plan-van-aanpak", subjects));
  case_id_ = opened.case_id();
  ASSERT_OK(c->Admit(case_id_, "om").status());
  ASSERT_OK(c->Admit(case_id_, "politie").status());

  // Before the moment: the old policy.
  ASSERT_OK_AND_ASSIGN(Outcome only_new, Ask(*c, "politie", "politie-incidenten"));
  EXPECT_EQ(only_new.kind, Outcome::Kind::kRefused) << "the new policy decided before its effective-from";
  ASSERT_OK_AND_ASSIGN(Outcome old_allows, Ask(*c, "om", "om-voorwaarden"));
  EXPECT_EQ(old_allows.kind, Outcome::Kind::kDelivered) << old_allows.error.ToString();

  // The moment passes (every part of the region reads this clock).
  clock_.Set(switch_at_ + 1'000);
  ASSERT_OK_AND_ASSIGN(Outcome now_allowed, Ask(*c, "politie", "politie-incidenten"));
  EXPECT_EQ(now_allowed.kind, Outcome::Kind::kDelivered) << now_allowed.error.ToString();
  ASSERT_OK_AND_ASSIGN(Outcome still, Ask(*c, "om", "om-voorwaarden"));
  EXPECT_EQ(still.kind, Outcome::Kind::kDelivered) << still.error.ToString();

  // The gateway's log: the switch at its effective-from, and the answered
  // police request decided under the new policy.
  auto reader = audit::LogReader::Open(gateway::Gateway::AuditDir(region_->gateway_config()));
  ASSERT_OK(reader.status());
  bool switched = false;
  int permits_new = 0;
  ASSERT_OK((*reader)->ForEachEntry([&](const audit::LogEntry& e) {
    if (e.record.event() == v1::AUDIT_EVENT_POLICY_LOADED &&
        e.record.reason().find("in force from its effective-from time") != std::string::npos) {
      switched = true;
    }
    if (e.record.event() == v1::AUDIT_EVENT_DECISION &&
        e.record.decision().verdict() == v1::AUDIT_VERDICT_PERMIT &&
        e.record.decision().policy_sha256() == new_sha_) {
      ++permits_new;
    }
    return OkStatus();
  }));
  EXPECT_TRUE(switched);
  EXPECT_EQ(permits_new, 2);
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp
