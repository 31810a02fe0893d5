// The gateway's core without sockets: real keys, a signed registry, the
// example policy, SQLite and the audit log in a temporary folder; messages
// are signed and verified as on the wire, handed to the core, and what it
// returns — the decision, its audit records and its outbox — is checked.
// The only stand-ins are the clock and who is connected (a set).
#include "gateway/gateway_core.h"

#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <set>

#include "case/case_chain.h"
#include "core/audit/checkpoint.h"
#include "core/base/file_util.h"
#include "core/crypto/random.h"
#include "core/envelope/sealed.h"
#include "core/envelope/wire_format.h"
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
using ::testing::ElementsAre;

using test::kNow;

// One outgoing message, verified as its recipient would.
struct Sent {
  std::string to;
  v1::MessageKind kind = v1::MESSAGE_KIND_UNSPECIFIED;
  std::string request_id;
  std::string body;
  const Outgoing* raw = nullptr;
};

class GatewayCoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::chmod(dir_.path().c_str(), 0700);
    keys_dir_ = dir_.File("keys");
    registry_dir_ = dir_.File("registry");
    for (const auto& d : {keys_dir_, registry_dir_}) {
      std::filesystem::create_directories(d);
      ::chmod(d.c_str(), 0700);
    }
    Make("enrolment-hvb", ParticipantKind::kEnrolment, "", false);
    Make("gateway", ParticipantKind::kGateway, "", true);
    Make("regisseur-01", ParticipantKind::kCoordinator, "veiligheidsteam", true);
    Make("regisseur-02", ParticipantKind::kCoordinator, "veiligheidsteam", true);
    Make("politie-agent", ParticipantKind::kAgent, "politie", true);
    Make("ggz-agent", ParticipantKind::kAgent, "ggz", true);
    Make("fg-hvb", ParticipantKind::kPrivacyOfficer, "", true);
    Make("fg-politie", ParticipantKind::kPrivacyOfficer, "", true);  // never connected (privacy notices)
    ASSERT_OK(Registry::Sign(registry_dir_, identities_.at("enrolment-hvb").signing().secret_key,
                             {{"regisseur-01", "casusregisseur"}}, "hart-van-brabant", kNow));
    config_.identity = IdentityFilePath(keys_dir_, "gateway");
    config_.registry = registry_dir_;
    config_.enrolment_card = CardFilePath(keys_dir_, "enrolment-hvb");
    config_.policy = testing::SourceDir() + "/policy/examples/veiligheidsteam-hvb.yaml";
    config_.data_dir = dir_.File("data");
    config_.log_origin = "ketenpoort.test/audit";
    StartupOptions options;
    options.wrap_audit = [this](std::unique_ptr<AuditTrail> real) -> std::unique_ptr<AuditTrail> {
      return std::make_unique<FailingAuditTrail>(std::move(real), &fail_audit_);
    };
    auto parts = OpenGatewayParts(config_, std::move(options));
    ASSERT_THAT(parts, IsOk());
    auto core = GatewayCore::Create(std::move(parts).value(), clock_, [this](const std::string& id) {
      return connected_.count(id) != 0 ? "conn-" + id : std::string();
    });
    ASSERT_THAT(core, IsOk());
    core_ = std::move(core).value();
    for (const auto& [id, e] : core_->registry().entries()) resolver_.Add(id, e.card.signing_key);
  }

  void Make(const std::string& id, ParticipantKind kind, const std::string& partner, bool enrol) {
    auto idn = Identity::Generate(id, kind, partner, kNow);
    ASSERT_THAT(idn, IsOk());
    ASSERT_OK(WriteIdentityFiles(keys_dir_, *idn));
    if (enrol) {
      ASSERT_OK(WriteFileDurable(CardFilePath(registry_dir_, id), idn->MakeCard().ToYaml(), 0644,
                                 WriteMode::kCreateExclusive));
    }
    identities_.emplace(id, std::move(idn).value());
  }

  // A message from `from`, signed and verified as the Gateway would.
  VerifiedMessage Message(const std::string& from, v1::MessageKind kind,
                          const google::protobuf::Message& body, const std::string& request_id = "",
                          const std::string& message_id = "") {
    EnvelopeSigner signer(from, identities_.at(from).signing().secret_key, clock_);
    auto m = signer.Sign(kind, "", request_id, body.SerializeAsString(), message_id);
    EXPECT_THAT(m, IsOk());
    VerifyOptions options;
    options.expected_sender = from;
    auto env = EnvelopeVerifier(resolver_, nullptr).Verify(m->bytes, options);
    EXPECT_THAT(env, IsOk());
    return VerifiedMessage{from, core_->Enrolled(from), *env, m->bytes, "conn-" + from};
  }

  // Runs `work` as one unit, as the Gateway does.
  UnitResult Unit(const std::function<void()>& work) {
    EXPECT_OK(core_->BeginUnit());
    work();
    UnitResult r = core_->FinishUnit();
    if (r.logged) {
      EXPECT_OK(core_->SyncAudit());  // after the sends, as the Gateway does
    }
    return r;
  }
  UnitResult Handle(const VerifiedMessage& m) {
    return Unit([&] { core_->Handle(m); });
  }

  std::vector<Sent> Outbox(const UnitResult& r) {
    std::vector<Sent> out;
    for (const auto& o : r.outbox) {
      auto env = EnvelopeVerifier(resolver_, nullptr).Verify(o.bytes);
      EXPECT_THAT(env, IsOk());
      out.push_back({o.to, env->header.kind(), env->header.request_id(), env->body, &o});
    }
    return out;
  }
  static std::vector<v1::MessageKind> Kinds(const std::vector<Sent>& sent) {
    std::vector<v1::MessageKind> kinds;
    for (const auto& s : sent) kinds.push_back(s.kind);
    return kinds;
  }
  static std::vector<v1::AuditRecord> Records(const UnitResult& r) {
    std::vector<v1::AuditRecord> out;
    for (const auto& staged : r.records) {
      v1::AuditRecord rec;
      EXPECT_TRUE(rec.ParseFromString(staged.record));
      out.push_back(rec);
    }
    return out;
  }
  static std::vector<v1::AuditEvent> Events(const UnitResult& r) {
    std::vector<v1::AuditEvent> events;
    for (const auto& rec : Records(r)) events.push_back(rec.event());
    return events;
  }

  std::string OpenCase() {
    v1::CaseCommand cmd;
    cmd.mutable_open()->set_purpose("plan-van-aanpak");
    *cmd.mutable_open()->add_subjects() = testing::CommittedRef(victim_);
    VerifiedMessage m = Message("regisseur-01", v1::MESSAGE_KIND_CASE_COMMAND, cmd);
    UnitResult r = Handle(m);
    auto out = Outbox(r);
    EXPECT_EQ(out.size(), 1u);
    v1::CaseResult result;
    if (!out.empty()) {
      EXPECT_TRUE(result.ParseFromString(out[0].body));
    }
    heads_[result.case_id()] = {cases::CommandHash(m.raw), 1};
    return result.case_id();
  }
  void Admit(const std::string& case_id, const std::string& partner) {
    v1::CaseCommand cmd;
    cmd.set_case_id(case_id);
    cmd.mutable_admit()->set_partner(partner);
    cmd.set_previous(heads_[case_id].first);
    cmd.set_sequence(heads_[case_id].second);
    VerifiedMessage m = Message("regisseur-01", v1::MESSAGE_KIND_CASE_COMMAND, cmd);
    EXPECT_TRUE(Handle(m).committed);
    heads_[case_id] = {cases::CommandHash(m.raw), heads_[case_id].second + 1};
  }
  VerifiedMessage Request(const std::string& case_id, const std::string& partner, const std::string& category,
                          const std::string& from = "regisseur-01") {
    v1::FragmentRequest req;
    req.set_case_id(case_id);
    req.set_source_partner(partner);
    req.add_categories(category);
    req.set_purpose("plan-van-aanpak");
    auto* ref = req.add_subjects();
    ref->set_ref("S1");
    ref->set_role(v1::SUBJECT_ROLE_VICTIM);
    req.set_sealed_subjects("sealed subject data (opaque to the gateway)");
    req.set_case_head(heads_[case_id].first);
    req.set_case_length(heads_[case_id].second);
    return Message(from, v1::MESSAGE_KIND_FRAGMENT_REQUEST, req);
  }

  // Each case's head (hash, length) as the coordinator signed it (protocol §3.5).
  std::map<std::string, std::pair<std::string, uint64_t>> heads_;
  const v1::Subject victim_ = testing::TestSubject("S1", v1::SUBJECT_ROLE_VICTIM, "999990019");
  testing::TempDir dir_;
  std::string keys_dir_, registry_dir_;
  std::map<std::string, Identity> identities_;
  StaticKeyResolver resolver_;
  ManualClock clock_{kNow};
  GatewayConfig config_;
  std::atomic<bool> fail_audit_{false};
  std::set<std::string> connected_{"regisseur-01", "regisseur-02", "fg-hvb"};
  std::unique_ptr<GatewayCore> core_;
};

TEST_F(GatewayCoreTest, ACaseCommandIsRecordedAndItsResultWaitsInTheOutbox) {
  v1::CaseCommand cmd;
  cmd.mutable_open()->set_purpose("plan-van-aanpak");
  *cmd.mutable_open()->add_subjects() = testing::CommittedRef(victim_);
  VerifiedMessage m = Message("regisseur-01", v1::MESSAGE_KIND_CASE_COMMAND, cmd);
  UnitResult r = Handle(m);
  EXPECT_TRUE(r.committed);
  EXPECT_TRUE(r.logged);
  EXPECT_THAT(Events(r), ElementsAre(v1::AUDIT_EVENT_CASE_OPENED));
  auto out = Outbox(r);
  ASSERT_THAT(Kinds(out), ElementsAre(v1::MESSAGE_KIND_CASE_RESULT));
  EXPECT_EQ(out[0].to, "regisseur-01");
  EXPECT_EQ(out[0].request_id, m.env.header.message_id());
  v1::CaseResult result;
  ASSERT_TRUE(result.ParseFromString(out[0].body));
  EXPECT_EQ(result.case_id(), "VT-2026-0001");
  EXPECT_EQ(result.audit_index(), r.records[0].index);
}

TEST_F(GatewayCoreTest, APermittedRequestIsDecidedAcceptedAndForwardedToTheConnectedAgent) {
  connected_.insert("politie-agent");
  const std::string case_id = OpenCase();
  Admit(case_id, "politie");
  VerifiedMessage req = Request(case_id, "politie", "politie-incidenten");
  UnitResult r = Handle(req);
  ASSERT_TRUE(r.logged);
  auto records = Records(r);
  ASSERT_THAT(Events(r), ElementsAre(v1::AUDIT_EVENT_DECISION, v1::AUDIT_EVENT_FORWARDED));
  EXPECT_EQ(records[0].decision().verdict(), v1::AUDIT_VERDICT_PERMIT);
  EXPECT_EQ(records[0].message_id(), req.env.header.message_id());
  auto out = Outbox(r);
  ASSERT_THAT(Kinds(out), ElementsAre(v1::MESSAGE_KIND_ACCEPTED, v1::MESSAGE_KIND_AUTHORISATION));
  EXPECT_EQ(out[0].to, "regisseur-01");
  EXPECT_EQ(out[1].to, "politie-agent");
  EXPECT_EQ(out[1].raw->forward_of, req.env.header.message_id());
  v1::Authorisation auth;
  ASSERT_TRUE(auth.ParseFromString(out[1].body));
  EXPECT_EQ(auth.request_envelope(), req.raw);  // byte for byte
  EXPECT_EQ(auth.audit_index(), r.records[0].index);
  ASSERT_EQ(auth.case_evidence_size(), 2);  // the case's whole history: the open and the admission
  EXPECT_EQ(cases::CommandHash(auth.case_evidence(1)), heads_[case_id].first);
}

TEST_F(GatewayCoreTest, ARequestWaitsForItsAgentAndGoesWhenTheAgentIsSeen) {
  const std::string case_id = OpenCase();
  Admit(case_id, "politie");
  VerifiedMessage req = Request(case_id, "politie", "politie-incidenten");
  EXPECT_THAT(Kinds(Outbox(Handle(req))), ElementsAre(v1::MESSAGE_KIND_ACCEPTED));
  connected_.insert("politie-agent");
  UnitResult r = Unit([&] { core_->OnAgentSeen(*core_->Enrolled("politie-agent"), true); });
  EXPECT_THAT(Events(r), ElementsAre(v1::AUDIT_EVENT_FORWARDED));
  EXPECT_THAT(Kinds(Outbox(r)), ElementsAre(v1::MESSAGE_KIND_AUTHORISATION));
  // Sent again (§6.1): recognised, answered with its state, not decided twice.
  VerifiedMessage again = req;
  UnitResult a = Unit([&] { EXPECT_EQ(core_->AnswerRequestAgain(again), GatewayCore::Again::kAnswered); });
  EXPECT_TRUE(a.records.empty());
  EXPECT_THAT(Kinds(Outbox(a)), ElementsAre(v1::MESSAGE_KIND_ACCEPTED));
  // Its id under another coordinator's signature touches nothing.
  VerifiedMessage other = Message("regisseur-02", v1::MESSAGE_KIND_FRAGMENT_REQUEST, v1::FragmentRequest(),
                                  "", req.env.header.message_id());
  Unit([&] { EXPECT_EQ(core_->AnswerRequestAgain(other), GatewayCore::Again::kOthers); });
  Unit([&] {
    EXPECT_EQ(core_->AnswerRequestAgain(Request(case_id, "politie", "x")), GatewayCore::Again::kNew);
  });
}

// Issue 19: the receipts of one unit (a burst of deliveries) carry one
// checkpoint, signed once as the unit ends, covering every record of it.
TEST_F(GatewayCoreTest, TheReceiptsOfOneUnitShareOneCheckpointThatCoversThemAll) {
  connected_.insert("politie-agent");
  const std::string case_id = OpenCase();
  Admit(case_id, "politie");
  std::vector<std::string> ids;
  for (int i = 0; i < 2; ++i) {
    VerifiedMessage req = Request(case_id, "politie", "politie-incidenten");
    ASSERT_TRUE(Handle(req).logged);
    ids.push_back(req.env.header.message_id());
  }
  std::vector<VerifiedMessage> deliveries;
  for (const auto& id : ids) {
    v1::FragmentDelivery d;
    d.set_request_id(id);
    d.add_categories("politie-incidenten");
    d.set_sealed_content("sealed fragment (opaque to the gateway)");
    deliveries.push_back(Message("politie-agent", v1::MESSAGE_KIND_FRAGMENT_DELIVERY, d, id));
  }
  UnitResult r = Unit([&] {
    for (const auto& m : deliveries) core_->Handle(m);
  });
  ASSERT_TRUE(r.logged);
  ASSERT_THAT(Events(r), ElementsAre(v1::AUDIT_EVENT_DELIVERED, v1::AUDIT_EVENT_DELIVERED));
  std::vector<v1::Receipt> receipts;
  for (const auto& sent : Outbox(r)) {
    if (sent.kind != v1::MESSAGE_KIND_RECEIPT) continue;
    EXPECT_EQ(sent.to, "politie-agent");
    receipts.emplace_back();
    ASSERT_TRUE(receipts.back().ParseFromString(sent.body));
  }
  ASSERT_EQ(receipts.size(), 2u);
  EXPECT_EQ(receipts[0].audit_index(), r.records[0].index);
  EXPECT_EQ(receipts[1].audit_index(), r.records[1].index);
  EXPECT_EQ(receipts[0].checkpoint(), receipts[1].checkpoint());
  auto key = audit::MakeVerifierKey(config_.log_origin, identities_.at("gateway").signing().public_key);
  ASSERT_THAT(key, IsOk());
  auto cp = audit::OpenCheckpoint(receipts[0].checkpoint(), *key, config_.log_origin);
  ASSERT_THAT(cp, IsOk());
  EXPECT_EQ(cp->size, r.records.back().index + 1);  // the whole unit, so both receipts' indexes
}

TEST_F(GatewayCoreTest, APolicyRefusalIsRecordedAsTheDecisionAndHeldAsARefusal) {
  const std::string case_id = OpenCase();
  Admit(case_id, "ggz");
  VerifiedMessage req = Request(case_id, "ggz", "ggz-in-zorg");  // no consent recorded
  UnitResult r = Handle(req);
  auto records = Records(r);
  ASSERT_THAT(Events(r), ElementsAre(v1::AUDIT_EVENT_DECISION));
  EXPECT_EQ(records[0].decision().verdict(), v1::AUDIT_VERDICT_DENY);
  auto out = Outbox(r);
  ASSERT_THAT(Kinds(out), ElementsAre(v1::MESSAGE_KIND_REFUSAL));
  EXPECT_TRUE(out[0].raw->held);
  EXPECT_EQ(out[0].request_id, req.env.header.message_id());
  v1::Refusal refusal;
  ASSERT_TRUE(refusal.ParseFromString(out[0].body));
  EXPECT_EQ(refusal.refused_by(), v1::REFUSED_BY_GATEWAY);
  EXPECT_THAT(refusal.rule_ids(), ::testing::Contains("R-GGZ-01"));
  auto held = core_->store().InboxFor("regisseur-01");
  ASSERT_THAT(held, IsOk());
  ASSERT_EQ(held->size(), 1u);  // kept until acknowledged
  EXPECT_EQ(held->at(0).request_id, req.env.header.message_id());
}

TEST_F(GatewayCoreTest, ARefusedMessageIsRecordedAndAnsweredWithAnErrorNamingIt) {
  v1::CaseCommand cmd;
  cmd.mutable_open()->set_purpose("plan-van-aanpak");
  *cmd.mutable_open()->add_subjects() = testing::CommittedRef(victim_);
  VerifiedMessage m = Message("regisseur-02", v1::MESSAGE_KIND_CASE_COMMAND, cmd);  // no casusregisseur role
  UnitResult r = Handle(m);
  auto records = Records(r);
  ASSERT_THAT(Events(r), ElementsAre(v1::AUDIT_EVENT_REFUSED));
  EXPECT_EQ(records[0].message_id(), m.env.header.message_id());
  EXPECT_EQ(records[0].actor().participant_id(), "regisseur-02");
  auto out = Outbox(r);
  ASSERT_THAT(Kinds(out), ElementsAre(v1::MESSAGE_KIND_ERROR));
  EXPECT_EQ(out[0].raw->connection, "conn-regisseur-02");  // back over the connection it came on
  EXPECT_EQ(out[0].request_id, m.env.header.message_id());
  v1::Error err;
  ASSERT_TRUE(err.ParseFromString(out[0].body));
  EXPECT_EQ(err.code(), v1::ERROR_CODE_PERMISSION_DENIED);
}

TEST_F(GatewayCoreTest, ARefusalWhoseRecordCannotBeWrittenFailsTheUnitAndSendsNothing) {
  v1::CaseCommand cmd;
  cmd.mutable_open()->set_purpose("plan-van-aanpak");
  *cmd.mutable_open()->add_subjects() = testing::CommittedRef(victim_);
  UnitResult opened = Handle(Message("regisseur-01", v1::MESSAGE_KIND_CASE_COMMAND, cmd));
  ASSERT_EQ(opened.records.size(), 1u);
  fail_audit_ = true;
  UnitResult r = Unit([&] {
    EXPECT_FALSE(core_->Refuse({.to = "regisseur-01",
                                .connection = "conn",
                                .message_id = NewMessageId(),
                                .why = InvalidArgumentError("refused for the test")}));
    core_->Handle(Message("regisseur-02", v1::MESSAGE_KIND_CASE_COMMAND, cmd));
  });
  EXPECT_FALSE(r.committed);
  EXPECT_THAT(r.failure, testing::StatusIs(StatusCode::kUnavailable, "audit log"));
  EXPECT_TRUE(r.outbox.empty());
  EXPECT_TRUE(r.records.empty());
  fail_audit_ = false;
  // Nothing of it stayed: the next record follows the opening, no gap.
  UnitResult next = Handle(Message("regisseur-02", v1::MESSAGE_KIND_CASE_COMMAND, cmd));
  ASSERT_EQ(next.records.size(), 1u);
  EXPECT_EQ(next.records[0].index, opened.records[0].index + 1);
  EXPECT_THAT(Kinds(Outbox(next)), ElementsAre(v1::MESSAGE_KIND_ERROR));
}

TEST_F(GatewayCoreTest, ADecisionWhoseRecordCannotBeWrittenIsNeitherAcceptedNorForwarded) {
  connected_.insert("politie-agent");
  const std::string case_id = OpenCase();
  Admit(case_id, "politie");
  fail_audit_ = true;
  VerifiedMessage req = Request(case_id, "politie", "politie-incidenten");
  UnitResult r = Handle(req);
  EXPECT_FALSE(r.committed);
  EXPECT_TRUE(r.outbox.empty());
  fail_audit_ = false;
  auto pending = core_->store().GetRequest(req.env.header.message_id());
  ASSERT_THAT(pending, IsOk());
  EXPECT_FALSE(pending->has_value());  // rolled back: the same bytes are taken later
  UnitResult again = Handle(req);
  EXPECT_THAT(Kinds(Outbox(again)), ElementsAre(v1::MESSAGE_KIND_ACCEPTED, v1::MESSAGE_KIND_AUTHORISATION));
}

TEST_F(GatewayCoreTest, AUnitPassesItsCrashPointsInOrder) {
  std::vector<std::string> points;
  ASSERT_OK(core_->BeginUnit());
  v1::CaseCommand cmd;
  cmd.mutable_open()->set_purpose("plan-van-aanpak");
  *cmd.mutable_open()->add_subjects() = testing::CommittedRef(victim_);
  core_->Handle(Message("regisseur-01", v1::MESSAGE_KIND_CASE_COMMAND, cmd));
  UnitResult r = core_->FinishUnit([&](std::string_view point, bool wrote) {
    EXPECT_TRUE(wrote);
    points.emplace_back(point);
  });
  EXPECT_TRUE(r.logged);
  EXPECT_THAT(points, ElementsAre("before-commit", "after-commit", "after-log"));
}

TEST_F(GatewayCoreTest, AnAcknowledgementAndAHeartbeatGetNoAnswer) {
  v1::DeliveryAck ack;
  ack.add_request_ids(NewMessageId());
  EXPECT_TRUE(Handle(Message("regisseur-01", v1::MESSAGE_KIND_DELIVERY_ACK, ack)).outbox.empty());
  EXPECT_TRUE(Handle(Message("politie-agent", v1::MESSAGE_KIND_HEARTBEAT, v1::Heartbeat())).outbox.empty());
}

TEST_F(GatewayCoreTest, APrivacyOfficersPullIsRecordedAndListedOnceInTheLog) {
  VerifiedMessage pull = Message("fg-hvb", v1::MESSAGE_KIND_AUDIT_PULL, v1::AuditPull());
  UnitResult r = Handle(pull);
  ASSERT_TRUE(r.logged);
  EXPECT_THAT(Events(r), ElementsAre(v1::AUDIT_EVENT_LOG_EXPORTED));
  EXPECT_TRUE(r.outbox.empty());
  ASSERT_EQ(r.listings.size(), 1u);
  Outgoing listing = core_->AuditListing(r.listings[0]);
  auto env = EnvelopeVerifier(resolver_, nullptr).Verify(listing.bytes);
  ASSERT_THAT(env, IsOk());
  EXPECT_EQ(env->header.kind(), v1::MESSAGE_KIND_AUDIT_CHUNK);
  EXPECT_EQ(env->header.request_id(), pull.env.header.message_id());
  v1::AuditChunk chunk;
  ASSERT_OK(ParseBody(env->body, chunk));
  EXPECT_GE(chunk.files_size(), 3);
  v1::AuditPull bad;
  bad.set_file("../cases.db");
  auto out = Outbox(Handle(Message("fg-hvb", v1::MESSAGE_KIND_AUDIT_PULL, bad)));
  ASSERT_THAT(Kinds(out), ElementsAre(v1::MESSAGE_KIND_ERROR));
}

// Retention (issue 17 §6): the sweep's erasure rewrites the records file; a
// pull listed before it is refused for that file (offsets would mix two
// files), a fresh listing works, and the erasure is recorded in a unit.
TEST_F(GatewayCoreTest, APullListedBeforeTheRetentionSweepRewroteTheRecordsMustStartAgain) {
  OpenCase();
  UnitResult listed = Handle(Message("fg-hvb", v1::MESSAGE_KIND_AUDIT_PULL, v1::AuditPull()));
  ASSERT_EQ(listed.listings.size(), 1u);
  (void)core_->AuditListing(listed.listings[0]);
  clock_.Advance(6LL * 365 * 24 * 3600 * 1000);  // past audit_retention (5 years)
  ASSERT_OK_AND_ASSIGN(audit::EraseSummary erased,
                       core_->audit_trail().EraseExpiredBodies(clock_.NowMillis()));
  EXPECT_EQ(erased.erased, 2u);  // the case opened and the export
  EXPECT_EQ(core_->audit_trail().rewrites(), 1u);

  v1::AuditPull records;
  records.set_file("records");
  auto out = Outbox(Handle(Message("fg-hvb", v1::MESSAGE_KIND_AUDIT_PULL, records)));
  ASSERT_THAT(Kinds(out), ElementsAre(v1::MESSAGE_KIND_ERROR));
  v1::Error err;
  ASSERT_TRUE(err.ParseFromString(out[0].body));
  EXPECT_THAT(err.message(), ::testing::HasSubstr("pull the log again"));
  v1::AuditPull tree;
  tree.set_file("tree");  // unchanged by an erasure
  EXPECT_THAT(Kinds(Outbox(Handle(Message("fg-hvb", v1::MESSAGE_KIND_AUDIT_PULL, tree)))),
              ElementsAre(v1::MESSAGE_KIND_AUDIT_CHUNK));

  UnitResult again = Handle(Message("fg-hvb", v1::MESSAGE_KIND_AUDIT_PULL, v1::AuditPull()));
  ASSERT_EQ(again.listings.size(), 1u);
  (void)core_->AuditListing(again.listings[0]);
  EXPECT_THAT(Kinds(Outbox(Handle(Message("fg-hvb", v1::MESSAGE_KIND_AUDIT_PULL, records)))),
              ElementsAre(v1::MESSAGE_KIND_AUDIT_CHUNK));

  UnitResult recorded = Unit([&] { core_->RecordErasure(erased); });
  ASSERT_TRUE(recorded.logged);
  ASSERT_THAT(Events(recorded), ElementsAre(v1::AUDIT_EVENT_ERASURE));
  EXPECT_EQ(Records(recorded)[0].erasure().erased_records(), erased.erased);
  EXPECT_EQ(Records(recorded)[0].erasure().last_index(), erased.last_index);
}

// §3.2 step 7 as the gateway applies it.
TEST_F(GatewayCoreTest, AdmissibleChecksRecipientKindSenderAndRequestId) {
  const RegistryEntry& coord = *core_->Enrolled("regisseur-01");
  const RegistryEntry& agent = *core_->Enrolled("politie-agent");
  v1::Header h;
  h.set_kind(v1::MESSAGE_KIND_FRAGMENT_REQUEST);
  EXPECT_OK(Admissible(coord, h, "gateway"));
  h.set_recipient("gateway");  // its own id is accepted as well as ""
  EXPECT_OK(Admissible(coord, h, "gateway"));
  h.set_recipient("politie-agent");
  EXPECT_THAT(Admissible(coord, h, "gateway"), testing::StatusIs(StatusCode::kUnauthenticated));
  h.clear_recipient();
  h.set_request_id(std::string(16, 'r'));
  EXPECT_THAT(Admissible(coord, h, "gateway"), testing::StatusIs(StatusCode::kInvalidArgument));
  h.set_kind(v1::MESSAGE_KIND_CASE_COMMAND);
  EXPECT_THAT(Admissible(coord, h, "gateway"), testing::StatusIs(StatusCode::kInvalidArgument));
  h.clear_request_id();
  EXPECT_THAT(Admissible(agent, h, "gateway"),
              testing::StatusIs(StatusCode::kPermissionDenied, "may not send"));
  h.set_kind(v1::MESSAGE_KIND_AUTHORISATION);  // a kind the gateway never takes
  EXPECT_THAT(Admissible(agent, h, "gateway"), testing::StatusIs(StatusCode::kInvalidArgument));
  h.set_kind(v1::MESSAGE_KIND_FRAGMENT_DELIVERY);
  h.set_request_id(std::string(16, 'r'));
  EXPECT_OK(Admissible(agent, h, "gateway"));
  h.set_kind(v1::MESSAGE_KIND_HEARTBEAT);
  h.clear_request_id();
  EXPECT_OK(Admissible(agent, h, "gateway"));
}

// Issue 17 §2: a permit whose rule asks to notify the privacy officer is
// told to every enrolled privacy officer in the decision's own unit, and
// each notice stays held until that officer acknowledges it.
TEST_F(GatewayCoreTest, ANoticeToEveryPrivacyOfficerIsHeldUntilAcknowledged) {
  const std::string case_id = OpenCase();
  Admit(case_id, "politie");
  // R-POL-01 does not ask to notify: nothing for the officers.
  EXPECT_THAT(Events(Handle(Request(case_id, "politie", "politie-incidenten"))),
              ElementsAre(v1::AUDIT_EVENT_DECISION));
  // R-POL-02 (acute danger, with a justification) does.
  v1::FragmentRequest body;
  ASSERT_TRUE(body.ParseFromString(Request(case_id, "politie", "politie-incidenten").env.body));
  body.set_purpose("acuut-gevaar-afwenden");
  body.set_justification_present(true);
  body.set_justification_kind(v1::JUSTIFICATION_KIND_TEXT);
  VerifiedMessage req = Message("regisseur-01", v1::MESSAGE_KIND_FRAGMENT_REQUEST, body);
  UnitResult r = Handle(req);
  ASSERT_TRUE(r.logged) << r.failure.ToString();
  ASSERT_THAT(Events(r), ElementsAre(v1::AUDIT_EVENT_DECISION, v1::AUDIT_EVENT_PRIVACY_OFFICER_NOTIFIED));
  const auto records = Records(r);
  EXPECT_THAT(records[0].decision().rule_ids(), ElementsAre("R-POL-02"));
  const v1::AuditRecord& told = records[1];
  EXPECT_EQ(told.message_id(), req.env.header.message_id());
  EXPECT_EQ(told.case_id(), case_id);
  EXPECT_EQ(told.source_partner(), "politie");
  EXPECT_EQ(told.recipient_partner(), "");  // the disclosure's recipient is on the decision's record
  EXPECT_THAT(told.decision().rule_ids(), ElementsAre("R-POL-02"));
  EXPECT_NE(told.reason().find("fg-hvb, fg-politie"), std::string::npos) << told.reason();

  // The connected officer gets it at once; both have it held.
  auto out = Outbox(r);
  ASSERT_THAT(Kinds(out), ElementsAre(v1::MESSAGE_KIND_CASE_NOTICE, v1::MESSAGE_KIND_ACCEPTED));
  EXPECT_EQ(out[0].to, "fg-hvb");
  EXPECT_TRUE(out[0].raw->held);
  EXPECT_TRUE(out[0].raw->inbox_id.empty());  // not dropped once sent: only an acknowledgement drops it
  v1::CaseNotice n;
  ASSERT_TRUE(n.ParseFromString(out[0].body));
  EXPECT_EQ(n.kind(), v1::NOTICE_KIND_PRIVACY_OFFICER);
  EXPECT_EQ(n.case_id(), case_id);
  EXPECT_EQ(n.by(), "regisseur-01");
  EXPECT_EQ(n.request_id(), req.env.header.message_id());
  EXPECT_EQ(n.reason_code(), "request");
  EXPECT_EQ(n.source_partner(), "politie");
  EXPECT_EQ(n.recipient_partner(), "veiligheidsteam");
  EXPECT_THAT(n.categories(), ElementsAre("politie-incidenten"));
  EXPECT_EQ(n.purpose(), "acuut-gevaar-afwenden");
  EXPECT_EQ(n.legal_basis(), "wpg-art-20");
  EXPECT_THAT(n.rule_ids(), ElementsAre("R-POL-02"));
  EXPECT_TRUE(n.justification());
  EXPECT_EQ(n.audit_index(), r.records[0].index);
  for (const std::string officer : {"fg-hvb", "fg-politie"}) {
    auto held = core_->store().InboxFor(officer);
    ASSERT_THAT(held, IsOk());
    ASSERT_EQ(held->size(), 1u) << officer;
  }
  // Sent is not acknowledged: fg-hvb's copy stays until it says so.
  core_->NoteSent(*out[0].raw);
  UnitResult fetch = Handle(Message("fg-hvb", v1::MESSAGE_KIND_INBOX_FETCH, v1::InboxFetch()));
  auto fetched = Outbox(fetch);
  ASSERT_THAT(Kinds(fetched), ElementsAre(v1::MESSAGE_KIND_CASE_NOTICE, v1::MESSAGE_KIND_CASE_RESULT));
  EXPECT_EQ(fetched[0].raw->bytes, out[0].raw->bytes);  // the same signed notice
  auto env = EnvelopeVerifier(resolver_, nullptr).Verify(out[0].raw->bytes);
  ASSERT_THAT(env, IsOk());
  v1::DeliveryAck ack;
  ack.add_request_ids(env->header.message_id());
  Handle(Message("fg-hvb", v1::MESSAGE_KIND_DELIVERY_ACK, ack));
  EXPECT_THAT(Kinds(Outbox(Handle(Message("fg-hvb", v1::MESSAGE_KIND_INBOX_FETCH, v1::InboxFetch())))),
              ElementsAre(v1::MESSAGE_KIND_CASE_RESULT));
  // The other officer's notice is its own: still held.
  auto other = core_->store().InboxFor("fg-politie");
  ASSERT_THAT(other, IsOk());
  EXPECT_EQ(other->size(), 1u);
}

// A watch under such a rule is told too, as a watch.
TEST_F(GatewayCoreTest, AWatchUnderARuleThatAsksToNotifyIsToldAsAWatch) {
  const std::string case_id = OpenCase();
  Admit(case_id, "politie");
  v1::FragmentRequest body;
  ASSERT_TRUE(body.ParseFromString(Request(case_id, "politie", "politie-incidenten").env.body));
  body.set_purpose("acuut-gevaar-afwenden");
  body.set_justification_present(true);
  body.set_justification_kind(v1::JUSTIFICATION_KIND_TEXT);
  body.set_watch_until_ms(kNow + 24LL * 3600 * 1000);
  VerifiedMessage watch = Message("regisseur-01", v1::MESSAGE_KIND_FRAGMENT_REQUEST, body);
  UnitResult r = Handle(watch);
  ASSERT_THAT(Events(r), ElementsAre(v1::AUDIT_EVENT_DECISION, v1::AUDIT_EVENT_PRIVACY_OFFICER_NOTIFIED));
  EXPECT_THAT(Records(r)[1].reason(), ::testing::StartsWith("watch flagged for the privacy officer"));
  auto held = core_->store().InboxFor("fg-politie");
  ASSERT_THAT(held, IsOk());
  ASSERT_EQ(held->size(), 1u);
  auto env = EnvelopeVerifier(resolver_, nullptr).Verify(held->at(0).envelope);
  ASSERT_THAT(env, IsOk());
  v1::CaseNotice n;
  ASSERT_TRUE(n.ParseFromString(env->body));
  EXPECT_EQ(n.reason_code(), "watch");
  EXPECT_EQ(n.request_id(), watch.env.header.message_id());
  EXPECT_EQ(held->at(0).request_id, env->header.message_id());  // acknowledged by the notice's own id
}

// Privacy officers fetch and acknowledge their own inbox; agents do not.
TEST_F(GatewayCoreTest, APrivacyOfficerMayFetchAndAcknowledgeItsInbox) {
  const RegistryEntry& officer = *core_->Enrolled("fg-hvb");
  const RegistryEntry& agent = *core_->Enrolled("politie-agent");
  for (auto kind : {v1::MESSAGE_KIND_INBOX_FETCH, v1::MESSAGE_KIND_DELIVERY_ACK}) {
    v1::Header h;
    h.set_kind(kind);
    EXPECT_OK(Admissible(officer, h, "gateway"));
    EXPECT_THAT(Admissible(agent, h, "gateway"), testing::StatusIs(StatusCode::kPermissionDenied));
  }
  v1::Header h;
  h.set_kind(v1::MESSAGE_KIND_FRAGMENT_REQUEST);
  EXPECT_THAT(Admissible(officer, h, "gateway"), testing::StatusIs(StatusCode::kPermissionDenied));
}

TEST_F(GatewayCoreTest, TheIdOfAMessageThatDidNotVerifyIsReadWhenItsHeaderParses) {
  VerifiedMessage m = Message("regisseur-01", v1::MESSAGE_KIND_HEARTBEAT, v1::Heartbeat());
  EXPECT_EQ(UnverifiedMessageId(m.raw), m.env.header.message_id());
  EXPECT_EQ(UnverifiedMessageId("not an envelope"), "");
  EXPECT_EQ(UnverifiedMessageId(""), "");
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::gateway
