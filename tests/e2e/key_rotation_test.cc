// End to end: an agent's keys rotate (docs/formats.md §2.4) while requests
// flow, with the real gateway, the real politie agent and the real client on
// CURVE sockets on 127.0.0.1. The next key set is made beside the old one, the
// enrolment office signs a registry listing both cards, the gateway and the
// agent take it (restarts: how a registry is taken without one is issue 18's
// registry distribution), requests are now sealed to the new card and opened
// with the agent's key ring while it still signs with the old key. No
// request is lost. Then the whole cycle with `keygen --activate`: the agent
// restarts under its new key and its audit log goes on through a key
// handover that verifies end to end. An agent whose only card has expired is
// refused at start with a message that says so.
#include <chrono>
#include <filesystem>
#include <set>
#include <sstream>

#include "agent/kept_answers.h"
#include "cli/cli_context.h"
#include "core/audit/key_handover.h"
#include "core/audit/log_reader.h"
#include "core/audit/log_verifier.h"
#include "core/base/file_util.h"
#include "core/identity/registry.h"
#include "gateway/backup.h"
#include "tests/testing/cli_run.h"
#include "tests/testing/region.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_time.h"

namespace kp {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

namespace v1 = ketenpoort::v1;
using client::Coordinator;
using client::Outcome;
using testing::IsOk;
using testing::Region;
using testing::StatusIs;

using test::kWaitMs;
constexpr char kAgent[] = "politie-agent";

using testing::CliRun;
using testing::RunCli;

class KeyRotationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(region_, Region::Create(dir_.path(), SystemClock::Get()));
    const Identity& enrolment = region_->identity("enrolment-hvb");
    ASSERT_OK_AND_ASSIGN(Registry reg,
                         Registry::Load(region_->registry_dir(), enrolment.signing().public_key));
    for (const auto& [id, e] : reg.entries()) {
      if (!e.role.empty()) roles_[id] = e.role;
    }
    ASSERT_OK(region_->StartGateway());
    ASSERT_OK(region_->StartAgent("politie"));
  }

  std::unique_ptr<Coordinator> Connect() {
    auto c = region_->Coordinator();
    EXPECT_THAT(c, IsOk());
    return c.ok() ? std::move(c).value() : nullptr;
  }

  std::string OpenCase(Coordinator& c) {
    std::vector<v1::Subject> subjects(1);
    subjects[0].set_role(v1::SUBJECT_ROLE_VICTIM);
    subjects[0].set_bsn(Region::kBsn);
    auto opened = c.OpenCase("plan-van-aanpak", subjects);
    EXPECT_THAT(opened, IsOk());
    if (!opened.ok()) return "";
    EXPECT_OK(c.Admit(opened->case_id(), "politie").status());
    return opened->case_id();
  }

  Result<std::string> Send(Coordinator& c, const std::string& case_id) {
    return c.SendRequest({case_id, "politie", {"politie-incidenten"}, "plan-van-aanpak", {"S1"}, ""});
  }

  // The enrolment office signs the registry folder again, keeping the roles.
  Status ReSign(int64_t now_ms) {
    const Identity& enrolment = region_->identity("enrolment-hvb");
    return Registry::Sign(region_->registry_dir(), enrolment.signing().secret_key, roles_, "hart-van-brabant",
                          now_ms);
  }

  std::string KeyFile(std::string_view slot, bool card) const {
    return card ? CardFilePath(region_->keys_dir(), kAgent, slot)
                : IdentityFilePath(region_->keys_dir(), kAgent, slot);
  }

  testing::TempDir dir_;
  std::unique_ptr<Region> region_;
  std::map<std::string, std::string> roles_;
};

TEST_F(KeyRotationTest, AnAgentRotatesItsKeysWhileRequestsFlowAndNoneIsLost) {
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  const std::string case_id = OpenCase(*c);
  std::vector<std::string> sent;
  auto send_some = [&](Coordinator& via, int n) {
    for (int i = 0; i < n; ++i) {
      auto id = Send(via, case_id);
      ASSERT_THAT(id, IsOk());
      sent.push_back(*id);
    }
  };
  auto await = [&](Coordinator& via, size_t i) {
    auto o = via.AwaitOutcome(sent[i], kWaitMs);
    if (o.status().code() == StatusCode::kDeadlineExceeded &&
        o.status().message().find("not accepted") != std::string::npos) {
      // Sent just as the gateway stopped and never confirmed: the client sends
      // it again, as `ketenpoort request --resend` does (protocol §6.1).
      ASSERT_OK(via.Resend(sent[i]));
      o = via.AwaitOutcome(sent[i], kWaitMs);
    }
    ASSERT_THAT(o, IsOk()) << "request " << i;
    EXPECT_EQ(o->kind, Outcome::Kind::kDelivered)
        << "request " << i << o->refusal.reason() << o->error.ToString();
  };
  send_some(*c, 3);

  // 1. keygen --rotate: the next key set beside the active one.
  const int64_t now = SystemClock::Get().NowMillis();
  ASSERT_OK_AND_ASSIGN(Identity next, Identity::Generate(kAgent, ParticipantKind::kAgent, "politie", now));
  ASSERT_OK(WriteIdentityFiles(region_->keys_dir(), next, nullptr, now + 365 * kMillisPerDay, "next"));
  send_some(*c, 3);
  for (size_t i = 0; i < 6; ++i) await(*c, i);

  // 2. The enrolment office lists both cards; the agent and the gateway take
  // the registry (restarts) while requests are in flight.
  std::filesystem::copy_file(KeyFile("next", true), CardFilePath(region_->registry_dir(), kAgent, "next"));
  ASSERT_OK(ReSign(now));
  region_->StopAgent("politie");
  send_some(*c, 3);  // 6-8: held by the gateway for the agent, sealed to the old card
  ASSERT_THAT(c->AwaitOutcome(sent[8], 300), StatusIs(StatusCode::kDeadlineExceeded));  // accepted, held
  c.reset();
  region_->StopGateway();
  ASSERT_OK(region_->StartGateway());
  ASSERT_OK(region_->StartAgent("politie"));  // still the old key, with the next one in its ring
  // A client that loads the new registry seals to the new card (newest).
  auto c2 = Connect();
  ASSERT_NE(c2, nullptr);
  send_some(*c2, 3);  // 9-11
  // The agent stops and starts again during the overlap: what is sent
  // meanwhile waits at the gateway, sealed to the new card.
  region_->StopAgent("politie");
  send_some(*c2, 2);  // 12-13
  ASSERT_OK(region_->StartAgent("politie"));
  send_some(*c2, 1);  // 14
  for (size_t i = 9; i < sent.size(); ++i) await(*c2, i);
  // 6-8 were answered while no client was connected: they come to the inbox.
  std::set<std::string> missing(sent.begin() + 6, sent.begin() + 9);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(2 * kWaitMs);
  while (!missing.empty() && std::chrono::steady_clock::now() < deadline) {
    ASSERT_OK_AND_ASSIGN(auto outcomes, c2->FetchInbox(case_id));
    for (const auto& o : outcomes) {
      EXPECT_EQ(o.kind, Outcome::Kind::kDelivered) << o.error.ToString();
      missing.erase(o.request_id);
    }
    for (auto it = missing.begin(); it != missing.end();) {
      auto r = c2->store().GetRequest(*it);
      it = r.ok() && r->has_value() && (*r)->state == client::RequestState::kDelivered ? missing.erase(it)
                                                                                       : ++it;
    }
  }
  EXPECT_TRUE(missing.empty()) << missing.size() << " requests sent across the registry change were lost";
  EXPECT_EQ(sent.size(), 15u);
  // Step 3, keygen --activate, and the restart after it: the next test.
}

// The whole cycle: rotate, overlap (both cards listed), `keygen --activate`
// (the real command), the agent restarts and signs with the new key,
// exchanges go on, and the agent's audit log goes on across the key change:
// it verifies end to end through its key handover, pinned to the new key (the
// registry's card now) or to the old one; a changed handover is refused.
TEST_F(KeyRotationTest, AfterActivationTheAgentRestartsAndItsLogVerifiesAcrossTheKeyHandover) {
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  const std::string case_id = OpenCase(*c);
  auto exchange = [&](Coordinator& via, int n) {
    for (int i = 0; i < n; ++i) {
      ASSERT_OK_AND_ASSIGN(std::string id, Send(via, case_id));
      ASSERT_OK_AND_ASSIGN(Outcome o, via.AwaitOutcome(id, kWaitMs));
      EXPECT_EQ(o.kind, Outcome::Kind::kDelivered) << o.refusal.reason() << o.error.ToString();
    }
  };
  exchange(*c, 2);
  const Identity old_keys = std::move(Identity::LoadFile(KeyFile("", false))).value();

  // 1-2. The next key set, and a registry listing both cards.
  CliRun rotated =
      RunCli({"keygen", "--rotate", "--id", kAgent, "--dir", region_->keys_dir(), "--valid-days", "30"});
  ASSERT_EQ(rotated.exit_code, cli::kExitOk) << rotated.err;
  std::filesystem::copy_file(KeyFile("next", true), CardFilePath(region_->registry_dir(), kAgent, "next"));
  ASSERT_OK(ReSign(SystemClock::Get().NowMillis()));
  c.reset();
  region_->StopAgent("politie");
  region_->StopGateway();
  ASSERT_OK(region_->StartGateway());
  ASSERT_OK(region_->StartAgent("politie"));
  c = Connect();
  ASSERT_NE(c, nullptr);
  exchange(*c, 2);  // sealed to the new card, answered under the old key

  // 3. keygen --activate; the agent restarts with the new key.
  CliRun activated = RunCli({"keygen", "--activate", "--id", kAgent, "--dir", region_->keys_dir()});
  ASSERT_EQ(activated.exit_code, cli::kExitOk) << activated.err;
  region_->StopAgent("politie");
  ASSERT_OK(region_->StartAgent("politie"));  // before the fix: "created with another key"
  exchange(*c, 3);
  // A second restart: the log is the new key's now, no handover again.
  region_->StopAgent("politie");
  ASSERT_OK(region_->StartAgent("politie"));
  exchange(*c, 1);
  region_->StopAgent("politie");

  const Identity new_keys = std::move(Identity::LoadFile(KeyFile("", false))).value();
  ASSERT_NE(new_keys.signing().public_key, old_keys.signing().public_key);
  agent::AgentConfig config = region_->AgentConfigFor("politie");
  const std::string log_dir = agent::Agent::AuditDir(config);
  const std::string origin = config.log_origin.empty() ? "ketenpoort.politie/agent-audit" : config.log_origin;
  auto verify = [&](const Identity& pinned) {
    audit::VerifyOptions options;
    options.key = std::move(audit::MakeVerifierKey(origin, pinned.signing().public_key)).value();
    return audit::VerifyLog(log_dir, options);
  };
  for (const Identity* pinned : {&new_keys, &old_keys}) {
    audit::VerifyReport rep = verify(*pinned);
    EXPECT_THAT(rep.status, IsOk());
    EXPECT_EQ(rep.key_handovers, 1u);
    EXPECT_GT(rep.records, 8u);  // the agent's records before and after the handover
  }
  // `ketenpoort audit verify` on the folder (its own log.vkey: the new key).
  CliRun verified = RunCli({"audit", "verify", log_dir});
  EXPECT_EQ(verified.exit_code, cli::kExitOk) << verified.err;
  EXPECT_THAT(verified.out, ::testing::HasSubstr("key handover"));

  // 4. The enrolment office retires the old card into the registry's
  // archive (§3, `retired:`) and signs again: the answers the agent signed
  // with its old key, kept in the coordinator's store, still verify when read
  // again; without the archive they would not.
  ASSERT_OK_AND_ASSIGN(auto stored, c->store().Fragments(case_id));
  ASSERT_EQ(stored.size(), 8u);
  c.reset();
  std::filesystem::rename(CardFilePath(region_->registry_dir(), kAgent),
                          CardFilePath(region_->registry_dir(), kAgent, "retired-1"));
  ASSERT_OK(ReSign(SystemClock::Get().NowMillis()));
  auto read_all = [&](Coordinator& via) {
    int ok = 0;
    for (const auto& f : stored) ok += via.ReadFragment(f).ok() ? 1 : 0;
    return ok;
  };
  c = Connect();
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(read_all(*c), 8) << "answers signed with the retired key no longer verify";
  c.reset();
  std::filesystem::remove(CardFilePath(region_->registry_dir(), kAgent, "retired-1"));
  ASSERT_OK(ReSign(SystemClock::Get().NowMillis()));
  c = Connect();
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(read_all(*c), 4) << "without the archive only the new key's answers verify";
  c.reset();

  // A changed handover is refused.
  const std::string handover = log_dir + "/handovers/" + audit::HandoverFileName(0);
  ASSERT_OK_AND_ASSIGN(std::string good, ReadFileBounded(handover, 65536));
  std::string bad = good;
  bad[bad.find('\n') + 1] ^= 0x01;  // the size line
  ASSERT_OK(WriteFileDurable(handover, bad, 0600, WriteMode::kReplace));
  EXPECT_FALSE(verify(new_keys).status.ok());
  ASSERT_OK(WriteFileDurable(handover, good.substr(0, good.size() / 2), 0600, WriteMode::kReplace));
  EXPECT_FALSE(verify(new_keys).status.ok());
  CliRun refused = RunCli({"audit", "verify", log_dir});
  EXPECT_NE(refused.exit_code, cli::kExitOk);
  ASSERT_OK(WriteFileDurable(handover, good, 0600, WriteMode::kReplace));
  EXPECT_THAT(verify(new_keys).status, IsOk());
}

// The gateway's own keys rotate (docs/operations.md, "Key rotation", the
// gateway): `keygen --rotate`, a registry listing both gateway cards (the
// gateway and the agent restart to take it), exchanges flow; `keygen
// --activate` and a gateway restart: its log is handed over to the new key,
// the running agent finds the gateway under its new card (the registry's
// other card) and takes the receipts' checkpoints signed by the new key with
// no fork alarm, exchanges go on, and the gateway's log (and a backup of it,
// restored) verifies across the handover.
TEST_F(KeyRotationTest, TheGatewayRotatesItsKeysAndAgentsFollowItsLogAcrossTheHandover) {
  constexpr char kGateway[] = "gateway";
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  const std::string case_id = OpenCase(*c);
  auto exchange = [&](Coordinator& via, int n) {
    for (int i = 0; i < n; ++i) {
      ASSERT_OK_AND_ASSIGN(std::string id, Send(via, case_id));
      ASSERT_OK_AND_ASSIGN(Outcome o, via.AwaitOutcome(id, kWaitMs));
      EXPECT_EQ(o.kind, Outcome::Kind::kDelivered) << o.refusal.reason() << o.error.ToString();
    }
  };
  exchange(*c, 2);
  const Identity old_keys =
      std::move(Identity::LoadFile(IdentityFilePath(region_->keys_dir(), kGateway))).value();

  // 1-2. The gateway's next key set; the registry lists both its cards.
  CliRun rotated =
      RunCli({"keygen", "--rotate", "--id", kGateway, "--dir", region_->keys_dir(), "--valid-days", "30"});
  ASSERT_EQ(rotated.exit_code, cli::kExitOk) << rotated.err;
  std::filesystem::copy_file(CardFilePath(region_->keys_dir(), kGateway, "next"),
                             CardFilePath(region_->registry_dir(), kGateway, "next"));
  ASSERT_OK(ReSign(SystemClock::Get().NowMillis()));
  c.reset();
  region_->StopAgent("politie");
  region_->StopGateway();
  ASSERT_OK(region_->StartGateway());
  ASSERT_OK(region_->StartAgent("politie"));
  c = Connect();
  ASSERT_NE(c, nullptr);
  exchange(*c, 2);  // still under the old key

  // 3. keygen --activate; the gateway restarts under its new key, the agent
  // runs on (its pinned card is the old one).
  CliRun activated = RunCli({"keygen", "--activate", "--id", kGateway, "--dir", region_->keys_dir()});
  ASSERT_EQ(activated.exit_code, cli::kExitOk) << activated.err;
  c.reset();
  region_->StopGateway();
  ASSERT_OK(region_->StartGateway());  // before: "created with another key"
  c = Connect();                       // the client's pinned card: the new one
  ASSERT_NE(c, nullptr);
  exchange(*c, 3);
  // Again: no second handover.
  c.reset();
  region_->StopGateway();
  ASSERT_OK(region_->StartGateway());
  c = Connect();
  ASSERT_NE(c, nullptr);
  exchange(*c, 1);
  c.reset();
  region_->StopAgent("politie");
  region_->StopGateway();

  // The agent took every receipt (none refused, no answer waits for one).
  agent::AgentConfig agent_config = region_->AgentConfigFor("politie");
  ASSERT_OK_AND_ASSIGN(auto kept, agent::KeptAnswers::Open(agent_config.data_dir + "/answers.db"));
  EXPECT_EQ(kept->Count().value_or(-1), 0);
  kept.reset();
  ASSERT_OK_AND_ASSIGN(auto reader, audit::LogReader::Open(agent::Agent::AuditDir(agent_config)));
  int refused_receipts = 0;
  ASSERT_OK(reader->ForEachEntry([&](const audit::LogEntry& e) {
    if (e.record.event() == v1::AUDIT_EVENT_REFUSED &&
        e.record.reason().find("gateway receipt refused") != std::string::npos) {
      ++refused_receipts;
      ADD_FAILURE() << e.record.reason();
    }
    return OkStatus();
  }));
  EXPECT_EQ(refused_receipts, 0);

  // The gateway's log verifies across its handover, pinned to either key.
  const Identity new_keys =
      std::move(Identity::LoadFile(IdentityFilePath(region_->keys_dir(), kGateway))).value();
  ASSERT_NE(new_keys.signing().public_key, old_keys.signing().public_key);
  const gateway::GatewayConfig& gw = region_->gateway_config();
  const std::string log_dir = gw.data_dir + "/audit";
  auto verify = [&](const std::string& dir, const Identity& pinned) {
    audit::VerifyOptions options;
    options.key = std::move(audit::MakeVerifierKey(gw.log_origin, pinned.signing().public_key)).value();
    return audit::VerifyLog(dir, options);
  };
  for (const Identity* pinned : {&new_keys, &old_keys}) {
    audit::VerifyReport rep = verify(log_dir, *pinned);
    EXPECT_THAT(rep.status, IsOk());
    EXPECT_EQ(rep.key_handovers, 1u);
  }
  CliRun verified = RunCli({"audit", "verify", log_dir});
  EXPECT_EQ(verified.exit_code, cli::kExitOk) << verified.err;
  EXPECT_THAT(verified.out, ::testing::HasSubstr("key handover"));

  // A backup holds the handover, and the restored log keeps its key chain.
  const std::string backup = dir_.path() + "/backup";
  ASSERT_OK(gateway::MakeBackup(gw, backup).status());
  EXPECT_TRUE(std::filesystem::exists(backup + "/audit/handovers/" + audit::HandoverFileName(0)));
  ASSERT_OK(gateway::RestoreBackup(gw, backup, /*force=*/true).status());
  audit::VerifyReport restored = verify(log_dir, old_keys);
  EXPECT_THAT(restored.status, IsOk());
  EXPECT_EQ(restored.key_handovers, 1u);
}

TEST_F(KeyRotationTest, AnAgentWhoseOnlyCardExpiredIsRefusedWithAClearMessage) {
  region_->StopAgent("politie");
  const int64_t now = SystemClock::Get().NowMillis();
  ASSERT_OK_AND_ASSIGN(Identity short_lived, Identity::Generate(kAgent, ParticipantKind::kAgent, "politie",
                                                                now - 10 * kMillisPerDay));
  ASSERT_EQ(::unlink(KeyFile("", false).c_str()), 0);
  ASSERT_EQ(::unlink(KeyFile("", true).c_str()), 0);
  ASSERT_OK(WriteIdentityFiles(region_->keys_dir(), short_lived, nullptr, now - kMillisPerDay));
  ASSERT_OK(WriteFileDurable(CardFilePath(region_->registry_dir(), kAgent),
                             short_lived.MakeCard(now - kMillisPerDay).ToYaml(), 0644, WriteMode::kReplace));
  ASSERT_OK(ReSign(now - 2 * kMillisPerDay));  // signed while the card was valid
  Status s = region_->StartAgent("politie");
  EXPECT_THAT(s, StatusIs(StatusCode::kFailedPrecondition, "expired on"));
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp
