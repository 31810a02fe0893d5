// A partner receives (issue 16 §2, docs/protocol.md §3.9), end to end with
// the real gateway and a real agent on CURVE sockets on 127.0.0.1: the
// casusregisseur sends the veiligheidsplan; the gateway decides it by the
// policy (R-VT-PLAN-01), audits and forwards it; the agent verifies it,
// keeps it, hands it to its sink folder, records it and confirms; a push the
// policy does not allow is refused by the gateway, one with a field the
// policy does not allow by the agent, and a forged or tampered push
// authorisation never gets through the agent.
#include <spdlog/spdlog.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>

#include "agent/agent.h"
#include "agent/agent_check.h"
#include "agent/inbox_command.h"
#include "agent/receiver.h"
#include "case/policy_bundle.h"
#include "core/audit/log_reader.h"
#include "core/base/encoding.h"
#include "core/base/file_util.h"
#include "core/envelope/envelope.h"
#include "core/envelope/sealed.h"
#include "tests/testing/capture_sink.h"
#include "tests/testing/region.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_time.h"

namespace kp {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

namespace v1 = ketenpoort::v1;
using client::Coordinator;
using client::PushInfo;
using client::PushSpec;
using testing::IsOk;
using testing::Region;

using test::kWaitMs;
constexpr char kCanaryName[] = "CANARY-NAAM-Ontvanger";
constexpr char kRecipient[] = "politie";

class PushTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sink_ = std::make_shared<testing::CaptureSink>();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("push", sink_));
    ASSERT_OK_AND_ASSIGN(region_, Region::Create(dir_.path(), SystemClock::Get()));
    sink_dir_ = dir_.File("sink");
    std::filesystem::create_directories(sink_dir_);
    region_->SetAgentConfigHook([this](const std::string&, agent::AgentConfig& c) {
      c.sink.folder = sink_dir_;
      c.sink.retry_ms = 100;
      if (only_receives_) c.sources.clear();
    });
    ASSERT_OK(region_->StartGateway());
    ASSERT_OK(region_->StartAgent(kRecipient));
    ASSERT_OK_AND_ASSIGN(coordinator_, region_->Coordinator());
    std::vector<v1::Subject> subjects(1);
    subjects[0].set_role(v1::SUBJECT_ROLE_VICTIM);
    subjects[0].set_bsn(Region::kBsn);
    subjects[0].set_name(kCanaryName);
    subjects[0].set_date_of_birth("1990-01-01");
    ASSERT_OK_AND_ASSIGN(v1::CaseResult opened, coordinator_->OpenCase("plan-van-aanpak", subjects));
    case_id_ = opened.case_id();
    ASSERT_OK(coordinator_->Admit(case_id_, kRecipient).status());
    ASSERT_OK(coordinator_->Admit(case_id_, "ggz").status());
  }

  void TearDown() override {
    coordinator_.reset();
    region_.reset();
    if (HasFailure()) std::cerr << "log:\n" << sink_->Text();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("null"));
  }

  PushSpec Plan(const std::string& to, const std::string& extra_field = "") const {
    PushSpec spec;
    spec.case_id = case_id_;
    spec.to_partner = to;
    spec.purpose = "plan-van-aanpak";
    auto* cat = spec.content.add_categories();
    cat->set_category("veiligheidsplan");
    auto* rec = cat->add_records();
    rec->set_subject_ref("S1");
    auto add = [&](const std::string& f, const std::string& v) {
      auto* fv = rec->add_values();
      fv->set_field(f);
      fv->set_value(v);
    };
    add("veiligheidsafspraken", "geen contact zonder begeleiding");
    add("verantwoordelijke-partner", "politie");
    add("evaluatiedatum", "2027-01-15");
    if (!extra_field.empty()) add(extra_field, "niet toegestaan");
    spec.keep_days = 30;
    return spec;
  }

  std::string AgentDataDir() const { return region_->AgentConfigFor(kRecipient).data_dir; }

  // A receiver of its own beside the running agent (as the responder hands
  // it what verified as the gateway's), on `data_dir`, with a log of its own.
  struct OwnReceiver {
    std::unique_ptr<audit::LogWriter> log;
    std::unique_ptr<agent::Receiver> receiver;
    std::optional<agent::AgentParts> parts;
  };
  OwnReceiver MakeReceiver(const std::string& data_dir) {
    OwnReceiver r;
    agent::AgentConfig config = region_->AgentConfigFor(kRecipient);
    std::vector<std::string> problems, report;
    r.parts = agent::LoadAgentParts(config, &problems, &report);
    EXPECT_TRUE(r.parts.has_value());
    const Identity& me = *r.parts->identity;
    auto signer = audit::LogSigner::Create("ketenpoort.test/agent-audit", me.signing().public_key,
                                           me.signing().secret_key.Clone());
    EXPECT_OK(signer.status());
    r.log = audit::LogWriter::Open(dir_.File("own-audit-" + std::to_string(++receivers_)),
                                   std::move(signer).value())
                .value();
    agent::ReceiverOptions options;
    options.data_dir = data_dir;
    std::filesystem::create_directories(options.data_dir);
    r.receiver =
        agent::Receiver::Create(me, *r.parts->registry, r.parts->policy, *r.log, SystemClock::Get(), options)
            .value();
    return r;
  }

  bool only_receives_ = false;
  int receivers_ = 0;

  testing::TempDir dir_;
  std::shared_ptr<testing::CaptureSink> sink_;
  std::unique_ptr<Region> region_;
  std::unique_ptr<Coordinator> coordinator_;
  std::string case_id_;
  std::string sink_dir_;
};

TEST_F(PushTest, ThePlanArrivesInTheSinkFolder) {
  ASSERT_OK_AND_ASSIGN(PushInfo sent, coordinator_->Push(Plan(kRecipient), kWaitMs));
  EXPECT_EQ(sent.state, "received") << sent.reason;
  EXPECT_EQ(sent.by, std::string(kRecipient) + "-agent");
  const std::string file = sink_dir_ + "/" + HexEncode(sent.push_id) + ".json";
  ASSERT_OK_AND_ASSIGN(std::string json, ReadFileBounded(file, 1 << 20));
  EXPECT_NE(json.find("geen contact zonder begeleiding"), std::string::npos);
  EXPECT_NE(json.find(Region::kBsn), std::string::npos);  // the sink gets the identifiers, to file it
  EXPECT_NE(json.find("R-VT-PLAN-01"), std::string::npos);
  ASSERT_OK_AND_ASSIGN(auto items, agent::Receiver::List(AgentDataDir()));
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].case_id, case_id_);
  EXPECT_TRUE(items[0].taken);
  // The kept copy is sealed: no identifier or content in the clear.
  ASSERT_OK_AND_ASSIGN(std::string kept,
                       ReadFileBounded(AgentDataDir() + "/received/" + items[0].id_hex + ".push", 8 << 20));
  EXPECT_EQ(kept.find(kCanaryName), std::string::npos);
  EXPECT_EQ(kept.find("geen contact"), std::string::npos);
  // No personal data in any log line.
  EXPECT_EQ(sink_->Text().find(kCanaryName), std::string::npos);
  EXPECT_EQ(sink_->Text().find(Region::kBsn), std::string::npos);
}

TEST_F(PushTest, APushThePolicyDoesNotAllowIsRefusedByTheGateway) {
  ASSERT_OK_AND_ASSIGN(PushInfo sent, coordinator_->Push(Plan("ggz"), kWaitMs));
  EXPECT_EQ(sent.state, "refused");
  EXPECT_EQ(sent.by, "gateway") << sent.reason;
  ASSERT_OK_AND_ASSIGN(auto items, agent::Receiver::List(AgentDataDir()));
  EXPECT_TRUE(items.empty());
}

TEST_F(PushTest, AFieldThePolicyDoesNotAllowIsRefusedByTheAgent) {
  ASSERT_OK_AND_ASSIGN(PushInfo sent, coordinator_->Push(Plan(kRecipient, "interne-notitie"), kWaitMs));
  EXPECT_EQ(sent.state, "refused");
  EXPECT_EQ(sent.by, std::string(kRecipient) + "-agent");
  EXPECT_NE(sent.reason.find("interne-notitie"), std::string::npos) << sent.reason;
  EXPECT_TRUE(std::filesystem::is_empty(sink_dir_));
}

// Every bit of a genuine PUSH_AUTHORISATION's body flipped: the agent takes
// none of them (the gateway's signature); and a gateway that re-signs what
// it changed in the coordinator's push (a compromised gateway) is caught by
// the coordinator's signature, every bit of it.
TEST_F(PushTest, AForgedOrTamperedPushIsRefusedByTheAgent) {
  ASSERT_OK_AND_ASSIGN(PushInfo sent, coordinator_->Push(Plan(kRecipient), kWaitMs));
  ASSERT_EQ(sent.state, "received") << sent.reason;
  region_->StopAgent(kRecipient);
  ASSERT_OK_AND_ASSIGN(
      std::string genuine,
      ReadFileBounded(AgentDataDir() + "/received/" + HexEncode(sent.push_id) + ".push", 8 << 20));
  // A receiver of its own (a fresh data folder, so nothing is kept yet).
  agent::AgentConfig config = region_->AgentConfigFor(kRecipient);
  std::vector<std::string> problems, report;
  auto parts = agent::LoadAgentParts(config, &problems, &report);
  ASSERT_TRUE(parts.has_value());
  const Identity& me = *parts->identity;
  auto signer = audit::LogSigner::Create("ketenpoort.test/agent-audit", me.signing().public_key,
                                         me.signing().secret_key.Clone());
  ASSERT_OK(signer.status());
  ASSERT_OK_AND_ASSIGN(auto log,
                       audit::LogWriter::Open(dir_.File("tamper-audit"), std::move(signer).value()));
  agent::ReceiverOptions options;
  options.data_dir = dir_.File("tamper-data");
  std::filesystem::create_directories(options.data_dir);
  const Registry registry = *parts->registry;
  ASSERT_OK_AND_ASSIGN(
      auto receiver, agent::Receiver::Create(me, registry, parts->policy, *log, SystemClock::Get(), options));
  StaticKeyResolver keys;
  for (const auto& [id, e] : registry.entries()) keys.Add(id, e.card.signing_key);
  const std::string gateway_id = parts->gateway->id;
  // As the responder takes it: the gateway's envelope, to this agent.
  auto take = [&](const std::string& bytes) -> agent::Outcome {
    VerifyOptions want;
    want.expected_sender = gateway_id;
    want.expected_recipient = me.id();
    want.expected_kind = v1::MESSAGE_KIND_PUSH_AUTHORISATION;
    auto env = EnvelopeVerifier(keys, nullptr).Verify(bytes, want);
    if (!env.ok()) return {std::nullopt, env.status()};
    return receiver->Handle(*env, bytes);
  };
  v1::Envelope outer;
  ASSERT_TRUE(outer.ParseFromString(genuine));
  const std::string body = outer.body();
  for (size_t bit = 0; bit < body.size() * 8; ++bit) {
    v1::Envelope bad = outer;
    std::string flipped = body;
    flipped[bit / 8] = static_cast<char>(flipped[bit / 8] ^ (1 << (bit % 8)));
    bad.set_body(flipped);
    ASSERT_FALSE(take(bad.SerializeAsString()).status.ok()) << "bit " << bit;
  }
  // A gateway re-signing a changed coordinator push.
  v1::Header header;
  ASSERT_TRUE(header.ParseFromString(outer.header()));
  v1::PushAuthorisation pa;
  ASSERT_TRUE(pa.ParseFromString(body));
  const Identity& gateway = region_->identity(gateway_id);
  EnvelopeSigner gateway_signer(gateway.id(), gateway.signing().secret_key, SystemClock::Get());
  const std::string push_envelope = pa.push_envelope();
  for (size_t bit = 0; bit < push_envelope.size() * 8; ++bit) {
    v1::PushAuthorisation bad = pa;
    std::string flipped = push_envelope;
    flipped[bit / 8] = static_cast<char>(flipped[bit / 8] ^ (1 << (bit % 8)));
    bad.set_push_envelope(flipped);
    auto resigned = gateway_signer.Sign(v1::MESSAGE_KIND_PUSH_AUTHORISATION, me.id(), header.request_id(),
                                        bad.SerializeAsString());
    ASSERT_OK(resigned.status());
    agent::Outcome out = take(resigned->bytes);
    ASSERT_FALSE(out.status.ok()) << "bit " << bit;
  }
  // The case's history cut short, the phase changed, the decision a deny.
  auto resign = [&](const v1::PushAuthorisation& changed) {
    return gateway_signer
        .Sign(v1::MESSAGE_KIND_PUSH_AUTHORISATION, me.id(), header.request_id(), changed.SerializeAsString())
        .value()
        .bytes;
  };
  v1::PushAuthorisation shorter = pa;
  shorter.mutable_case_evidence()->RemoveLast();
  EXPECT_FALSE(take(resign(shorter)).status.ok());
  v1::PushAuthorisation phase = pa;
  phase.set_case_phase("herstel");
  EXPECT_FALSE(take(resign(phase)).status.ok());
  v1::PushAuthorisation deny = pa;
  deny.mutable_decision()->set_effect(v1::EFFECT_DENY);
  EXPECT_FALSE(take(resign(deny)).status.ok());
  // The genuine one, re-signed, is taken: the checks above refused for cause.
  EXPECT_THAT(take(resign(pa)).status, IsOk());
}

// Every prefix of a PUSH_AUTHORISATION's body, signed by the gateway so that
// it reaches the agent's parser, and every prefix of the sealed PUSH_CONTENT,
// sealed and signed by the coordinator (and the push re-signed by it and the
// gateway) so that it reaches the content's parser: none is taken.
TEST_F(PushTest, EveryTruncatedPushIsRefusedByTheAgent) {
  ASSERT_OK_AND_ASSIGN(PushInfo sent, coordinator_->Push(Plan(kRecipient), kWaitMs));
  ASSERT_EQ(sent.state, "received") << sent.reason;
  ASSERT_OK_AND_ASSIGN(
      std::string genuine,
      ReadFileBounded(AgentDataDir() + "/received/" + HexEncode(sent.push_id) + ".push", 8 << 20));
  OwnReceiver own = MakeReceiver(dir_.File("truncate-data"));
  const Identity& me = *own.parts->identity;
  const std::string gateway_id = own.parts->gateway->id;
  StaticKeyResolver keys;
  for (const auto& [id, e] : own.parts->registry->entries()) keys.Add(id, e.card.signing_key);
  auto take = [&](const std::string& bytes) -> agent::Outcome {
    VerifyOptions want;
    want.expected_sender = gateway_id;
    want.expected_kind = v1::MESSAGE_KIND_PUSH_AUTHORISATION;
    auto env = EnvelopeVerifier(keys, nullptr).Verify(bytes, want);
    if (!env.ok()) return {std::nullopt, env.status()};
    return own.receiver->Handle(*env, bytes);
  };
  v1::Envelope outer;
  ASSERT_TRUE(outer.ParseFromString(genuine));
  v1::Header header;
  ASSERT_TRUE(header.ParseFromString(outer.header()));
  EnvelopeSigner gateway_signer(gateway_id, region_->identity(gateway_id).signing().secret_key,
                                SystemClock::Get());
  auto gateway_signed = [&](const std::string& body) {
    return gateway_signer.Sign(v1::MESSAGE_KIND_PUSH_AUTHORISATION, me.id(), header.request_id(), body)
        .value()
        .bytes;
  };
  const std::string body = outer.body();
  for (size_t len = 0; len < body.size(); ++len) {
    ASSERT_FALSE(take(gateway_signed(body.substr(0, len))).status.ok()) << "length " << len;
  }

  // The content, cut short and sealed again by the coordinator.
  v1::PushAuthorisation pa;
  ASSERT_TRUE(pa.ParseFromString(body));
  v1::Envelope push_env;
  ASSERT_TRUE(push_env.ParseFromString(pa.push_envelope()));
  v1::FragmentPush push;
  ASSERT_TRUE(push.ParseFromString(push_env.body()));
  v1::Header push_header;
  ASSERT_TRUE(push_header.ParseFromString(push_env.header()));
  const Identity& coordinator = region_->identity(Region::kCoordinator);
  EnvelopeSigner coordinator_signer(coordinator.id(), coordinator.signing().secret_key, SystemClock::Get());
  ASSERT_OK_AND_ASSIGN(VerifiedEnvelope opened, OpenAndVerify(me.sealing(), keys, push.sealed_content(),
                                                              {v1::MESSAGE_KIND_PUSH_CONTENT, me.id(),
                                                               sent.push_id, coordinator.id()}));
  const std::string content = opened.body;
  ASSERT_OK_AND_ASSIGN(const RegistryEntry* mine, own.parts->registry->Find(me.id()));
  auto with_content = [&](const std::string& c) {
    v1::FragmentPush changed = push;
    changed.set_sealed_content(SignAndSeal(coordinator_signer, v1::MESSAGE_KIND_PUSH_CONTENT, me.id(),
                                           mine->card.sealing_key, sent.push_id, c)
                                   .value());
    v1::PushAuthorisation out = pa;
    out.set_push_envelope(
        coordinator_signer
            .Sign(v1::MESSAGE_KIND_FRAGMENT_PUSH, "", "", changed.SerializeAsString(), sent.push_id)
            .value()
            .bytes);
    return gateway_signed(out.SerializeAsString());
  };
  for (size_t len = 0; len < content.size(); ++len) {
    ASSERT_FALSE(take(with_content(content.substr(0, len))).status.ok()) << "content length " << len;
  }
  // The whole content, sealed again the same way, is taken: the cuts were refused for cause.
  EXPECT_THAT(take(with_content(content)).status, IsOk());
}

// A push the gateway decided under one policy and that reaches the agent
// after the switch to the next (its effective-from passed on the way) is
// checked under the policy the decision names, when the agent's signed
// bundle holds it and it was in force since the push was sent; a decision
// naming a policy the agent does not hold is refused with policy-unknown.
TEST_F(PushTest, APushDecidedBeforeAPolicySwitchIsCheckedUnderThePolicyItNames) {
  ASSERT_OK_AND_ASSIGN(PushInfo sent, coordinator_->Push(Plan(kRecipient), kWaitMs));
  ASSERT_EQ(sent.state, "received") << sent.reason;
  ASSERT_OK_AND_ASSIGN(
      std::string genuine,
      ReadFileBounded(AgentDataDir() + "/received/" + HexEncode(sent.push_id) + ".push", 8 << 20));
  // Bundles the enrolment office signs: the policy the gateway decided with
  // (byte for byte), and the next one (another version id), in force from now.
  const std::string decided = ReadFileBounded(Region::PolicyPath(), 1 << 20).value();
  std::string next = decided;
  const std::string version = "version: \"2026.1-example\"";
  ASSERT_NE(next.find(version), std::string::npos);
  next.replace(next.find(version), version.size(), "version: \"2026.2\"");
  const Identity& enrolment = region_->identity("enrolment-hvb");
  auto bundle = [&](const std::string& name, const std::vector<std::pair<std::string, int64_t>>& entries)
      -> std::shared_ptr<const cases::PolicySet> {
    const std::string dir = dir_.File(name);
    std::filesystem::create_directories(dir);
    EXPECT_OK(WriteFileDurable(dir + "/decided.yaml", decided, 0644, WriteMode::kReplace));
    EXPECT_OK(WriteFileDurable(dir + "/next.yaml", next, 0644, WriteMode::kReplace));
    const int64_t now = SystemClock::Get().NowMillis();
    EXPECT_OK(cases::SignPolicyBundle(dir, enrolment.signing().secret_key, cases::kEnrolmentSigner,
                                      "hart-van-brabant", entries, now));
    auto set = cases::PolicySet::LoadDir(dir, {enrolment.signing().public_key, nullptr, 0, ""});
    EXPECT_OK(set.status());
    if (!set.ok()) return nullptr;
    return std::make_shared<const cases::PolicySet>(std::move(set).value());
  };
  const int64_t switched = SystemClock::Get().NowMillis();  // after the push was sent and decided
  auto across = bundle("across-switch", {{"decided.yaml", switched - 3'600'000}, {"next.yaml", switched}});
  auto only_next = bundle("only-next", {{"next.yaml", switched - 3'600'000}});
  ASSERT_NE(across, nullptr);
  ASSERT_NE(only_next, nullptr);
  ASSERT_EQ(across->InForceAt(SystemClock::Get().NowMillis())->version(), "2026.2");

  auto take = [&](OwnReceiver& own, const std::string& bytes) -> agent::Outcome {
    VerifyOptions want;
    want.expected_sender = own.parts->gateway->id;
    want.expected_kind = v1::MESSAGE_KIND_PUSH_AUTHORISATION;
    StaticKeyResolver keys;
    for (const auto& [id, e] : own.parts->registry->entries()) keys.Add(id, e.card.signing_key);
    auto env = EnvelopeVerifier(keys, nullptr).Verify(bytes, want);
    if (!env.ok()) return {std::nullopt, env.status()};
    return own.receiver->Handle(*env, bytes);
  };
  // After the switch, holding both: taken, under the policy it was decided with.
  OwnReceiver after_switch = MakeReceiver(dir_.File("after-switch"));
  after_switch.receiver->SetConfig(nullptr, across->InForceAt(SystemClock::Get().NowMillis()), across);
  EXPECT_THAT(take(after_switch, genuine).status, IsOk());
  // Holding only the next policy: refused, and the reason says why.
  OwnReceiver without = MakeReceiver(dir_.File("without"));
  without.receiver->SetConfig(nullptr, only_next->InForceAt(SystemClock::Get().NowMillis()), only_next);
  agent::Outcome refused = take(without, genuine);
  EXPECT_EQ(refused.status.code(), StatusCode::kFailedPrecondition) << refused.status.ToString();
  EXPECT_EQ(refused.status.message().rfind("policy-unknown: ", 0), 0u) << refused.status.ToString();
  ASSERT_TRUE(refused.reply.has_value());  // a REFUSAL goes back to the coordinator
}

// `ketenpoort-agent inbox`: what arrived, handed to the sink or not, and the
// notices addressed to the agent; ids and metadata only. --again offers an
// item to the sink once more.
TEST_F(PushTest, TheInboxListsWhatArrivedAndTheNotices) {
  ASSERT_OK_AND_ASSIGN(PushInfo sent, coordinator_->Push(Plan(kRecipient), kWaitMs));
  ASSERT_EQ(sent.state, "received") << sent.reason;
  agent::AgentConfig config = region_->AgentConfigFor(kRecipient);
  config.sink.folder = sink_dir_;  // as the hook gave the running agent
  // A notice as the responder hands it on once it verified as the gateway's.
  OwnReceiver own = MakeReceiver(config.data_dir);
  VerifiedEnvelope notice_env;
  notice_env.header.set_message_id(std::string(16, '\x07'));
  v1::CaseNotice notice;
  notice.set_kind(v1::NOTICE_KIND_WATCH_ENDED);
  notice.set_case_id(case_id_);
  notice.set_reason_code("casus-gesloten");
  notice_env.body = notice.SerializeAsString();
  own.receiver->KeepNotice(notice_env);
  own.receiver->KeepNotice(notice_env);  // the same notice again: kept once

  std::ostringstream out;
  EXPECT_EQ(agent::ListInbox(config, false, out), 0);
  const std::string text = out.str();
  EXPECT_NE(text.find(HexEncode(sent.push_id)), std::string::npos) << text;
  EXPECT_NE(text.find("case " + case_id_), std::string::npos) << text;
  EXPECT_NE(text.find("from " + std::string(Region::kCoordinator)), std::string::npos) << text;
  EXPECT_NE(text.find("veiligheidsplan"), std::string::npos) << text;
  EXPECT_NE(text.find("handed to the sink"), std::string::npos) << text;
  EXPECT_NE(text.find("notices (1)"), std::string::npos) << text;
  EXPECT_NE(text.find("watch-ended (casus-gesloten)"), std::string::npos) << text;
  EXPECT_EQ(text.find(kCanaryName), std::string::npos);
  EXPECT_EQ(text.find(Region::kBsn), std::string::npos);
  EXPECT_EQ(text.find("geen contact"), std::string::npos);

  std::ostringstream json;
  EXPECT_EQ(agent::ListInbox(config, true, json), 0);
  auto j = nlohmann::json::parse(json.str());
  ASSERT_EQ(j["received"].size(), 1u);
  EXPECT_EQ(j["received"][0]["handed_to_sink"], true);
  EXPECT_EQ(j["notices"][0]["kind"], "watch-ended");

  // Handed over again: the mark goes, and the running agent hands it over anew.
  const std::string file = sink_dir_ + "/" + HexEncode(sent.push_id) + ".json";
  std::filesystem::remove(file);
  std::ostringstream again;
  EXPECT_EQ(agent::HandOverAgain(config, HexEncode(sent.push_id), again), 0) << again.str();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kWaitMs);
  while (!std::filesystem::exists(file) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(std::filesystem::exists(file));
  std::ostringstream unknown;
  EXPECT_EQ(agent::HandOverAgain(config, std::string(32, 'a'), unknown), 1);
  EXPECT_NE(unknown.str().find("nothing with id"), std::string::npos) << unknown.str();
}

class OnlyReceivingTest : public PushTest {
 protected:
  void SetUp() override {
    only_receives_ = true;
    PushTest::SetUp();
  }
};

// An agent with a sink and no data source starts, receives, and `check`
// says what it can do; without a sink as well it would do nothing: refused.
TEST_F(OnlyReceivingTest, AnAgentWithOnlyASinkStartsAndReceives) {
  ASSERT_OK_AND_ASSIGN(PushInfo sent, coordinator_->Push(Plan(kRecipient), kWaitMs));
  EXPECT_EQ(sent.state, "received") << sent.reason;
  agent::AgentConfig config = region_->AgentConfigFor(kRecipient);
  config.sink.folder = sink_dir_;  // as the hook gave the running agent
  config.sources.clear();
  std::vector<std::string> report;
  (void)agent::CheckAgent(config, &report, 2000);  // the running agent holds the data folder: one FAIL line
  std::string all;
  for (const auto& line : report) all += line + "\n";
  EXPECT_NE(all.find("answers no requests: no data source is configured"), std::string::npos) << all;
  EXPECT_NE(all.find("hands each item to the folder " + sink_dir_), std::string::npos) << all;
  config.sink = {};
  std::vector<std::string> problems;
  EXPECT_FALSE(agent::LoadAgentParts(config, &problems, &report).has_value());
  ASSERT_FALSE(problems.empty());
  EXPECT_NE(problems.back().find("neither answer requests nor hand over"), std::string::npos)
      << problems.back();
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp
