// Integration tests of the real gateway: real keys, a signed registry, the
// example policy, SQLite and the audit log on disk, CURVE sockets on
// 127.0.0.1. The only stand-in is the clock, moved by hand for expiry. Waits
// are on messages with a deadline, never sleeps.
#include "gateway/gateway.h"

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "case/case_chain.h"
#include "client/audit_pull.h"
#include "core/audit/log_reader.h"
#include "core/audit/log_verifier.h"
#include "core/base/file_util.h"
#include "core/crypto/random.h"
#include "core/envelope/sealed.h"
#include "core/transport/dealer_client.h"
#include "core/transport/transport_context.h"
#include "gateway/startup.h"
#include "tests/gateway/forwarding_audit_trail.h"
#include "tests/testing/case_chain_builder.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_time.h"

namespace kp::gateway {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

namespace v1 = ketenpoort::v1;
using ::kp::testing::IsOk;
using ::kp::testing::StatusIs;

using test::kNow;
using test::kDeadlineMs;
constexpr char kCanaryBsn[] = "CANARY-BSN-999990019";
constexpr char kCanaryContent[] = "CANARY-FRAGMENT-CONTENT";

// An audit trail that can be made to fail, to test write-before-forward;
// it passes everything else to the real log.
class SwitchableAuditTrail final : public ForwardingAuditTrail {
 public:
  SwitchableAuditTrail(std::unique_ptr<AuditTrail> real, std::atomic<bool>* fail,
                       std::atomic<bool>* fail_write, std::atomic<bool>* fail_sync)
      : ForwardingAuditTrail(std::move(real)), fail_(fail), fail_write_(fail_write), fail_sync_(fail_sync) {}
  Result<audit::StagedRecord> Stage(v1::AuditRecord record) override {
    if (fail_->load()) return UnavailableError("disk full (injected)");
    return ForwardingAuditTrail::Stage(std::move(record));
  }
  // A failing write: the records never reached the log.
  Status WriteStaged(const std::vector<audit::StagedRecord>& records) override {
    if (fail_write_->load()) return UnavailableError("write: no space left on device (injected)");
    return ForwardingAuditTrail::WriteStaged(records);
  }
  Status AppendStaged(const std::vector<audit::StagedRecord>& records) override {
    if (fail_write_->load() || fail_sync_->load())
      return UnavailableError("write: no space left on device (injected)");
    return ForwardingAuditTrail::AppendStaged(records);
  }
  // A failing fdatasync after the unit's messages left: the log fails
  // closed (an fsync error is never retried) until it is reopened.
  Status Sync() override {
    if (fail_sync_->load()) {
      // What the page cache held of the log may be gone.
      EXPECT_OK(ForwardingAuditTrail::CutUnsyncedTailForFaultInjection());
      return UnavailableError("fdatasync: input/output error (injected)");
    }
    return ForwardingAuditTrail::Sync();
  }
  Status Reopen() override {
    if (fail_->load() || fail_write_->load() || fail_sync_->load())
      return UnavailableError("disk still full (injected)");
    return ForwardingAuditTrail::Reopen();
  }

 private:
  std::atomic<bool>* fail_;
  std::atomic<bool>* fail_write_;
  std::atomic<bool>* fail_sync_;
};

// A participant's client: its identity, a CURVE connection, a signer.
struct Client {
  Identity identity;
  std::unique_ptr<DealerClient> conn;
  std::unique_ptr<EnvelopeSigner> signer;
};

class GatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log_sink_ = std::make_shared<spdlog::sinks::ostream_sink_mt>(log_text_);
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", log_sink_));
    ::chmod(dir_.path().c_str(), 0700);
    keys_dir_ = dir_.File("keys");
    registry_dir_ = dir_.File("registry");
    std::filesystem::create_directories(keys_dir_);
    std::filesystem::create_directories(registry_dir_);
    ::chmod(keys_dir_.c_str(), 0700);
    ::chmod(registry_dir_.c_str(), 0700);
    enrolment_ = Make("enrolment-hvb", ParticipantKind::kEnrolment, "", false);
    Make("gateway", ParticipantKind::kGateway, "", true);
    Make("regisseur-01", ParticipantKind::kCoordinator, "veiligheidsteam", true);
    Make("regisseur-02", ParticipantKind::kCoordinator, "veiligheidsteam", true);
    Make("politie-agent", ParticipantKind::kAgent, "politie", true);
    Make("ggz-agent", ParticipantKind::kAgent, "ggz", true);
    Make("onbekend", ParticipantKind::kAgent, "politie", false);  // never enrolled
    Make("fg-hvb", ParticipantKind::kPrivacyOfficer, "", true);
    Make("vt-01", ParticipantKind::kCoordinator, "veilig-thuis", true);  // refers (issue 14)
    Make("wijk-01", ParticipantKind::kCoordinator, "gemeente", true);    // takes cases over
    ASSERT_OK(Registry::Sign(
        registry_dir_, identities_.at("enrolment-hvb").signing().secret_key,
        {{"regisseur-01", "casusregisseur"}, {"vt-01", "vt-medewerker"}, {"wijk-01", "casuscoordinator"}},
        "hart-van-brabant", kNow));
    auto reg = Registry::Load(registry_dir_, identities_.at("enrolment-hvb").signing().public_key);
    ASSERT_THAT(reg, IsOk());
    for (const auto& [id, e] : reg->entries()) resolver_.Add(id, e.card.signing_key);

    config_.listen = "tcp://127.0.0.1:*";
    config_.identity = IdentityFilePath(keys_dir_, "gateway");
    config_.registry = registry_dir_;
    config_.enrolment_card = CardFilePath(keys_dir_, "enrolment-hvb");
    config_.policy = testing::SourceDir() + "/policy/examples/veiligheidsteam-hvb.yaml";
    config_.data_dir = dir_.File("data");
    config_.log_origin = "ketenpoort.test/audit";
    StartGateway();
  }

  void TearDown() override {
    clients_.clear();
    StopGateway();
    if (HasFailure()) std::cerr << "gateway log:\n" << log_text_.str();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("null"));
  }

  std::string Make(const std::string& id, ParticipantKind kind, const std::string& partner, bool enrol) {
    auto idn = Identity::Generate(id, kind, partner, kNow);
    EXPECT_THAT(idn, IsOk());
    EXPECT_OK(WriteIdentityFiles(keys_dir_, *idn));
    if (enrol) {
      EXPECT_OK(WriteFileDurable(CardFilePath(registry_dir_, id), idn->MakeCard().ToYaml(), 0644,
                                 WriteMode::kCreateExclusive));
    }
    identities_.emplace(id, std::move(idn).value());
    return id;
  }

  void StartGateway() {
    StartupOptions options;  // the gateway's own start-up, with a log that can be made to fail
    options.wrap_audit = [this](std::unique_ptr<AuditTrail> real) -> std::unique_ptr<AuditTrail> {
      return std::make_unique<SwitchableAuditTrail>(std::move(real), &fail_audit_, &fail_write_, &fail_sync_);
    };
    auto g = Gateway::Create(config_, clock_, std::move(options));
    ASSERT_THAT(g, IsOk());
    gateway_ = std::move(g).value();
    endpoint_ = gateway_->endpoint();
    config_.listen = endpoint_;  // a restart binds the same port
    thread_ = std::thread([this] { EXPECT_OK(gateway_->Run()); });
  }

  void StopGateway() {
    if (!gateway_) return;
    gateway_->RequestStop();
    thread_.join();
    gateway_.reset();
  }

  Client& Connect(const std::string& id) {
    Client c{Identity::LoadFile(IdentityFilePath(keys_dir_, id)).value(), nullptr, nullptr};
    DealerOptions options;
    options.endpoint = endpoint_;
    options.server_public_key = identities_.at("gateway").transport().public_key;
    auto conn = DealerClient::Create(context_.get(), c.identity.transport().public_key,
                                     c.identity.transport().secret_key, options);
    EXPECT_THAT(conn, IsOk());
    c.conn = std::move(conn).value();
    clients_.erase(id);
    auto& stored = clients_.emplace(id, std::move(c)).first->second;
    stored.signer = std::make_unique<EnvelopeSigner>(id, stored.identity.signing().secret_key, clock_);
    return stored;
  }

  // Signs and sends; returns the message id.
  std::string Send(Client& c, v1::MessageKind kind, const google::protobuf::Message& body,
                   const std::string& request_id = "", std::string* bytes_out = nullptr) {
    auto m = c.signer->Sign(kind, "", request_id, body.SerializeAsString());
    EXPECT_THAT(m, IsOk());
    EXPECT_OK(c.conn->Send(m->bytes));
    if (bytes_out != nullptr) *bytes_out = m->bytes;
    return m->message_id;
  }

  // The next message other than a heartbeat or (unless `accepted`) an
  // ACCEPTED, verified as signed by `from` (default the gateway). `raw`
  // receives its bytes.
  VerifiedEnvelope Receive(Client& c, const std::string& from = "gateway", std::string* raw = nullptr,
                           bool accepted = false) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kDeadlineMs);
    while (std::chrono::steady_clock::now() < deadline) {
      auto got = c.conn->Receive(200);
      EXPECT_THAT(got, IsOk());
      if (!got.ok() || !got->has_value()) continue;
      EnvelopeVerifier verifier(resolver_, nullptr);
      auto env = verifier.Verify(**got);
      EXPECT_THAT(env, IsOk());
      if (!env.ok() || env->header.kind() == v1::MESSAGE_KIND_HEARTBEAT) continue;
      if (!accepted && env->header.kind() == v1::MESSAGE_KIND_ACCEPTED) continue;
      if (!from.empty()) {
        EXPECT_EQ(env->header.sender(), from);
      }
      if (raw != nullptr) *raw = **got;
      return *env;
    }
    ADD_FAILURE() << "no message within the deadline";
    return {};
  }

  // Nothing but heartbeats (and acceptances) for a short while.
  void ExpectNothing(Client& c, int ms = 300) {
    auto got = c.conn->Receive(ms);
    while (got.ok() && got->has_value()) {
      EnvelopeVerifier verifier(resolver_, nullptr);
      auto env = verifier.Verify(**got);
      ASSERT_THAT(env, IsOk());
      EXPECT_TRUE(env->header.kind() == v1::MESSAGE_KIND_HEARTBEAT ||
                  env->header.kind() == v1::MESSAGE_KIND_ACCEPTED)
          << "unexpected " << wire::KindLabel(env->header.kind());
      got = c.conn->Receive(ms);
    }
  }

  // A coordinator makes itself known with an inbox fetch (a round trip) and
  // gets what was held for it.
  std::vector<std::string> Announce(Client& c) {
    std::vector<std::string> held;
    Send(c, v1::MESSAGE_KIND_INBOX_FETCH, v1::InboxFetch());
    while (true) {
      std::string raw;
      VerifiedEnvelope env = Receive(c, "", &raw);
      if (env.header.kind() == v1::MESSAGE_KIND_CASE_RESULT ||
          env.header.kind() == v1::MESSAGE_KIND_UNSPECIFIED) {
        return held;
      }
      held.push_back(raw);
    }
  }

  template <typename T>
  T Body(const VerifiedEnvelope& env, v1::MessageKind kind) {
    EXPECT_EQ(env.header.kind(), kind) << "got " << wire::KindLabel(env.header.kind());
    T body;
    EXPECT_OK(ParseBody(env.body, body));
    return body;
  }

  // The head of each case's chain as its coordinator signed it (protocol §3.5).
  struct Head {
    std::string hash;
    uint64_t length = 0;
  };
  std::map<std::string, Head> heads_;
  const v1::Subject victim_ =
      testing::TestSubject("S1", v1::SUBJECT_ROLE_VICTIM, kCanaryBsn, "Fictief Persoon");

  // Sets the command's place in its case's chain (previous, sequence).
  void Chain(v1::CaseCommand& cmd) {
    if (cmd.has_open()) return;
    cmd.set_previous(heads_[cmd.case_id()].hash);
    cmd.set_sequence(heads_[cmd.case_id()].length);
  }
  // The gateway took a command (its bytes): the case's head moves on.
  void Took(const std::string& case_id, const std::string& bytes) {
    heads_[case_id].hash = cases::CommandHash(bytes);
    ++heads_[case_id].length;
  }

  std::string OpenCase(Client& c) {
    v1::CaseCommand cmd;
    cmd.mutable_open()->set_purpose("plan-van-aanpak");
    *cmd.mutable_open()->add_subjects() = testing::CommittedRef(victim_);
    return Command(c, cmd).case_id();
  }

  v1::CaseResult Command(Client& c, v1::CaseCommand cmd) {
    Chain(cmd);
    std::string bytes;
    Send(c, v1::MESSAGE_KIND_CASE_COMMAND, cmd, "", &bytes);
    auto r = Body<v1::CaseResult>(Receive(c), v1::MESSAGE_KIND_CASE_RESULT);
    if (!r.case_id().empty()) Took(r.case_id(), bytes);
    return r;
  }

  void Admit(Client& c, const std::string& case_id, const std::string& partner) {
    v1::CaseCommand cmd;
    cmd.set_case_id(case_id);
    cmd.mutable_admit()->set_partner(partner);
    Command(c, cmd);
  }

  // A fragment request with the subject's details sealed to the agent.
  std::string Request(Client& c, const std::string& case_id, const std::string& partner,
                      const std::string& category, const std::string& purpose, std::string* raw = nullptr) {
    const std::string request_id = NewMessageId();
    v1::SubjectData subjects;
    subjects.set_case_id(case_id);
    *subjects.add_subjects() = victim_;
    const std::string agent = partner + "-agent";
    auto sealed =
        SignAndSeal(*c.signer, v1::MESSAGE_KIND_SUBJECT_DATA, agent,
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
    auto m = c.signer->Sign(v1::MESSAGE_KIND_FRAGMENT_REQUEST, "", "", req.SerializeAsString(), request_id);
    EXPECT_THAT(m, IsOk());
    EXPECT_OK(c.conn->Send(m->bytes));
    if (raw != nullptr) *raw = m->bytes;
    return request_id;
  }

  // The agent answers an authorisation with a sealed fragment.
  std::string Deliver(Client& agent, const v1::Authorisation& auth, const std::string& request_id,
                      const std::string& category) {
    v1::FragmentContent content;
    auto* cat = content.add_categories();
    cat->set_category(category);
    auto* v = cat->add_records()->add_values();
    v->set_field("datum");
    v->set_value(kCanaryContent);
    auto sealed = SignAndSeal(*agent.signer, v1::MESSAGE_KIND_FRAGMENT_CONTENT, "regisseur-01",
                              identities_.at("regisseur-01").sealing().public_key, request_id,
                              content.SerializeAsString());
    EXPECT_THAT(sealed, IsOk());
    (void)auth;
    v1::FragmentDelivery d;
    d.set_request_id(request_id);
    d.add_categories(category);
    d.set_sealed_content(*sealed);
    std::string raw;
    Send(agent, v1::MESSAGE_KIND_FRAGMENT_DELIVERY, d, request_id, &raw);
    return raw;
  }

  v1::Authorisation ExpectAuthorisation(Client& agent, const std::string& request_id) {
    VerifiedEnvelope env = Receive(agent);
    EXPECT_EQ(env.header.request_id(), request_id);
    EXPECT_EQ(env.header.recipient(), agent.identity.id());
    return Body<v1::Authorisation>(env, v1::MESSAGE_KIND_AUTHORISATION);
  }

  // A coordinator and the police agent online, a case with the police
  // admitted, and a request to them sent (its bytes in `raw`).
  struct Exchange {
    Client* coord;
    Client* agent;
    std::string case_id;
    std::string request_id;
  };
  Exchange StartExchange(std::string* raw = nullptr) {
    Exchange x;
    x.coord = &Connect("regisseur-01");
    x.agent = &Connect("politie-agent");
    Send(*x.agent, v1::MESSAGE_KIND_HEARTBEAT, v1::Heartbeat());
    x.case_id = OpenCase(*x.coord);
    Admit(*x.coord, x.case_id, "politie");
    x.request_id = Request(*x.coord, x.case_id, "politie", "politie-incidenten", "plan-van-aanpak", raw);
    return x;
  }

  // Records of `event` about `request_id` in the gateway's log.
  int Count(v1::AuditEvent event, const std::string& request_id) {
    int n = 0;
    for (const auto& r : AuditRecords()) n += r.event() == event && r.message_id() == request_id;
    return n;
  }

  std::vector<v1::AuditRecord> AuditRecords() {
    std::vector<v1::AuditRecord> out;
    auto reader = audit::LogReader::Open(Gateway::AuditDir(config_));
    EXPECT_THAT(reader, IsOk());
    if (!reader.ok()) return out;
    EXPECT_OK((*reader)->ForEachEntry([&](const audit::LogEntry& e) {
      if (!e.erased) out.push_back(e.record);
      return OkStatus();
    }));
    return out;
  }

  testing::TempDir dir_;
  std::string keys_dir_, registry_dir_;
  std::ostringstream log_text_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> log_sink_;
  std::string enrolment_;
  std::map<std::string, Identity> identities_;
  StaticKeyResolver resolver_;
  ManualClock clock_{kNow};
  GatewayConfig config_;
  std::atomic<bool> fail_audit_{false};
  std::atomic<bool> fail_write_{false};
  std::atomic<bool> fail_sync_{false};
  std::unique_ptr<Gateway> gateway_;
  std::thread thread_;
  std::string endpoint_;
  TransportContext context_;
  std::map<std::string, Client> clients_;
};

TEST_F(GatewayTest, UnknownKeyIsRefusedAtTheHandshake) {
  Client& c = Connect("onbekend");
  EXPECT_EQ(c.conn->WaitForHandshake(kDeadlineMs), ConnectionState::kRefused);
}

TEST_F(GatewayTest, AFullExchangeGoesThroughWithTheRequestByteForByte) {
  Client& coord = Connect("regisseur-01");
  Client& agent = Connect("politie-agent");
  v1::Heartbeat hello;
  Send(agent, v1::MESSAGE_KIND_HEARTBEAT, hello);  // the agent announces itself
  const std::string case_id = OpenCase(coord);
  EXPECT_EQ(case_id, "VT-2026-0001");
  Admit(coord, case_id, "politie");
  std::string request_bytes;
  const std::string request_id =
      Request(coord, case_id, "politie", "politie-incidenten", "plan-van-aanpak", &request_bytes);

  v1::Authorisation auth = ExpectAuthorisation(agent, request_id);
  EXPECT_EQ(auth.request_envelope(), request_bytes);  // the coordinator's own signature travels along
  EXPECT_EQ(auth.decision().effect(), v1::EFFECT_PERMIT);
  EXPECT_EQ(auth.decision().rule_ids(0), "R-POL-01");
  ASSERT_EQ(auth.decision().obligations().allowed_fields_size(), 1);
  EXPECT_EQ(auth.decision().obligations().allowed_fields(0).fields_size(), 4);  // wapens-aanwezig dropped
  EXPECT_EQ(auth.decision().obligations().retention_days(), 180u);
  EXPECT_EQ(auth.expires_at_ms(), kNow + config_.request_expiry_ms);

  const std::string delivery = Deliver(agent, auth, request_id, "politie-incidenten");
  std::string forwarded;
  VerifiedEnvelope got = Receive(coord, "politie-agent", &forwarded);
  EXPECT_EQ(forwarded, delivery);  // forwarded unchanged: the gateway cannot alter it
  auto receipt = Body<v1::Receipt>(Receive(agent), v1::MESSAGE_KIND_RECEIPT);
  EXPECT_GT(receipt.audit_index(), 0u);
  EXPECT_NE(receipt.checkpoint().find("ketenpoort.test/audit"), std::string::npos);

  // The coordinator can open what the gateway could not.
  v1::FragmentDelivery d;
  ASSERT_OK(ParseBody(got.body, d));
  auto content =
      OpenAndVerify(identities_.at("regisseur-01").sealing(), resolver_, d.sealed_content(),
                    {v1::MESSAGE_KIND_FRAGMENT_CONTENT, "regisseur-01", request_id, "politie-agent"});
  ASSERT_THAT(content, IsOk());
  EXPECT_NE(content->body.find(kCanaryContent), std::string::npos);

  // The log shows the whole story, before each step was forwarded.
  std::vector<v1::AuditEvent> events;
  for (const auto& r : AuditRecords()) events.push_back(r.event());
  EXPECT_THAT(events, ::testing::ElementsAre(v1::AUDIT_EVENT_POLICY_LOADED, v1::AUDIT_EVENT_CASE_OPENED,
                                             v1::AUDIT_EVENT_PARTNER_ADMITTED, v1::AUDIT_EVENT_DECISION,
                                             v1::AUDIT_EVENT_FORWARDED, v1::AUDIT_EVENT_DELIVERED));
}

// Issue 17 §1: the delivery's record says on its own for which purpose,
// under which basis, in which phase, by which rules and policy version, with
// which categories (class and regime) and retention it was disclosed.
TEST_F(GatewayTest, DeliveryRecordCarriesWhatWasDecided) {
  Exchange x = StartExchange();
  v1::Authorisation auth = ExpectAuthorisation(*x.agent, x.request_id);
  Deliver(*x.agent, auth, x.request_id, "politie-incidenten");
  Receive(*x.coord, "politie-agent");
  Body<v1::Receipt>(Receive(*x.agent), v1::MESSAGE_KIND_RECEIPT);
  const v1::AuditRecord* decision = nullptr;
  const v1::AuditRecord* delivered = nullptr;
  std::vector<v1::AuditRecord> records = AuditRecords();
  for (const auto& r : records) {
    if (r.message_id() != x.request_id) continue;
    if (r.event() == v1::AUDIT_EVENT_DECISION) decision = &r;
    if (r.event() == v1::AUDIT_EVENT_DELIVERED) delivered = &r;
  }
  ASSERT_NE(decision, nullptr);
  ASSERT_NE(delivered, nullptr);
  EXPECT_EQ(decision->decision().policy_version(), "veiligheidsteam-hvb 2026.1-example");
  EXPECT_EQ(decision->decision().justification(), v1::AUDIT_JUSTIFICATION_NONE);  // R-POL-01: member only
  for (const v1::AuditRecord* r : {decision, delivered}) {
    SCOPED_TRACE(v1::AuditEvent_Name(r->event()));
    EXPECT_EQ(r->purpose(), "plan-van-aanpak");
    EXPECT_EQ(r->legal_basis(), "wpg-art-20");
    EXPECT_FALSE(r->phase().empty());
    EXPECT_EQ(r->phase(), decision->phase());
    ASSERT_EQ(r->decision().rule_ids_size(), 1);
    EXPECT_EQ(r->decision().rule_ids(0), "R-POL-01");
    EXPECT_EQ(r->decision().verdict(), v1::AUDIT_VERDICT_PERMIT);
    EXPECT_EQ(r->decision().policy_version(), decision->decision().policy_version());
    EXPECT_EQ(r->decision().policy_sha256(), decision->decision().policy_sha256());
    EXPECT_EQ(r->decision().obligations().retention_days(), 180u);
    EXPECT_TRUE(r->decision().obligations().no_onward_sharing());
    ASSERT_EQ(r->categories_size(), 1);
    EXPECT_EQ(r->categories(0).name(), "politie-incidenten");
    EXPECT_EQ(r->categories(0).data_class(), v1::DATA_CLASS_CRIMINAL_ART10);
    EXPECT_EQ(r->categories(0).regime(), v1::DATA_REGIME_POLICE_JUSTICE);
  }
}

TEST_F(GatewayTest, SigningAsAnotherParticipantIsRefused) {
  Client& agent = Connect("politie-agent");
  // Authenticated as politie-agent, but the envelope is signed by the coordinator.
  EnvelopeSigner forger("regisseur-01", identities_.at("regisseur-01").signing().secret_key, clock_);
  v1::CaseCommand cmd;
  cmd.mutable_open()->set_purpose("plan-van-aanpak");
  auto m = forger.Sign(v1::MESSAGE_KIND_CASE_COMMAND, "", "", cmd.SerializeAsString());
  ASSERT_OK(agent.conn->Send(m->bytes));
  auto err = Body<v1::Error>(Receive(agent), v1::MESSAGE_KIND_ERROR);
  EXPECT_EQ(err.code(), v1::ERROR_CODE_UNAUTHENTICATED);
  EXPECT_NE(err.message().find("signed by"), std::string::npos) << err.message();
}

TEST_F(GatewayTest, ReplayIsRefused) {
  Client& coord = Connect("regisseur-01");
  v1::CaseCommand cmd;
  cmd.mutable_open()->set_purpose("plan-van-aanpak");
  *cmd.mutable_open()->add_subjects() = testing::CommittedRef(victim_);
  std::string bytes;
  Send(coord, v1::MESSAGE_KIND_CASE_COMMAND, cmd, "", &bytes);
  Body<v1::CaseResult>(Receive(coord), v1::MESSAGE_KIND_CASE_RESULT);
  ASSERT_OK(coord.conn->Send(bytes));
  auto err = Body<v1::Error>(Receive(coord), v1::MESSAGE_KIND_ERROR);
  EXPECT_EQ(err.code(), v1::ERROR_CODE_UNAUTHENTICATED);
  EXPECT_NE(err.message().find("replay"), std::string::npos) << err.message();
}

TEST_F(GatewayTest, RequestsOnAnUnknownOrClosedCaseAreRefused) {
  Client& coord = Connect("regisseur-01");
  Request(coord, "VT-2026-0999", "politie", "politie-incidenten", "plan-van-aanpak");
  auto r1 = Body<v1::Refusal>(Receive(coord), v1::MESSAGE_KIND_REFUSAL);
  EXPECT_NE(r1.reason().find("does not exist"), std::string::npos) << r1.reason();

  const std::string case_id = OpenCase(coord);
  Admit(coord, case_id, "politie");
  v1::CaseCommand close;
  close.set_case_id(case_id);
  close.mutable_close()->set_reason_code("veiligheid-hersteld");
  EXPECT_EQ(Command(coord, close).phase(), "gesloten");
  Request(coord, case_id, "politie", "politie-incidenten", "plan-van-aanpak");
  auto r2 = Body<v1::Refusal>(Receive(coord), v1::MESSAGE_KIND_REFUSAL);
  EXPECT_NE(r2.reason().find("closed"), std::string::npos) << r2.reason();
  EXPECT_EQ(r2.refused_by(), v1::REFUSED_BY_GATEWAY);
}

TEST_F(GatewayTest, PolicyRefusalCarriesTheReasonAndConsentMakesItAllowed) {
  Client& coord = Connect("regisseur-01");
  Client& agent = Connect("ggz-agent");
  Send(agent, v1::MESSAGE_KIND_HEARTBEAT, v1::Heartbeat());
  const std::string case_id = OpenCase(coord);
  Admit(coord, case_id, "ggz");
  Request(coord, case_id, "ggz", "ggz-in-zorg", "plan-van-aanpak");
  auto refusal = Body<v1::Refusal>(Receive(coord), v1::MESSAGE_KIND_REFUSAL);
  EXPECT_THAT(refusal.rule_ids(), ::testing::Contains("R-GGZ-01"));
  EXPECT_NE(refusal.reason().find("consent"), std::string::npos) << refusal.reason();
  ExpectNothing(agent);

  v1::CaseCommand consent;
  consent.set_case_id(case_id);
  consent.mutable_record_consent()->set_subject_ref("S1");
  consent.mutable_record_consent()->set_purpose("plan-van-aanpak");
  consent.mutable_record_consent()->set_valid_until_ms(kNow + 86'400'000);
  Command(coord, consent);
  const std::string request_id = Request(coord, case_id, "ggz", "ggz-in-zorg", "plan-van-aanpak");
  EXPECT_EQ(ExpectAuthorisation(agent, request_id).decision().rule_ids(0), "R-GGZ-01");
}

TEST_F(GatewayTest, TheAuthorisationCarriesTheCasesWholeSignedHistory) {
  Client& coord = Connect("regisseur-01");
  Client& agent = Connect("ggz-agent");
  Send(agent, v1::MESSAGE_KIND_HEARTBEAT, v1::Heartbeat());
  const std::string case_id = OpenCase(coord);
  Admit(coord, case_id, "ggz");
  Admit(coord, case_id, "politie");
  v1::CaseCommand phase;
  phase.set_case_id(case_id);
  phase.mutable_change_phase()->set_phase("stabiele-veiligheid");
  Command(coord, phase);
  v1::CaseCommand consent;
  consent.set_case_id(case_id);
  consent.mutable_record_consent()->set_subject_ref("S1");
  consent.mutable_record_consent()->set_purpose("plan-van-aanpak");
  consent.mutable_record_consent()->set_valid_until_ms(kNow + 86'400'000);
  Command(coord, consent);
  const std::string request_id = Request(coord, case_id, "ggz", "ggz-in-zorg", "plan-van-aanpak");
  v1::Authorisation auth = ExpectAuthorisation(agent, request_id);
  // Every command, in order, byte for byte as the coordinator signed it,
  // ending at the head the request names (protocol §3.5).
  ASSERT_EQ(auth.case_evidence_size(), 5);
  std::string previous;
  for (int i = 0; i < auth.case_evidence_size(); ++i) {
    VerifyOptions want;
    want.expected_kind = v1::MESSAGE_KIND_CASE_COMMAND;
    want.expected_sender = "regisseur-01";
    auto env = EnvelopeVerifier(resolver_, nullptr).Verify(auth.case_evidence(i), want);
    ASSERT_THAT(env, IsOk());
    v1::CaseCommand cmd;
    ASSERT_OK(ParseBody(env->body, cmd));
    EXPECT_EQ(cmd.sequence(), static_cast<uint64_t>(i));
    EXPECT_EQ(cmd.previous(), previous);
    previous = cases::CommandHash(auth.case_evidence(i));
  }
  EXPECT_EQ(previous, heads_[case_id].hash);
  EXPECT_EQ(auth.case_phase(), "stabiele-veiligheid");
}

TEST_F(GatewayTest, TheCoordinatorFetchesTheCasesHistoryAndNobodyElseDoes) {
  Client& coord = Connect("regisseur-01");
  const std::string case_id = OpenCase(coord);
  Admit(coord, case_id, "politie");
  v1::CaseFetch fetch;
  fetch.set_case_id(case_id);
  const std::string id = Send(coord, v1::MESSAGE_KIND_CASE_FETCH, fetch);
  VerifiedEnvelope env = Receive(coord);
  EXPECT_EQ(env.header.request_id(), id);
  auto chain = Body<v1::CaseChain>(env, v1::MESSAGE_KIND_CASE_CHAIN);
  EXPECT_EQ(chain.length(), 2u);
  ASSERT_EQ(chain.commands_size(), 2);
  EXPECT_EQ(cases::CommandHash(chain.commands(1)), heads_[case_id].hash);
  fetch.set_from(1);
  Send(coord, v1::MESSAGE_KIND_CASE_FETCH, fetch);
  EXPECT_EQ(Body<v1::CaseChain>(Receive(coord), v1::MESSAGE_KIND_CASE_CHAIN).commands_size(), 1);

  Client& other = Connect("regisseur-02");
  Send(other, v1::MESSAGE_KIND_CASE_FETCH, fetch);
  auto err = Body<v1::Error>(Receive(other), v1::MESSAGE_KIND_ERROR);
  EXPECT_EQ(err.code(), v1::ERROR_CODE_PERMISSION_DENIED);
}

TEST_F(GatewayTest, ACommandSignedOnAnOldHeadIsRefused) {
  Client& coord = Connect("regisseur-01");
  const std::string case_id = OpenCase(coord);
  const Head before = heads_[case_id];
  Admit(coord, case_id, "politie");
  v1::CaseCommand phase;  // signed as if the admission had not happened
  phase.set_case_id(case_id);
  phase.mutable_change_phase()->set_phase("herstel");
  phase.set_previous(before.hash);
  phase.set_sequence(before.length);
  Send(coord, v1::MESSAGE_KIND_CASE_COMMAND, phase);
  auto err = Body<v1::Error>(Receive(coord), v1::MESSAGE_KIND_ERROR);
  EXPECT_EQ(err.code(), v1::ERROR_CODE_FAILED_PRECONDITION);
  EXPECT_NE(err.message().find("has changed since this command was signed"), std::string::npos)
      << err.message();
  // A request signed on the old head is refused too.
  Head now = heads_[case_id];
  heads_[case_id] = before;
  Request(coord, case_id, "politie", "politie-incidenten", "plan-van-aanpak");
  heads_[case_id] = now;
  auto r = Body<v1::Refusal>(Receive(coord), v1::MESSAGE_KIND_REFUSAL);
  EXPECT_NE(r.reason().find("has changed since your last look"), std::string::npos) << r.reason();
}

TEST_F(GatewayTest, ARequestAboutASubjectTheCaseNeverCommittedToIsRefused) {
  Client& coord = Connect("regisseur-01");
  const std::string case_id = OpenCase(coord);
  Admit(coord, case_id, "politie");
  for (const auto& [ref, role, expect] : std::vector<std::tuple<std::string, v1::SubjectRole, std::string>>{
           {"S9", v1::SUBJECT_ROLE_VICTIM, "has no subject S9"},
           {"S1", v1::SUBJECT_ROLE_UNSPECIFIED, "has no role"},
           {"S1", v1::SUBJECT_ROLE_HOUSEMATE, "another role"}}) {
    SCOPED_TRACE(ref);
    const std::string request_id = NewMessageId();
    v1::FragmentRequest req;
    req.set_case_id(case_id);
    req.set_source_partner("politie");
    req.add_categories("politie-incidenten");
    req.set_purpose("plan-van-aanpak");
    req.add_subjects()->set_ref(ref);
    req.mutable_subjects(0)->set_role(role);
    req.set_sealed_subjects(std::string(100, 'x'));  // whatever is sealed: the gateway refuses first
    req.set_case_head(heads_[case_id].hash);
    req.set_case_length(heads_[case_id].length);
    auto m =
        coord.signer->Sign(v1::MESSAGE_KIND_FRAGMENT_REQUEST, "", "", req.SerializeAsString(), request_id);
    ASSERT_THAT(m, IsOk());
    ASSERT_OK(coord.conn->Send(m->bytes));
    auto refusal = Body<v1::Refusal>(Receive(coord), v1::MESSAGE_KIND_REFUSAL);
    EXPECT_NE(refusal.reason().find(expect), std::string::npos) << refusal.reason();
  }
}

TEST_F(GatewayTest, OnlyTheCaseCoordinatorMayChangeTheCase) {
  Client& coord = Connect("regisseur-01");
  Client& other = Connect("regisseur-02");  // enrolled, but no role the policy lets coordinate
  const std::string case_id = OpenCase(coord);
  v1::CaseCommand admit;
  admit.set_case_id(case_id);
  admit.mutable_admit()->set_partner("politie");
  Chain(admit);  // on the right head, but not the case's coordinator
  Send(other, v1::MESSAGE_KIND_CASE_COMMAND, admit);
  auto err = Body<v1::Error>(Receive(other), v1::MESSAGE_KIND_ERROR);
  EXPECT_EQ(err.code(), v1::ERROR_CODE_PERMISSION_DENIED);
  EXPECT_NE(err.message().find("only the coordinator of case"), std::string::npos) << err.message();
  // Nor may it open a case of its own.
  v1::CaseCommand open;
  open.mutable_open()->set_purpose("plan-van-aanpak");
  *open.mutable_open()->add_subjects() = testing::CommittedRef(victim_);
  Send(other, v1::MESSAGE_KIND_CASE_COMMAND, open);
  err = Body<v1::Error>(Receive(other), v1::MESSAGE_KIND_ERROR);
  EXPECT_EQ(err.code(), v1::ERROR_CODE_PERMISSION_DENIED);
  EXPECT_NE(err.message().find("may not open cases"), std::string::npos) << err.message();
}

TEST_F(GatewayTest, AnAgentsOwnKindIsEnforced) {
  Client& agent = Connect("politie-agent");
  v1::CaseCommand cmd;
  cmd.mutable_open()->set_purpose("plan-van-aanpak");
  Send(agent, v1::MESSAGE_KIND_CASE_COMMAND, cmd);
  auto err = Body<v1::Error>(Receive(agent), v1::MESSAGE_KIND_ERROR);
  EXPECT_EQ(err.code(), v1::ERROR_CODE_PERMISSION_DENIED);
}

TEST_F(GatewayTest, ARequestWaitsForAnOfflineAgentAndIsDeliveredWhenItConnects) {
  Client& coord = Connect("regisseur-01");
  const std::string case_id = OpenCase(coord);
  Admit(coord, case_id, "politie");
  const std::string request_id = Request(coord, case_id, "politie", "politie-incidenten", "plan-van-aanpak");
  ExpectNothing(coord);         // no refusal: it waits
  clock_.Advance(10 * 60'000);  // ten minutes later the agent comes online
  Client& agent = Connect("politie-agent");
  Send(agent, v1::MESSAGE_KIND_HEARTBEAT, v1::Heartbeat());
  v1::Authorisation auth = ExpectAuthorisation(agent, request_id);  // signed fresh, not stale
  const std::string delivery = Deliver(agent, auth, request_id, "politie-incidenten");
  Body<v1::Receipt>(Receive(agent), v1::MESSAGE_KIND_RECEIPT);
  // The coordinator, silent for ten minutes, counts as offline: it is held.
  EXPECT_THAT(Announce(coord), ::testing::ElementsAre(delivery));
}

TEST_F(GatewayTest, AnUnansweredRequestExpiresWithANoticeToTheCoordinator) {
  Client& coord = Connect("regisseur-01");
  const std::string case_id = OpenCase(coord);
  Admit(coord, case_id, "politie");
  const std::string request_id = Request(coord, case_id, "politie", "politie-incidenten", "plan-van-aanpak");
  ExpectNothing(coord);
  clock_.Advance(config_.request_expiry_ms + 1000);
  auto notice = Body<v1::Refusal>(Receive(coord), v1::MESSAGE_KIND_REFUSAL);
  EXPECT_EQ(notice.request_id(), request_id);
  EXPECT_NE(notice.reason().find("expired"), std::string::npos) << notice.reason();
  bool audited = false;
  for (const auto& r : AuditRecords()) audited |= r.event() == v1::AUDIT_EVENT_EXPIRED;
  EXPECT_TRUE(audited);
}

TEST_F(GatewayTest, AFragmentForAnOfflineCoordinatorWaitsInItsInbox) {
  Client* coord = &Connect("regisseur-01");
  Client& agent = Connect("politie-agent");
  Send(agent, v1::MESSAGE_KIND_HEARTBEAT, v1::Heartbeat());
  const std::string case_id = OpenCase(*coord);
  Admit(*coord, case_id, "politie");
  const std::string request_id = Request(*coord, case_id, "politie", "politie-incidenten", "plan-van-aanpak");
  v1::Authorisation auth = ExpectAuthorisation(agent, request_id);
  clients_.erase("regisseur-01");  // the coordinator goes offline
  clock_.Advance(config_.peer_timeout_ms + 1000);
  Send(agent, v1::MESSAGE_KIND_HEARTBEAT, v1::Heartbeat());
  // The gateway notices the coordinator is gone before the fragment arrives.
  ExpectNothing(agent, 1500);
  const std::string delivery = Deliver(agent, auth, request_id, "politie-incidenten");
  Body<v1::Receipt>(Receive(agent), v1::MESSAGE_KIND_RECEIPT);

  coord = &Connect("regisseur-01");
  Send(*coord, v1::MESSAGE_KIND_INBOX_FETCH, v1::InboxFetch());
  std::string held;
  Receive(*coord, "politie-agent", &held);
  EXPECT_EQ(held, delivery);
  auto end = Body<v1::CaseResult>(Receive(*coord), v1::MESSAGE_KIND_CASE_RESULT);
  EXPECT_TRUE(end.case_id().empty());
}

TEST_F(GatewayTest, AnAnswerIsHeldUntilTheCoordinatorAcknowledgesIt) {
  Client& coord = Connect("regisseur-01");
  Client& agent = Connect("politie-agent");
  Send(agent, v1::MESSAGE_KIND_HEARTBEAT, v1::Heartbeat());
  const std::string case_id = OpenCase(coord);
  Admit(coord, case_id, "politie");
  const std::string request_id = Request(coord, case_id, "politie", "politie-incidenten", "plan-van-aanpak");
  v1::Authorisation auth = ExpectAuthorisation(agent, request_id);
  const std::string delivery = Deliver(agent, auth, request_id, "politie-incidenten");
  Body<v1::Receipt>(Receive(agent), v1::MESSAGE_KIND_RECEIPT);
  std::string live;
  Receive(coord, "politie-agent", &live);  // sent at once: the coordinator is online
  EXPECT_EQ(live, delivery);
  // Not acknowledged (say the coordinator crashed before storing it): it
  // comes again with the next fetch, as often as needed.
  for (int i = 0; i < 2; ++i) EXPECT_THAT(Announce(coord), ::testing::ElementsAre(delivery));
  // An acknowledgement for another request changes nothing; the right one
  // removes the held copy.
  v1::DeliveryAck other;
  other.add_request_ids(std::string(16, '\x42'));
  other.add_request_ids("");  // names nothing: must not match held copies without a request id
  other.add_request_ids(request_id.substr(0, 3));
  Send(coord, v1::MESSAGE_KIND_DELIVERY_ACK, other);
  EXPECT_THAT(Announce(coord), ::testing::ElementsAre(delivery));
  v1::DeliveryAck ack;
  ack.add_request_ids(request_id);
  Send(coord, v1::MESSAGE_KIND_DELIVERY_ACK, ack);
  EXPECT_THAT(Announce(coord), ::testing::IsEmpty());
  // An agent cannot acknowledge for a coordinator: that kind from it is refused.
  Send(agent, v1::MESSAGE_KIND_DELIVERY_ACK, ack);
  Body<v1::Error>(Receive(agent), v1::MESSAGE_KIND_ERROR);
}

TEST_F(GatewayTest, AnAcceptedRequestIsConfirmedAndARequestSentAgainIsRecognisedNotHandledTwice) {
  std::string raw;
  Exchange x = StartExchange(&raw);
  Client& coord = *x.coord;
  Client& agent = *x.agent;
  const std::string& request_id = x.request_id;
  auto accepted =
      Body<v1::RequestAccepted>(Receive(coord, "gateway", nullptr, true), v1::MESSAGE_KIND_ACCEPTED);
  EXPECT_EQ(accepted.request_id(), request_id);
  EXPECT_FALSE(accepted.answered());
  v1::Authorisation auth = ExpectAuthorisation(agent, request_id);
  EXPECT_EQ(accepted.audit_index(), auth.audit_index());
  // The same bytes again (the coordinator did not see the acceptance): the
  // gateway says it has it, and the agent is not asked twice.
  ASSERT_OK(coord.conn->Send(raw));
  auto again = Body<v1::RequestAccepted>(Receive(coord, "gateway", nullptr, true), v1::MESSAGE_KIND_ACCEPTED);
  EXPECT_EQ(again.audit_index(), accepted.audit_index());
  EXPECT_FALSE(again.answered());
  ExpectNothing(agent);
  const std::string delivery = Deliver(agent, auth, request_id, "politie-incidenten");
  Body<v1::Receipt>(Receive(agent), v1::MESSAGE_KIND_RECEIPT);
  std::string live;
  Receive(coord, "politie-agent", &live);
  // Sent again after the answer: answered, and the held answer comes with it.
  ASSERT_OK(coord.conn->Send(raw));
  std::string held;
  Receive(coord, "politie-agent", &held);
  EXPECT_EQ(held, delivery);
  EXPECT_TRUE(Body<v1::RequestAccepted>(Receive(coord, "gateway", nullptr, true), v1::MESSAGE_KIND_ACCEPTED)
                  .answered());
  ExpectNothing(agent);
  EXPECT_EQ(Count(v1::AUDIT_EVENT_DECISION, request_id), 1);
  // Another coordinator cannot learn about it by sending its bytes: they
  // do not verify as its own.
  Client& other = Connect("regisseur-02");
  ASSERT_OK(other.conn->Send(raw));
  Body<v1::Error>(Receive(other), v1::MESSAGE_KIND_ERROR);
}

TEST_F(GatewayTest, AnAnswerSentAgainGetsItsReceiptAgainAndReachesTheCoordinatorOnce) {
  Exchange x = StartExchange();
  Client& coord = *x.coord;
  Client& agent = *x.agent;
  const std::string& request_id = x.request_id;
  v1::Authorisation auth = ExpectAuthorisation(agent, request_id);
  const std::string first = Deliver(agent, auth, request_id, "politie-incidenten");
  auto receipt = Body<v1::Receipt>(Receive(agent), v1::MESSAGE_KIND_RECEIPT);
  std::string live;
  Receive(coord, "politie-agent", &live);
  EXPECT_EQ(live, first);
  // The agent never saw that receipt (a crash, a lost connection): it sends
  // the answer again, in a new envelope.
  Deliver(agent, auth, request_id, "politie-incidenten");
  auto again = Body<v1::Receipt>(Receive(agent), v1::MESSAGE_KIND_RECEIPT);
  EXPECT_EQ(again.audit_index(), receipt.audit_index());
  EXPECT_THAT(Announce(coord), ::testing::ElementsAre(first));  // one copy held, the first
  EXPECT_EQ(Count(v1::AUDIT_EVENT_DELIVERED, request_id), 1);
}

TEST_F(GatewayTest, AnAnswerAfterTheRequestExpiredIsRefusedAsExpired) {
  Exchange x = StartExchange();
  Client& coord = *x.coord;
  Client& agent = *x.agent;
  const std::string& request_id = x.request_id;
  v1::Authorisation auth = ExpectAuthorisation(agent, request_id);
  clock_.Advance(config_.request_expiry_ms + 1000);
  Send(agent, v1::MESSAGE_KIND_HEARTBEAT, v1::Heartbeat());
  Body<v1::Refusal>(Receive(coord), v1::MESSAGE_KIND_REFUSAL);  // the expiry notice
  Deliver(agent, auth, request_id, "politie-incidenten");
  auto err = Body<v1::Error>(Receive(agent), v1::MESSAGE_KIND_ERROR);
  EXPECT_EQ(err.code(), v1::ERROR_CODE_FAILED_PRECONDITION);
  EXPECT_NE(err.message().find("expired"), std::string::npos) << err.message();
}

TEST_F(GatewayTest, AnAgentThatReconnectsIsHandedItsWaitingRequestsAgain) {
  Client& coord = Connect("regisseur-01");
  Client* agent = &Connect("politie-agent");
  Send(*agent, v1::MESSAGE_KIND_HEARTBEAT, v1::Heartbeat());
  const std::string case_id = OpenCase(coord);
  Admit(coord, case_id, "politie");
  const std::string request_id = Request(coord, case_id, "politie", "politie-incidenten", "plan-van-aanpak");
  ExpectAuthorisation(*agent, request_id);
  // The agent crashed before it answered; it comes back on a new connection.
  agent = &Connect("politie-agent");
  Send(*agent, v1::MESSAGE_KIND_HEARTBEAT, v1::Heartbeat());
  v1::Authorisation auth = ExpectAuthorisation(*agent, request_id);
  const std::string delivery = Deliver(*agent, auth, request_id, "politie-incidenten");
  Body<v1::Receipt>(Receive(*agent), v1::MESSAGE_KIND_RECEIPT);
  std::string got;
  Receive(coord, "politie-agent", &got);
  EXPECT_EQ(got, delivery);
}

TEST_F(GatewayTest, ARestartInTheMiddleOfACaseLosesNothing) {
  Client& coord = Connect("regisseur-01");
  const std::string case_id = OpenCase(coord);
  Admit(coord, case_id, "politie");
  const std::string request_id = Request(coord, case_id, "politie", "politie-incidenten", "plan-van-aanpak");
  ExpectNothing(coord);
  clients_.clear();
  StopGateway();
  const size_t records_before = AuditRecords().size();
  StartGateway();

  Client& agent = Connect("politie-agent");
  Send(agent, v1::MESSAGE_KIND_HEARTBEAT, v1::Heartbeat());
  v1::Authorisation auth = ExpectAuthorisation(agent, request_id);
  Client& coord2 = Connect("regisseur-01");
  EXPECT_TRUE(Announce(coord2).empty());
  const std::string delivery = Deliver(agent, auth, request_id, "politie-incidenten");
  std::string got;
  Receive(coord2, "politie-agent", &got);
  EXPECT_EQ(got, delivery);
  v1::CaseCommand phase;
  phase.set_case_id(case_id);
  phase.mutable_change_phase()->set_phase("stabiele-veiligheid");
  EXPECT_EQ(Command(coord2, phase).case_id(), case_id);  // the case survived
  EXPECT_GT(AuditRecords().size(), records_before);
}

TEST_F(GatewayTest, IfTheAuditLogFailsNothingIsForwarded) {
  Client& coord = Connect("regisseur-01");
  Client& agent = Connect("politie-agent");
  Send(agent, v1::MESSAGE_KIND_HEARTBEAT, v1::Heartbeat());
  const std::string case_id = OpenCase(coord);
  Admit(coord, case_id, "politie");
  fail_audit_ = true;
  std::string raw;
  const std::string request_id =
      Request(coord, case_id, "politie", "politie-incidenten", "plan-van-aanpak", &raw);
  auto err = Body<v1::Error>(Receive(coord), v1::MESSAGE_KIND_ERROR);
  EXPECT_EQ(err.code(), v1::ERROR_CODE_UNAVAILABLE);
  EXPECT_NE(err.message().find("audit log"), std::string::npos);
  EXPECT_NE(err.message().find("nothing of this message was done"), std::string::npos) << err.message();
  ExpectNothing(agent);
  EXPECT_EQ(Count(v1::AUDIT_EVENT_DECISION, request_id), 0);
  // A case change without its audit record is rolled back too.
  v1::CaseCommand phase;
  phase.set_case_id(case_id);
  phase.mutable_change_phase()->set_phase("herstel");
  Chain(phase);
  Send(coord, v1::MESSAGE_KIND_CASE_COMMAND, phase);
  Body<v1::Error>(Receive(coord), v1::MESSAGE_KIND_ERROR);
  fail_audit_ = false;
  v1::CaseFetch fetch;  // the phase change is not in the case's history
  fetch.set_case_id(case_id);
  Send(coord, v1::MESSAGE_KIND_CASE_FETCH, fetch);
  EXPECT_EQ(Body<v1::CaseChain>(Receive(coord), v1::MESSAGE_KIND_CASE_CHAIN).length(),
            heads_[case_id].length);
  // "Send it again": the same bytes are taken now, not refused as a replay.
  ASSERT_OK(coord.conn->Send(raw));
  auto accepted =
      Body<v1::RequestAccepted>(Receive(coord, "gateway", nullptr, true), v1::MESSAGE_KIND_ACCEPTED);
  EXPECT_EQ(accepted.request_id(), request_id);
  ExpectAuthorisation(agent, request_id);
}

TEST_F(GatewayTest, AnotherCoordinatorCannotTouchARequestByReusingItsId) {
  Exchange x = StartExchange();
  v1::Authorisation auth = ExpectAuthorisation(*x.agent, x.request_id);
  // regisseur-02 sends a request of its own under regisseur-01's request id,
  // made to be refused: it must not close or replace the waiting one.
  Client& other = Connect("regisseur-02");
  v1::FragmentRequest bogus;
  bogus.set_case_id(x.case_id);
  auto m =
      other.signer->Sign(v1::MESSAGE_KIND_FRAGMENT_REQUEST, "", "", bogus.SerializeAsString(), x.request_id);
  ASSERT_THAT(m, IsOk());
  ASSERT_OK(other.conn->Send(m->bytes));
  auto err = Body<v1::Error>(Receive(other), v1::MESSAGE_KIND_ERROR);
  EXPECT_NE(err.message().find("exists already"), std::string::npos) << err.message();
  const std::string delivery = Deliver(*x.agent, auth, x.request_id, "politie-incidenten");
  Body<v1::Receipt>(Receive(*x.agent), v1::MESSAGE_KIND_RECEIPT);
  std::string got;
  Receive(*x.coord, "politie-agent", &got);
  EXPECT_EQ(got, delivery);  // the first coordinator's request was answered as usual
}

TEST_F(GatewayTest, WhenTheLogCannotBeWrittenAnswersWaitNewMessagesAreRefusedAndItRecoversWithoutARestart) {
  Client& coord = Connect("regisseur-01");
  Client& agent = Connect("politie-agent");
  Send(agent, v1::MESSAGE_KIND_HEARTBEAT, v1::Heartbeat());
  const std::string case_id = OpenCase(coord);
  Admit(coord, case_id, "politie");
  fail_write_ = true;  // the state commits, the log cannot be written (a full disk)
  const std::string request_id = Request(coord, case_id, "politie", "politie-incidenten", "plan-van-aanpak");
  ExpectNothing(agent);  // nothing is forwarded on a record that is not in the log
  ExpectNothing(coord);  // not even the acceptance
  EXPECT_FALSE(gateway_->audit_writable());
  // While it cannot write, every new message is refused, and its sender told.
  v1::CaseCommand phase;
  phase.set_case_id(case_id);
  phase.mutable_change_phase()->set_phase("herstel");
  const std::string command_id = Send(coord, v1::MESSAGE_KIND_CASE_COMMAND, phase);
  auto refused = Receive(coord);
  EXPECT_EQ(refused.header.request_id(), command_id);
  auto err = Body<v1::Error>(refused, v1::MESSAGE_KIND_ERROR);
  EXPECT_EQ(err.code(), v1::ERROR_CODE_UNAVAILABLE);
  EXPECT_NE(err.message().find("nothing of this message was done"), std::string::npos) << err.message();
  // Space comes back: the gateway recovers by itself, appends what was
  // committed, and what waited goes out.
  fail_write_ = false;
  auto accepted =
      Body<v1::RequestAccepted>(Receive(coord, "gateway", nullptr, true), v1::MESSAGE_KIND_ACCEPTED);
  EXPECT_EQ(accepted.request_id(), request_id);
  ExpectAuthorisation(agent, request_id);
  EXPECT_TRUE(gateway_->audit_writable());
  EXPECT_EQ(Count(v1::AUDIT_EVENT_DECISION, request_id), 1);
  EXPECT_EQ(Command(coord, phase).phase(), "herstel");  // serving again
}

TEST_F(GatewayTest, WhenTheLogsSyncFailsAfterTheAnswersLeftTheCaseDatabaseGivesTheLogItsRecordsBack) {
  Client& coord = Connect("regisseur-01");
  Client& agent = Connect("politie-agent");
  Send(agent, v1::MESSAGE_KIND_HEARTBEAT, v1::Heartbeat());
  const std::string case_id = OpenCase(coord);
  Admit(coord, case_id, "politie");
  // The admission's answer left before its unit synced the log: a round
  // trip makes sure that sync is done before the disk starts to fail.
  Announce(coord);
  // The unit commits (its records durable in the outbox), writes the log and
  // sends; then the log's fdatasync fails and its unsynced tail is lost.
  fail_sync_ = true;
  const std::string request_id = Request(coord, case_id, "politie", "politie-incidenten", "plan-van-aanpak");
  auto accepted =
      Body<v1::RequestAccepted>(Receive(coord, "gateway", nullptr, true), v1::MESSAGE_KIND_ACCEPTED);
  EXPECT_EQ(accepted.request_id(), request_id);
  ExpectAuthorisation(agent, request_id);
  // The log fails closed: the next message is refused, its sender told.
  v1::CaseCommand phase;
  phase.set_case_id(case_id);
  phase.mutable_change_phase()->set_phase("herstel");
  const std::string command_id = Send(coord, v1::MESSAGE_KIND_CASE_COMMAND, phase);
  auto refused = Receive(coord);
  EXPECT_EQ(refused.header.request_id(), command_id);
  EXPECT_EQ(Body<v1::Error>(refused, v1::MESSAGE_KIND_ERROR).code(), v1::ERROR_CODE_UNAVAILABLE);
  // The disk works again: the log is reopened (its torn tail cut) and the
  // outbox appends the decision again, byte for byte, once.
  fail_sync_ = false;
  Chain(phase);
  std::string phase_now;
  for (int attempt = 0; attempt < 100 && phase_now.empty(); ++attempt) {
    Send(coord, v1::MESSAGE_KIND_CASE_COMMAND, phase);  // as a client sends again
    auto answer = Receive(coord);
    if (answer.header.kind() == v1::MESSAGE_KIND_ERROR) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // it reopens the log with backoff
      continue;
    }
    phase_now = Body<v1::CaseResult>(answer, v1::MESSAGE_KIND_CASE_RESULT).phase();
  }
  EXPECT_EQ(phase_now, "herstel");
  EXPECT_TRUE(gateway_->audit_writable());
  EXPECT_EQ(Count(v1::AUDIT_EVENT_DECISION, request_id), 1);
  audit::VerifyOptions verify;
  auto key = audit::MakeVerifierKey(config_.log_origin, identities_.at("gateway").signing().public_key);
  ASSERT_THAT(key, IsOk());
  verify.key = *key;
  EXPECT_THAT(audit::VerifyLog(Gateway::AuditDir(config_), verify).status, IsOk());
}

TEST_F(GatewayTest, CanariesInContentAndSubjectDataNeverReachTheGatewaysDiskOrLogs) {
  spdlog::default_logger()->set_level(spdlog::level::debug);  // every per-exchange line too
  Client& coord = Connect("regisseur-01");
  Client& agent = Connect("politie-agent");
  Send(agent, v1::MESSAGE_KIND_HEARTBEAT, v1::Heartbeat());
  const std::string case_id = OpenCase(coord);
  Admit(coord, case_id, "politie");
  const std::string request_id = Request(coord, case_id, "politie", "politie-incidenten", "plan-van-aanpak");
  v1::Authorisation auth = ExpectAuthorisation(agent, request_id);
  Deliver(agent, auth, request_id, "politie-incidenten");
  Receive(coord, "politie-agent");
  Body<v1::Receipt>(Receive(agent), v1::MESSAGE_KIND_RECEIPT);
  clients_.clear();
  StopGateway();  // everything flushed
  int files = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(config_.data_dir)) {
    if (!e.is_regular_file()) continue;
    ++files;
    std::ifstream in(e.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(bytes.find(kCanaryBsn), std::string::npos) << e.path();
    EXPECT_EQ(bytes.find(kCanaryContent), std::string::npos) << e.path();
    EXPECT_EQ(bytes.find("Fictief Persoon"), std::string::npos) << e.path();
  }
  EXPECT_GE(files, 3);
  spdlog::default_logger()->flush();
  const std::string logs = log_text_.str();
  EXPECT_NE(logs.find("delivered"), std::string::npos) << "the log sink captured nothing";
  EXPECT_EQ(logs.find(kCanaryBsn), std::string::npos);
  EXPECT_EQ(logs.find(kCanaryContent), std::string::npos);
  EXPECT_EQ(logs.find("Fictief Persoon"), std::string::npos);
}

TEST_F(GatewayTest, ReloadRefusesABadPolicyAndKeepsTheOldOne) {
  const std::string policy_copy = dir_.File("policy.yaml");
  std::filesystem::copy_file(config_.policy, policy_copy);
  clients_.clear();
  StopGateway();
  config_.policy = policy_copy;
  StartGateway();
  ASSERT_OK(WriteFileDurable(policy_copy, "policy: [not, a, policy]\n", 0644, WriteMode::kReplace));
  gateway_->RequestReload();
  Client& coord = Connect("regisseur-01");
  const std::string case_id = OpenCase(coord);  // still served, with the old policy
  EXPECT_FALSE(case_id.empty());
  bool refused_logged = false;
  for (const auto& r : AuditRecords()) {
    refused_logged |=
        r.event() == v1::AUDIT_EVENT_POLICY_LOADED && r.reason().find("refused") != std::string::npos;
  }
  EXPECT_TRUE(refused_logged);
}

TEST_F(GatewayTest, AParticipantRemovedFromTheRegistryIsCutOffOnReload) {
  Client& agent = Connect("politie-agent");
  ASSERT_EQ(agent.conn->WaitForHandshake(kDeadlineMs), ConnectionState::kConnected);
  // The enrolment officer removes the police agent and signs a new registry.
  std::filesystem::remove(CardFilePath(registry_dir_, "politie-agent"));
  ASSERT_OK(Registry::Sign(registry_dir_, identities_.at("enrolment-hvb").signing().secret_key,
                           {{"regisseur-01", "casusregisseur"}}, "hart-van-brabant", kNow));
  gateway_->RequestReload();
  Client& coord = Connect("regisseur-01");
  OpenCase(coord);  // a round trip: the reload has happened
  // Its open connection is no longer listened to, and a new one is refused.
  Send(agent, v1::MESSAGE_KIND_HEARTBEAT, v1::Heartbeat());
  ExpectNothing(agent);
  ASSERT_OK(agent.conn->Reconnect());
  EXPECT_EQ(agent.conn->WaitForHandshake(kDeadlineMs), ConnectionState::kRefused);
  bool audited = false;
  for (const auto& r : AuditRecords())
    audited |= r.reason().find("registry reloaded, serial 2") != std::string::npos;
  EXPECT_TRUE(audited);
}

TEST_F(GatewayTest, APrivacyOfficerPullsTheLogAndVerifiesItWithThePinnedKey) {
  Client& coord = Connect("regisseur-01");
  const std::string case_id = OpenCase(coord);
  Admit(coord, case_id, "politie");
  auto gateway_card = PublicCard::LoadFile(CardFilePath(registry_dir_, "gateway"));
  ASSERT_THAT(gateway_card, IsOk());
  auto conn = client::GatewayConnection::Open(endpoint_, *gateway_card, identities_.at("fg-hvb"), clock_);
  ASSERT_THAT(conn, IsOk());
  const std::string out = dir_.File("pulled");
  auto pulled = client::PullAuditLog(**conn, out, kDeadlineMs);
  ASSERT_THAT(pulled, IsOk());
  EXPECT_GE(pulled->files, 3u);

  audit::VerifyOptions options;
  auto key = audit::MakeVerifierKey("ketenpoort.test/audit", identities_.at("gateway").signing().public_key);
  ASSERT_THAT(key, IsOk());
  options.key = *key;  // pinned, not the copy's own log.vkey
  audit::VerifyReport report = audit::VerifyLog(out, options);
  EXPECT_THAT(report.status, IsOk());
  EXPECT_EQ(report.records, 4u);  // started, opened, admitted, exported
  bool exported = false;
  for (const auto& r : AuditRecords()) {
    exported |= r.event() == v1::AUDIT_EVENT_LOG_EXPORTED && r.actor().participant_id() == "fg-hvb";
  }
  EXPECT_TRUE(exported);
}

TEST_F(GatewayTest, OnlyAPrivacyOfficerMayPullTheLog) {
  auto gateway_card = PublicCard::LoadFile(CardFilePath(registry_dir_, "gateway"));
  auto conn =
      client::GatewayConnection::Open(endpoint_, *gateway_card, identities_.at("regisseur-01"), clock_);
  ASSERT_THAT(conn, IsOk());
  EXPECT_THAT(client::PullAuditLog(**conn, dir_.File("nope"), kDeadlineMs),
              StatusIs(StatusCode::kPermissionDenied, "may not send audit-pull"));
}

// ------------------------------------------------------ issue 14 over the wire

TEST_F(GatewayTest, AReferralCrossesTheGatewayByteForByteAndACaseOpensOnIt) {
  Client& coord = Connect("regisseur-01");
  EXPECT_TRUE(Announce(coord).empty());
  Client& vt = Connect("vt-01");
  EXPECT_TRUE(Announce(vt).empty());
  v1::Referral referral;
  referral.set_reference("VT-MB-2026-0815");
  referral.set_to_partner("veiligheidsteam");
  referral.set_purpose("plan-van-aanpak");
  referral.add_reason_codes("herhaald-geweld");
  *referral.add_subjects() = testing::CommittedRef(victim_);
  v1::SubjectData subjects;
  *subjects.add_subjects() = victim_;
  auto* copy = referral.add_sealed();
  copy->set_participant("regisseur-01");
  std::string bytes;
  const std::string id = NewMessageId();
  {
    auto sealed =
        SignAndSeal(*vt.signer, v1::MESSAGE_KIND_SUBJECT_DATA, "regisseur-01",
                    identities_.at("regisseur-01").sealing().public_key, id, subjects.SerializeAsString());
    ASSERT_THAT(sealed, IsOk());
    copy->set_sealed(*sealed);
    auto m = vt.signer->Sign(v1::MESSAGE_KIND_REFERRAL, "", "", referral.SerializeAsString(), id);
    ASSERT_THAT(m, IsOk());
    bytes = m->bytes;
  }
  ASSERT_OK(vt.conn->Send(bytes));
  auto waiting = Body<v1::ReferralStatus>(Receive(vt), v1::MESSAGE_KIND_REFERRAL_STATUS);
  EXPECT_EQ(waiting.state(), v1::REFERRAL_STATE_WAITING);
  EXPECT_EQ(waiting.referral_id(), id);
  std::string got;
  Receive(coord, "vt-01", &got);  // the referrer's own signature, not the gateway's
  EXPECT_EQ(got, bytes);
  // The same bytes again (the referrer lost the answer): its state, not a replay refusal.
  ASSERT_OK(vt.conn->Send(bytes));
  EXPECT_EQ(Body<v1::ReferralStatus>(Receive(vt), v1::MESSAGE_KIND_REFERRAL_STATUS).state(),
            v1::REFERRAL_STATE_WAITING);
  // Still waiting in the coordinator's inbox until decided.
  EXPECT_THAT(Announce(coord), ::testing::ElementsAre(bytes));

  v1::CaseCommand open;
  open.mutable_open()->set_purpose("plan-van-aanpak");
  *open.mutable_open()->add_subjects() = testing::CommittedRef(victim_);
  open.mutable_open()->set_referral(bytes);
  v1::CaseResult opened = Command(coord, open);
  ASSERT_FALSE(opened.case_id().empty());
  EXPECT_EQ(opened.status().coordinator(), "regisseur-01");
  auto accepted = Body<v1::ReferralStatus>(Receive(vt), v1::MESSAGE_KIND_REFERRAL_STATUS);
  EXPECT_EQ(accepted.state(), v1::REFERRAL_STATE_ACCEPTED);
  EXPECT_EQ(accepted.case_id(), opened.case_id());
  EXPECT_TRUE(Announce(coord).empty());  // the held copy went with the decision
  std::vector<v1::AuditEvent> events;
  for (const auto& r : AuditRecords()) events.push_back(r.event());
  EXPECT_THAT(events, ::testing::IsSupersetOf({v1::AUDIT_EVENT_REFERRAL_RECEIVED, v1::AUDIT_EVENT_CASE_OPENED,
                                               v1::AUDIT_EVENT_REFERRAL_ACCEPTED}));
}

TEST_F(GatewayTest, AHandoverMovesTheCaseAndItsSealedPackageToTheNextCoordinator) {
  Client& coord = Connect("regisseur-01");
  const std::string case_id = OpenCase(coord);
  v1::CaseCommand offer;
  offer.set_case_id(case_id);
  offer.mutable_offer_handover()->set_to("wijk-01");
  offer.mutable_offer_handover()->set_reason_code("naar-wijkteam");
  offer.mutable_offer_handover()->set_expires_at_ms(kNow + 24 * 3600 * 1000);
  v1::CaseResult offered = Command(coord, offer);
  EXPECT_EQ(offered.status().pending_handover_to(), "wijk-01");
  const std::string offer_hash = heads_[case_id].hash;
  v1::HandoverPackage pkg;
  pkg.set_case_id(case_id);
  pkg.set_to("wijk-01");
  pkg.set_offer(offer_hash);
  pkg.set_part(1);
  pkg.set_parts(1);
  pkg.set_sealed("sealed HandoverData for wijk-01");
  std::string pkg_bytes;
  const std::string pkg_id = Send(coord, v1::MESSAGE_KIND_HANDOVER_PACKAGE, pkg, "", &pkg_bytes);
  VerifiedEnvelope taken = Receive(coord);
  EXPECT_EQ(taken.header.request_id(), pkg_id);
  Body<v1::CaseResult>(taken, v1::MESSAGE_KIND_CASE_RESULT);

  // The next coordinator comes online: the offer waits as a notice.
  Client& wijk = Connect("wijk-01");
  auto held = Announce(wijk);
  ASSERT_EQ(held.size(), 1u);
  v1::CaseCommand accept;
  accept.set_case_id(case_id);
  accept.mutable_accept_handover()->set_offer(offer_hash);
  Chain(accept);
  Send(wijk, v1::MESSAGE_KIND_CASE_COMMAND, accept);
  // The answer and the former coordinator's package, unchanged (either first).
  std::string got;
  v1::CaseResult took;
  for (int i = 0; i < 2; ++i) {
    std::string raw;
    VerifiedEnvelope env = Receive(wijk, "", &raw);
    if (env.header.kind() == v1::MESSAGE_KIND_HANDOVER_PACKAGE) {
      EXPECT_EQ(env.header.sender(), "regisseur-01");
      got = raw;
    } else {
      took = Body<v1::CaseResult>(env, v1::MESSAGE_KIND_CASE_RESULT);
    }
  }
  EXPECT_EQ(took.status().coordinator(), "wijk-01");
  EXPECT_EQ(got, pkg_bytes);
  auto notice = Body<v1::CaseNotice>(Receive(coord), v1::MESSAGE_KIND_CASE_NOTICE);
  EXPECT_EQ(notice.kind(), v1::NOTICE_KIND_HANDOVER_ACCEPTED);
  EXPECT_EQ(notice.by(), "wijk-01");
  // Held until acknowledged; then gone.
  EXPECT_THAT(Announce(wijk), ::testing::ElementsAre(pkg_bytes));
  v1::DeliveryAck ack;
  ack.add_request_ids(pkg_id);
  Send(wijk, v1::MESSAGE_KIND_DELIVERY_ACK, ack);
  EXPECT_TRUE(Announce(wijk).empty());
  // Only the new coordinator sees the history now.
  v1::CaseFetch fetch;
  fetch.set_case_id(case_id);
  Send(coord, v1::MESSAGE_KIND_CASE_FETCH, fetch);
  EXPECT_EQ(Body<v1::Error>(Receive(coord), v1::MESSAGE_KIND_ERROR).code(), v1::ERROR_CODE_PERMISSION_DENIED);
  Send(wijk, v1::MESSAGE_KIND_CASE_FETCH, fetch);
  auto chain = Body<v1::CaseChain>(Receive(wijk), v1::MESSAGE_KIND_CASE_CHAIN);
  EXPECT_EQ(chain.length(), 3u);  // open, offer, accept: the accept is the one wijk-01 signed
  EXPECT_EQ(chain.status().coordinator(), "wijk-01");
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::gateway
