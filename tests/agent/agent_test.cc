// Integration tests of the partner agent against the real gateway: real
// keys, a signed registry, the example policy, SQLite and JSON sources and
// real child processes as data sources, both audit logs on disk, CURVE
// sockets on 127.0.0.1. The coordinator is a plain DEALER that signs and
// seals like the real client. The only stand-in is the clock, moved by hand.
// Waits are on messages with a deadline, never sleeps.
#include "agent/agent.h"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "agent/agent_check.h"
#include "case/case_chain.h"
#include "core/audit/log_reader.h"
#include "core/audit/log_verifier.h"
#include "core/base/file_util.h"
#include "core/crypto/random.h"
#include "core/envelope/sealed.h"
#include "core/transport/dealer_client.h"
#include "core/transport/transport_context.h"
#include "gateway/gateway.h"
#include "gateway/log_audit_trail.h"
#include "tests/agent/connectors/test_servers.h"
#include "tests/testing/capture_sink.h"
#include "tests/testing/case_chain_builder.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_time.h"

namespace kp::agent {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

namespace v1 = ketenpoort::v1;
using ::kp::testing::IsOk;

using test::kNow;
using test::kWaitMs;
constexpr char kCanaryBsn[] = "CANARY-BSN-999990019";
constexpr char kCanaryName[] = "CANARY-NAAM-Jansen";
constexpr char kCanaryContent[] = "CANARY-INCIDENT-CONTENT";
constexpr char kCanaryDropped[] = "CANARY-DROPPED-COLUMN";

using ::kp::testing::AllBytesUnder;
using ::kp::testing::CaptureSink;

struct Answer {
  VerifiedEnvelope envelope;
  std::string raw;
};

class AgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log_sink_ = std::make_shared<CaptureSink>();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", log_sink_));
    ::chmod(dir_.path().c_str(), 0700);
    keys_ = dir_.File("keys");
    registry_ = dir_.File("registry");
    for (const auto& d : {keys_, registry_}) {
      std::filesystem::create_directories(d);
      ::chmod(d.c_str(), 0700);
    }
    Make("enrolment-hvb", ParticipantKind::kEnrolment, "", false);
    Make("gateway", ParticipantKind::kGateway, "", true);
    Make("regisseur-01", ParticipantKind::kCoordinator, "veiligheidsteam", true);
    Make("politie-agent", ParticipantKind::kAgent, "politie", true);
    Make("ggz-agent", ParticipantKind::kAgent, "ggz", true);
    ASSERT_OK(Registry::Sign(registry_, identities_.at("enrolment-hvb").signing().secret_key,
                             {{"regisseur-01", "casusregisseur"}}, "hart-van-brabant", kNow));
    auto reg = Registry::Load(registry_, identities_.at("enrolment-hvb").signing().public_key);
    ASSERT_THAT(reg, IsOk());
    for (const auto& [id, e] : reg->entries()) resolver_.Add(id, e.card.signing_key);

    gateway_config_.listen = "tcp://127.0.0.1:*";
    gateway_config_.identity = IdentityFilePath(keys_, "gateway");
    gateway_config_.registry = registry_;
    gateway_config_.enrolment_card = CardFilePath(keys_, "enrolment-hvb");
    gateway_config_.policy = PolicyPath();
    gateway_config_.data_dir = dir_.File("gateway-data");
    gateway_config_.log_origin = "ketenpoort.test/audit";
    StartGateway();
    MakePoliceDatabase();
    MakeGgzFiles();
    ConnectCoordinator();
  }

  void TearDown() override {
    coordinator_.reset();
    for (auto& [id, a] : agents_) StopAgent(id);
    StopGateway();
    if (HasFailure()) std::cerr << "log:\n" << log_sink_->Text();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("null"));
  }

  static std::string PolicyPath() {
    return testing::SourceDir() + "/policy/examples/veiligheidsteam-hvb.yaml";
  }

  void Make(const std::string& id, ParticipantKind kind, const std::string& partner, bool enrol) {
    auto idn = Identity::Generate(id, kind, partner, kNow);
    ASSERT_THAT(idn, IsOk());
    ASSERT_OK(WriteIdentityFiles(keys_, *idn));
    if (enrol) {
      ASSERT_OK(WriteFileDurable(CardFilePath(registry_, id), idn->MakeCard().ToYaml(), 0644,
                                 WriteMode::kCreateExclusive));
    }
    identities_.emplace(id, std::move(idn).value());
  }

  // ------------------------------------------------------------ gateway

  void StartGateway() {
    ::mkdir(gateway_config_.data_dir.c_str(), 0700);
    auto trail = gateway::LogAuditTrail::Open(gateway::Gateway::AuditDir(gateway_config_),
                                              identities_.at("gateway"), gateway_config_.log_origin);
    ASSERT_THAT(trail, IsOk());
    auto g = gateway::Gateway::Create(gateway_config_, std::move(trail).value(), clock_);
    ASSERT_THAT(g, IsOk());
    gateway_ = std::move(g).value();
    endpoint_ = gateway_->endpoint();
    gateway_config_.listen = endpoint_;  // a restart binds the same port
    gateway_thread_ = std::thread([this] { EXPECT_OK(gateway_->Run()); });
  }

  void StopGateway() {
    if (!gateway_) return;
    gateway_->RequestStop();
    gateway_thread_.join();
    gateway_.reset();
  }

  // --------------------------------------------------------- data sources

  void MakePoliceDatabase() {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(dir_.File("politie.db").c_str(), &db), SQLITE_OK);
    std::string sql =
        "CREATE TABLE incidenten(bsn TEXT, datum TEXT, soort TEXT, rol TEXT, geweld TEXT, wapens TEXT, "
        "notitie TEXT);"
        "INSERT INTO incidenten VALUES('" +
        std::string(kCanaryBsn) + "', '2026-10-03', '" + kCanaryContent + "', 'slachtoffer', 'ja', 'nee', '" +
        kCanaryDropped +
        "');"
        "INSERT INTO incidenten VALUES('" +
        std::string(kCanaryBsn) +
        "', '2026-11-01', 'bedreiging', "
        "'slachtoffer', 'nee', NULL, 'x');"
        "INSERT INTO incidenten VALUES('123456782', '2026-01-01', 'ander gezin', 'pleger', 'ja', 'ja', 'y');";
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }

  void MakeGgzFiles() {
    std::filesystem::create_directories(dir_.File("ggz"));
    std::ofstream(dir_.File("ggz") + "/" + kCanaryBsn + ".json")
        << R"([{"in-zorg": "ja", "contactpersoon": "behandelaar-07", "diagnose": ")" << kCanaryDropped
        << "\"}]";
  }

  AgentConfig AgentConfigFor(const std::string& id) {
    AgentConfig c;
    c.identity = IdentityFilePath(keys_, id);
    c.gateway_endpoint = endpoint_;
    c.gateway_card = CardFilePath(keys_, "gateway");
    c.gateway_log_origin = gateway_config_.log_origin;
    c.enrolment_card = CardFilePath(keys_, "enrolment-hvb");
    c.registry = registry_;
    c.policy = PolicyPath();
    c.data_dir = dir_.File(id + "-data");
    c.connector_module_dir = testing::ConnectorModuleBuildDir();
    c.heartbeat_interval_ms = 1000;
    c.peer_timeout_ms = 4000;
    c.reconnect_min_ms = 50;
    c.reconnect_max_ms = 400;
    if (id == "politie-agent") {
      ConnectorConfig sql;
      sql.kind = ConnectorConfig::Kind::kSqlite;
      sql.database = dir_.File("politie.db");
      // Every column, also those the policy does not allow: the agent must drop them.
      sql.query =
          "SELECT datum, soort AS incidentsoort, rol AS \"rol-betrokkene\", geweld AS \"geweld-gebruikt\", "
          "wapens AS \"wapens-aanwezig\", notitie AS \"interne-notitie\" FROM incidenten WHERE bsn = :bsn "
          "ORDER BY datum";
      c.sources.emplace("politie-incidenten", sql);
    } else {
      ConnectorConfig files;
      files.kind = ConnectorConfig::Kind::kJsonFiles;
      files.folder = dir_.File("ggz");
      files.key = "bsn";
      c.sources.emplace("ggz-in-zorg", files);
    }
    return c;
  }

  struct RunningAgent {
    std::unique_ptr<Agent> agent;
    std::thread thread;
  };

  Agent& StartAgent(const std::string& id, const AgentConfig& config) {
    auto a = Agent::Create(config, clock_);
    EXPECT_THAT(a, IsOk());
    RunningAgent& r = agents_[id];
    r.agent = std::move(a).value();
    Agent* agent = r.agent.get();
    r.thread = std::thread([agent] { EXPECT_OK(agent->Run()); });
    return *agent;
  }
  Agent& StartAgent(const std::string& id) { return StartAgent(id, AgentConfigFor(id)); }

  void StopAgent(const std::string& id) {
    auto it = agents_.find(id);
    if (it == agents_.end() || !it->second.agent) return;
    it->second.agent->RequestStop();
    it->second.thread.join();
    it->second.agent.reset();
  }

  // -------------------------------------------------------- coordinator

  void ConnectCoordinator() {
    const Identity& me = identities_.at("regisseur-01");
    DealerOptions options;
    options.endpoint = endpoint_;
    options.server_public_key = identities_.at("gateway").transport().public_key;
    auto conn =
        DealerClient::Create(context_.get(), me.transport().public_key, me.transport().secret_key, options);
    ASSERT_THAT(conn, IsOk());
    coordinator_ = std::move(conn).value();
    signer_ = std::make_unique<EnvelopeSigner>("regisseur-01", me.signing().secret_key, clock_);
  }

  std::string Send(v1::MessageKind kind, const google::protobuf::Message& body, const std::string& id = "",
                   std::string* bytes = nullptr) {
    auto m = signer_->Sign(kind, "", "", body.SerializeAsString(), id);
    EXPECT_THAT(m, IsOk());
    EXPECT_OK(coordinator_->Send(m->bytes));
    if (bytes != nullptr) *bytes = m->bytes;
    return m->message_id;
  }

  // The head of each case's chain as this coordinator signed it (protocol §3.5).
  struct Head {
    std::string hash;
    uint64_t length = 0;
  };
  std::map<std::string, Head> heads_;
  const v1::Subject victim_ =
      testing::TestSubject("S1", v1::SUBJECT_ROLE_VICTIM, kCanaryBsn, kCanaryName, "1990-02-03");

  // The next message for the coordinator that belongs to `request_id`.
  Answer Await(const std::string& request_id) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kWaitMs);
    while (std::chrono::steady_clock::now() < deadline) {
      auto got = coordinator_->Receive(100);
      if (!got.ok() || !got->has_value()) continue;
      auto env = EnvelopeVerifier(resolver_, nullptr).Verify(**got);
      EXPECT_THAT(env, IsOk());
      if (!env.ok() || env->header.request_id() != request_id) continue;
      if (env->header.kind() == v1::MESSAGE_KIND_ACCEPTED)
        continue;  // the gateway holds it; the answer follows
      return {*env, **got};
    }
    ADD_FAILURE() << "no answer within the deadline";
    return {};
  }

  v1::CaseResult Command(v1::CaseCommand cmd) {
    if (!cmd.has_open()) {
      cmd.set_previous(heads_[cmd.case_id()].hash);
      cmd.set_sequence(heads_[cmd.case_id()].length);
    }
    std::string bytes;
    const std::string id = Send(v1::MESSAGE_KIND_CASE_COMMAND, cmd, "", &bytes);
    Answer a = Await(id);
    EXPECT_EQ(a.envelope.header.kind(), v1::MESSAGE_KIND_CASE_RESULT);
    v1::CaseResult r;
    EXPECT_OK(ParseBody(a.envelope.body, r));
    Head& h = heads_[r.case_id()];
    h.hash = cases::CommandHash(bytes);
    ++h.length;
    return r;
  }

  std::string OpenCaseWith(const std::vector<std::string>& partners) {
    v1::CaseCommand open;
    open.mutable_open()->set_purpose("plan-van-aanpak");
    *open.mutable_open()->add_subjects() = testing::CommittedRef(victim_);
    const std::string case_id = Command(open).case_id();
    for (const auto& p : partners) {
      v1::CaseCommand admit;
      admit.set_case_id(case_id);
      admit.mutable_admit()->set_partner(p);
      Command(admit);
    }
    return case_id;
  }

  void RecordConsent(const std::string& case_id, const std::string& purpose) {
    v1::CaseCommand c;
    c.set_case_id(case_id);
    c.mutable_record_consent()->set_subject_ref("S1");
    c.mutable_record_consent()->set_purpose(purpose);
    c.mutable_record_consent()->set_valid_until_ms(kNow + 30LL * 86'400'000);
    Command(c);
  }

  // A request with the subject sealed to the partner's agent; its id.
  std::string Request(const std::string& case_id, const std::string& partner, const std::string& category,
                      const std::string& purpose = "plan-van-aanpak") {
    const std::string request_id = NewMessageId();
    v1::SubjectData subjects;
    subjects.set_case_id(case_id);
    *subjects.add_subjects() = victim_;
    const std::string agent = partner + "-agent";
    auto sealed =
        SignAndSeal(*signer_, v1::MESSAGE_KIND_SUBJECT_DATA, agent,
                    identities_.at(agent).sealing().public_key, request_id, subjects.SerializeAsString());
    EXPECT_THAT(sealed, IsOk());
    v1::FragmentRequest req;
    req.set_case_id(case_id);
    req.set_source_partner(partner);
    req.add_categories(category);
    req.set_purpose(purpose);
    auto* ref = req.add_subjects();
    ref->set_ref("S1");
    ref->set_role(v1::SUBJECT_ROLE_VICTIM);
    req.set_sealed_subjects(*sealed);
    req.set_case_head(heads_[case_id].hash);
    req.set_case_length(heads_[case_id].length);
    Send(v1::MESSAGE_KIND_FRAGMENT_REQUEST, req, request_id);
    return request_id;
  }

  // Opens a delivery as the coordinator's client does: the agent's
  // signature, sealed to me, bound to my request.
  v1::FragmentContent OpenDelivery(const Answer& a, const std::string& request_id, const std::string& agent) {
    EXPECT_EQ(a.envelope.header.kind(), v1::MESSAGE_KIND_FRAGMENT_DELIVERY)
        << "got " << wire::KindLabel(a.envelope.header.kind()) << ": " << RefusalReason(a);
    EXPECT_EQ(a.envelope.header.sender(), agent);
    v1::FragmentDelivery d;
    EXPECT_OK(ParseBody(a.envelope.body, d));
    SealedExpectations want{v1::MESSAGE_KIND_FRAGMENT_CONTENT, "regisseur-01", request_id, agent};
    auto inner = OpenAndVerify(identities_.at("regisseur-01").sealing(), resolver_, d.sealed_content(), want);
    EXPECT_THAT(inner, IsOk());
    v1::FragmentContent content;
    if (inner.ok()) {
      EXPECT_OK(ParseBody(inner->body, content));
    }
    return content;
  }

  static std::string RefusalReason(const Answer& a) {
    v1::Refusal r;
    if (a.envelope.header.kind() != v1::MESSAGE_KIND_REFUSAL || !ParseBody(a.envelope.body, r).ok())
      return "";
    return r.reason();
  }
  static v1::Refusal ExpectRefusal(const Answer& a, v1::RefusedBy by) {
    EXPECT_EQ(a.envelope.header.kind(), v1::MESSAGE_KIND_REFUSAL)
        << wire::KindLabel(a.envelope.header.kind());
    v1::Refusal r;
    EXPECT_OK(ParseBody(a.envelope.body, r));
    EXPECT_EQ(r.refused_by(), by) << r.reason();
    return r;
  }

  std::vector<v1::AuditRecord> Records(const std::string& dir) {
    std::vector<v1::AuditRecord> out;
    auto reader = audit::LogReader::Open(dir);
    EXPECT_THAT(reader, IsOk());
    if (!reader.ok()) return out;
    EXPECT_OK((*reader)->ForEachEntry([&](const audit::LogEntry& e) {
      if (!e.erased) out.push_back(e.record);
      return OkStatus();
    }));
    return out;
  }

  // Polls `done` until it holds or the deadline passes (for effects that
  // send no message: a file written, a log line).
  template <typename Pred>
  static bool WaitFor(Pred done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kWaitMs);
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
  }

  testing::TempDir dir_;
  std::string keys_, registry_;
  std::shared_ptr<CaptureSink> log_sink_;
  std::map<std::string, Identity> identities_;
  StaticKeyResolver resolver_;
  ManualClock clock_{kNow};
  gateway::GatewayConfig gateway_config_;
  std::unique_ptr<gateway::Gateway> gateway_;
  std::thread gateway_thread_;
  std::string endpoint_;
  TransportContext context_;
  std::unique_ptr<DealerClient> coordinator_;
  std::unique_ptr<EnvelopeSigner> signer_;
  std::map<std::string, RunningAgent> agents_;
};

TEST_F(AgentTest, AFragmentHoldsExactlyTheAllowedFields) {
  StartAgent("politie-agent");
  const std::string case_id = OpenCaseWith({"politie"});
  const std::string request_id = Request(case_id, "politie", "politie-incidenten");
  v1::FragmentContent content = OpenDelivery(Await(request_id), request_id, "politie-agent");
  EXPECT_EQ(content.case_id(), case_id);
  ASSERT_EQ(content.categories_size(), 1);
  const auto& cat = content.categories(0);
  EXPECT_EQ(cat.category(), "politie-incidenten");
  ASSERT_EQ(cat.records_size(), 2);  // the other family's record is not this subject's
  std::vector<std::string> fields;
  for (const auto& v : cat.records(0).values()) fields.push_back(v.field());
  // R-POL-01 allows these four; wapens-aanwezig and the internal note are dropped.
  EXPECT_EQ(fields,
            (std::vector<std::string>{"datum", "incidentsoort", "rol-betrokkene", "geweld-gebruikt"}));
  EXPECT_EQ(cat.records(0).subject_ref(), "S1");
  EXPECT_EQ(cat.records(0).values(1).value(), kCanaryContent);
  EXPECT_EQ(content.retain_until_ms(), kNow + 180LL * 86'400'000);  // R-POL-01: 180 days
}

TEST_F(AgentTest, TheAgentKeepsItsOwnVerifiableRecordAndTheGatewaysReceipt) {
  StartAgent("politie-agent");
  const std::string case_id = OpenCaseWith({"politie"});
  const std::string request_id = Request(case_id, "politie", "politie-incidenten");
  OpenDelivery(Await(request_id), request_id, "politie-agent");
  const std::string data = dir_.File("politie-agent-data");
  // The gateway's receipt follows the forwarded delivery.
  ASSERT_TRUE(WaitFor([&] { return std::filesystem::exists(data + "/receipts.jsonl"); }));
  StopAgent("politie-agent");

  auto records = Records(data + "/audit");
  bool delivered = false;
  for (const auto& r : records) {
    if (r.event() != v1::AUDIT_EVENT_DELIVERED) continue;
    delivered = true;
    EXPECT_EQ(r.message_id(), request_id);
    EXPECT_EQ(r.case_id(), case_id);
    EXPECT_EQ(r.recipient_partner(), "veiligheidsteam");
    EXPECT_EQ(r.decision().rule_ids(0), "R-POL-01");
    EXPECT_GT(r.payload().ciphertext_bytes(), 0u);
  }
  EXPECT_TRUE(delivered);
  audit::VerifyReport report = audit::VerifyLog(data + "/audit", {});
  EXPECT_OK(report.status);
  // The gateway's receipt: a checkpoint the gateway's own log is consistent with.
  ASSERT_TRUE(std::filesystem::exists(data + "/receipts.jsonl"));
  std::vector<std::string> pinned;
  for (const auto& e : std::filesystem::directory_iterator(data + "/gateway-checkpoints")) {
    pinned.push_back(ReadFileBounded(e.path().string(), 65536).value());
  }
  ASSERT_FALSE(pinned.empty());
  audit::VerifyOptions vo;
  vo.pinned_checkpoints = pinned;
  StopGateway();
  audit::VerifyReport gw = audit::VerifyLog(gateway::Gateway::AuditDir(gateway_config_), vo);
  EXPECT_OK(gw.status);
  EXPECT_EQ(gw.pinned_checkpoints, pinned.size());
}

TEST_F(AgentTest, ConsentIsCheckedFromTheCoordinatorsOwnSignedCommand) {
  StartAgent("ggz-agent");
  const std::string case_id = OpenCaseWith({"ggz"});
  // Without consent the gateway refuses by policy.
  std::string first = Request(case_id, "ggz", "ggz-in-zorg");
  v1::Refusal r = ExpectRefusal(Await(first), v1::REFUSED_BY_GATEWAY);
  EXPECT_NE(r.reason().find("consent"), std::string::npos) << r.reason();
  // With consent the agent sees the coordinator's signed consent and answers.
  RecordConsent(case_id, "plan-van-aanpak");
  std::string second = Request(case_id, "ggz", "ggz-in-zorg");
  v1::FragmentContent content = OpenDelivery(Await(second), second, "ggz-agent");
  ASSERT_EQ(content.categories_size(), 1);
  ASSERT_EQ(content.categories(0).records_size(), 1);
  std::vector<std::string> fields;
  for (const auto& v : content.categories(0).records(0).values()) fields.push_back(v.field());
  EXPECT_EQ(fields, (std::vector<std::string>{"in-zorg", "contactpersoon"}));  // never the diagnosis
}

TEST_F(AgentTest, ACategorySwitchedOffByThePartnerIsRefusedByTheAgent) {
  AgentConfig config = AgentConfigFor("politie-agent");
  config.disabled_categories.insert("politie-incidenten");
  StartAgent("politie-agent", config);
  const std::string case_id = OpenCaseWith({"politie"});
  const std::string request_id = Request(case_id, "politie", "politie-incidenten");
  v1::Refusal r = ExpectRefusal(Await(request_id), v1::REFUSED_BY_AGENT);
  EXPECT_NE(r.reason().find("switched off"), std::string::npos) << r.reason();
  // The gateway logged the agent's refusal too.
  bool logged = false;
  for (const auto& rec : Records(gateway::Gateway::AuditDir(gateway_config_))) {
    logged |= rec.event() == v1::AUDIT_EVENT_REFUSED && rec.message_id() == request_id;
  }
  EXPECT_TRUE(logged);
}

TEST_F(AgentTest, AnAgentRequiringConsentRefusesWhereThePolicyDoesNot) {
  AgentConfig config = AgentConfigFor("politie-agent");
  config.always_require_consent = true;
  StartAgent("politie-agent", config);
  const std::string case_id = OpenCaseWith({"politie"});
  const std::string request_id = Request(case_id, "politie", "politie-incidenten");
  v1::Refusal r = ExpectRefusal(Await(request_id), v1::REFUSED_BY_AGENT);
  EXPECT_NE(r.reason().find("requires recorded consent"), std::string::npos) << r.reason();
}

TEST_F(AgentTest, AnAgentWithAnotherPolicyVersionRefuses) {
  // The partner's copy of the policy differs from the gateway's (one rule's
  // explanation edited): the agent does not trust a decision it cannot repeat.
  std::string text = ReadFileBounded(PolicyPath(), 1 << 20).value();
  const std::string marker = "explanation: Met toestemming";
  ASSERT_NE(text.find(marker), std::string::npos);
  text.replace(text.find(marker), marker.size(), "explanation: Alleen met toestemming");
  ASSERT_OK(WriteFileDurable(dir_.File("other-policy.yaml"), text, 0644, WriteMode::kCreateExclusive));
  AgentConfig config = AgentConfigFor("politie-agent");
  config.policy = dir_.File("other-policy.yaml");
  StartAgent("politie-agent", config);
  const std::string case_id = OpenCaseWith({"politie"});
  const std::string request_id = Request(case_id, "politie", "politie-incidenten");
  v1::Refusal r = ExpectRefusal(Await(request_id), v1::REFUSED_BY_AGENT);
  EXPECT_NE(r.reason().find("another version of the policy"), std::string::npos) << r.reason();
}

TEST_F(AgentTest, ASourceThatTimesOutIsRefusedCleanly) {
  AgentConfig config = AgentConfigFor("politie-agent");
  ConnectorConfig slow;
  slow.kind = ConnectorConfig::Kind::kCommand;
  slow.argv = {"/bin/sleep", "30"};
  slow.timeout_ms = 300;
  config.sources["politie-incidenten"] = slow;
  StartAgent("politie-agent", config);
  const std::string case_id = OpenCaseWith({"politie"});
  const std::string request_id = Request(case_id, "politie", "politie-incidenten");
  v1::Refusal r = ExpectRefusal(Await(request_id), v1::REFUSED_BY_AGENT);
  EXPECT_NE(r.reason().find("did not answer in time"), std::string::npos) << r.reason();
  EXPECT_NE(r.reason().find("source unavailable"), std::string::npos) << r.reason();
}

TEST_F(AgentTest, ASourceThatPrintsMalformedOutputIsRefusedCleanly) {
  AgentConfig config = AgentConfigFor("politie-agent");
  ConnectorConfig bad;
  bad.kind = ConnectorConfig::Kind::kCommand;
  const std::string script = dir_.File("bad-source.sh");
  std::ofstream(script) << "#!/bin/sh\ncat >/dev/null\necho '[{\"datum\": \"2026-01-01\", oops'\n";
  ::chmod(script.c_str(), 0700);
  bad.argv = {script};
  config.sources["politie-incidenten"] = bad;
  StartAgent("politie-agent", config);
  const std::string case_id = OpenCaseWith({"politie"});
  const std::string request_id = Request(case_id, "politie", "politie-incidenten");
  v1::Refusal r = ExpectRefusal(Await(request_id), v1::REFUSED_BY_AGENT);
  EXPECT_NE(r.reason().find("cannot read"), std::string::npos) << r.reason();
}

TEST_F(AgentTest, ARequestForAnOfflineAgentIsAnsweredWhenItComesOnline) {
  const std::string case_id = OpenCaseWith({"politie"});
  const std::string request_id = Request(case_id, "politie", "politie-incidenten");
  // Nothing can answer yet; then the agent starts and says hello.
  StartAgent("politie-agent");
  OpenDelivery(Await(request_id), request_id, "politie-agent");
}

TEST_F(AgentTest, TheAgentReconnectsAfterAGatewayRestart) {
  Agent& agent = StartAgent("politie-agent");
  const std::string case_id = OpenCaseWith({"politie"});
  std::string first = Request(case_id, "politie", "politie-incidenten");
  OpenDelivery(Await(first), first, "politie-agent");

  coordinator_.reset();
  StopGateway();
  StartGateway();
  ConnectCoordinator();
  const std::string second = Request(case_id, "politie", "politie-incidenten");
  OpenDelivery(Await(second), second, "politie-agent");
  EXPECT_EQ(agent.connection_state(), ConnectionState::kConnected);
}

TEST_F(AgentTest, AnAgentWhoseKeyIsNotEnrolledSaysSoAndKeepsTrying) {
  Make("nieuw-agent", ParticipantKind::kAgent, "politie", false);
  // Its card is in a registry the enrolment key signed, but not in the gateway's.
  const std::string own_registry = dir_.File("own-registry");
  std::filesystem::create_directories(own_registry);
  ::chmod(own_registry.c_str(), 0700);
  for (const auto& e : std::filesystem::directory_iterator(registry_)) {
    if (e.path().extension() == ".card") std::filesystem::copy(e.path(), own_registry);
  }
  ASSERT_OK(WriteFileDurable(CardFilePath(own_registry, "nieuw-agent"),
                             identities_.at("nieuw-agent").MakeCard().ToYaml(), 0644,
                             WriteMode::kCreateExclusive));
  ASSERT_OK(Registry::Sign(own_registry, identities_.at("enrolment-hvb").signing().secret_key,
                           {{"regisseur-01", "casusregisseur"}}, "hart-van-brabant", kNow));
  AgentConfig config = AgentConfigFor("politie-agent");
  config.identity = IdentityFilePath(keys_, "nieuw-agent");
  config.registry = own_registry;
  config.data_dir = dir_.File("nieuw-agent-data");
  std::vector<std::string> report;
  auto problems = CheckAgent(config, &report, 3000);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("this key is not enrolled"), std::string::npos) << problems[0];

  StartAgent("nieuw-agent", config);
  EXPECT_TRUE(WaitFor([&] { return log_sink_->Text().find("reconnecting in") != std::string::npos; }));
  EXPECT_NE(log_sink_->Text().find("refused by the gateway: this key is not enrolled"), std::string::npos);
}

TEST_F(AgentTest, CheckReportsEveryProblemAtOnce) {
  AgentConfig config = AgentConfigFor("politie-agent");
  config.gateway_card = CardFilePath(keys_, "regisseur-01");  // not a gateway card
  config.policy = dir_.File("missing-policy.yaml");
  ConnectorConfig broken;
  broken.kind = ConnectorConfig::Kind::kSqlite;
  broken.database = dir_.File("no-such.db");
  broken.query = "SELECT datum FROM incidenten WHERE bsn = :bsn";
  config.sources["politie-incidenten"] = broken;
  std::vector<std::string> report;
  auto problems = CheckAgent(config, &report, 1000);
  std::string all;
  for (const auto& p : problems) all += p + "\n";
  EXPECT_NE(all.find("is not a gateway card"), std::string::npos) << all;
  EXPECT_NE(all.find("missing-policy.yaml"), std::string::npos) << all;
  EXPECT_NE(all.find("politie-incidenten"), std::string::npos) << all;
}

TEST_F(AgentTest, CheckPassesForAGoodConfigAndQueriesTheTestSubject) {
  AgentConfig config = AgentConfigFor("politie-agent");
  config.test_subject = SubjectQuery{"T1", "victim", kCanaryBsn, kCanaryName, "1990-02-03"};
  std::vector<std::string> report;
  auto problems = CheckAgent(config, &report, 3000);
  EXPECT_TRUE(problems.empty()) << problems[0];
  std::string all;
  for (const auto& r : report) all += r + "\n";
  EXPECT_NE(all.find("2 record(s)"), std::string::npos) << all;
  EXPECT_NE(all.find("admitted this agent's key"), std::string::npos) << all;
  EXPECT_EQ(all.find(kCanaryBsn), std::string::npos);
}

// The network sources end to end: `check` asks them for the test subject, and
// a request is answered from them with only the fields the policy allows.
TEST_F(AgentTest, ChecksAndAnswersFromAPostgresSource) {
  testing::TestPostgres pg;
  ASSERT_EQ(pg.Start(), "");
  ASSERT_EQ(pg.Admin("CREATE DATABASE bron"), "");
  ASSERT_EQ(
      pg.Admin("CREATE ROLE reader LOGIN PASSWORD '" + std::string(testing::TestPostgres::reader_password()) +
                   "';"
                   "CREATE TABLE incidenten(bsn text, datum date, soort text, rol text, geweld text,"
                   "  notitie text);"
                   "INSERT INTO incidenten VALUES ('" +
                   kCanaryBsn + "', '2026-10-03', '" + kCanaryContent + "', 'slachtoffer', 'ja', '" +
                   kCanaryDropped +
                   "'), ('123456782', '2026-01-01', 'ander gezin', 'pleger', 'ja', 'y');"
                   "GRANT SELECT ON incidenten TO reader;",
               "bron"),
      "");
  const std::string password_file = dir_.File("pg.pw");
  ASSERT_OK(WriteFileDurable(password_file, std::string(testing::TestPostgres::reader_password()) + "\n",
                             0600, WriteMode::kCreateExclusive));
  AgentConfig config = AgentConfigFor("politie-agent");
  ConnectorConfig source;
  source.kind = ConnectorConfig::Kind::kPostgres;
  source.postgres.host = pg.socket_dir();
  source.postgres.port = pg.port();
  source.postgres.dbname = "bron";
  source.postgres.user = "reader";
  source.postgres.password_file = password_file;
  source.postgres.params = {"bsn"};
  source.query =
      "SELECT datum, soort AS incidentsoort, rol AS \"rol-betrokkene\", geweld AS \"geweld-gebruikt\", "
      "notitie AS \"interne-notitie\" FROM incidenten WHERE bsn = $1 ORDER BY datum";
  config.sources["politie-incidenten"] = source;
  config.test_subject = SubjectQuery{"T1", "victim", kCanaryBsn, kCanaryName, "1990-02-03"};
  std::vector<std::string> report;
  auto problems = CheckAgent(config, &report, 3000);
  EXPECT_TRUE(problems.empty()) << problems[0];
  std::string all;
  for (const auto& r : report) all += r + "\n";
  EXPECT_NE(all.find("data source for politie-incidenten answered for the test subject: 1 record(s)"),
            std::string::npos)
      << all;
  EXPECT_EQ(all.find("CANARY"), std::string::npos) << all;

  StartAgent("politie-agent", config);
  const std::string case_id = OpenCaseWith({"politie"});
  const std::string request_id = Request(case_id, "politie", "politie-incidenten");
  v1::FragmentContent content = OpenDelivery(Await(request_id), request_id, "politie-agent");
  ASSERT_EQ(content.categories_size(), 1);
  ASSERT_EQ(content.categories(0).records_size(), 1);
  std::vector<std::string> fields;
  for (const auto& v : content.categories(0).records(0).values()) fields.push_back(v.field());
  EXPECT_EQ(fields,
            (std::vector<std::string>{"datum", "incidentsoort", "rol-betrokkene", "geweld-gebruikt"}));
  EXPECT_EQ(content.categories(0).records(0).values(1).value(), kCanaryContent);
  StopAgent("politie-agent");

  // The database gone: check names the source and says why, in words.
  pg.Stop();
  problems = CheckAgent(config, &report, 1000);
  all.clear();
  for (const auto& p : problems) all += p + "\n";
  EXPECT_NE(
      all.find("data source for politie-incidenten: source unavailable: cannot connect to postgres reader@"),
      std::string::npos)
      << all;

  // A network host without verifying the server: check says so.
  config.sources["politie-incidenten"].postgres.host = "127.0.0.1";
  config.sources["politie-incidenten"].postgres.port = 1;
  config.sources["politie-incidenten"].postgres.sslmode = "disable";
  report.clear();
  (void)CheckAgent(config, &report, 1000);
  all.clear();
  for (const auto& r : report) all += r + "\n";
  EXPECT_NE(all.find("warning: the data source for politie-incidenten reaches the database at 127.0.0.1 with "
                     "sslmode disable"),
            std::string::npos)
      << all;
}

TEST_F(AgentTest, ChecksAndAnswersFromAnHttpsSource) {
  testing::TestHttpsServer server;
  const char* root = std::getenv("KP_SOURCE_DIR");
  ASSERT_EQ(server.Start(std::string(root != nullptr ? root : ".") +
                         "/tests/agent/connectors/https_test_server.py"),
            "");
  AgentConfig config = AgentConfigFor("politie-agent");
  ConnectorConfig source;
  source.kind = ConnectorConfig::Kind::kHttps;
  source.https.url = server.Url("/politie");
  source.https.ca_file = server.File("other-ca.crt");  // first the wrong CA
  source.https.client_cert = server.File("client.crt");
  source.https.client_key = server.File("client.key");
  config.sources["politie-incidenten"] = source;
  config.test_subject = SubjectQuery{"T1", "victim", kCanaryBsn, kCanaryName, "1990-02-03"};
  std::vector<std::string> report;
  auto problems = CheckAgent(config, &report, 3000);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("data source for politie-incidenten (https " + server.Url("/politie") +
                             ") failed for the test subject: source unavailable"),
            std::string::npos)
      << problems[0];
  EXPECT_NE(problems[0].find("certificate"), std::string::npos) << problems[0];

  config.sources["politie-incidenten"].https.ca_file = server.File("ca.crt");
  report.clear();
  problems = CheckAgent(config, &report, 3000);
  EXPECT_TRUE(problems.empty()) << problems[0];
  std::string all;
  for (const auto& r : report) all += r + "\n";
  EXPECT_NE(all.find("data source for politie-incidenten answered for the test subject: 1 record(s)"),
            std::string::npos)
      << all;

  StartAgent("politie-agent", config);
  const std::string case_id = OpenCaseWith({"politie"});
  const std::string request_id = Request(case_id, "politie", "politie-incidenten");
  v1::FragmentContent content = OpenDelivery(Await(request_id), request_id, "politie-agent");
  ASSERT_EQ(content.categories_size(), 1);
  ASSERT_EQ(content.categories(0).records_size(), 1);
  std::vector<std::string> fields;
  for (const auto& v : content.categories(0).records(0).values()) fields.push_back(v.field());
  EXPECT_EQ(fields,
            (std::vector<std::string>{"datum", "incidentsoort", "rol-betrokkene", "geweld-gebruikt"}));
  StopAgent("politie-agent");
  server.Stop();
}

TEST_F(AgentTest, NoSubjectDataOrContentInLogsOrOnTheGatewaysDisk) {
  StartAgent("politie-agent");
  StartAgent("ggz-agent");
  const std::string case_id = OpenCaseWith({"politie", "ggz"});
  RecordConsent(case_id, "plan-van-aanpak");
  for (const auto& [partner, category] : std::vector<std::pair<std::string, std::string>>{
           {"politie", "politie-incidenten"}, {"ggz", "ggz-in-zorg"}}) {
    const std::string id = Request(case_id, partner, category);
    OpenDelivery(Await(id), id, partner + "-agent");
  }
  StopAgent("politie-agent");
  StopAgent("ggz-agent");
  StopGateway();
  for (const std::string canary :
       {kCanaryBsn, kCanaryName, kCanaryContent, kCanaryDropped, "behandelaar-07"}) {
    EXPECT_EQ(log_sink_->Text().find(canary), std::string::npos) << canary << " in the logs";
    EXPECT_EQ(AllBytesUnder(gateway_config_.data_dir).find(canary), std::string::npos) << canary;
    EXPECT_EQ(AllBytesUnder(dir_.File("politie-agent-data")).find(canary), std::string::npos) << canary;
    EXPECT_EQ(AllBytesUnder(dir_.File("ggz-agent-data")).find(canary), std::string::npos) << canary;
  }
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::agent
