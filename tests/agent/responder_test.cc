// The agent's Responder against a gateway that lies or is impersonated: the
// test holds the real gateway key (a compromised gateway) or another key (a
// forger) and builds authorisations by hand. Real keys and signatures, the
// example policy, a real JSON-files source and the agent's real audit log on
// disk; no sockets (agent_test.cc covers those against the real gateway).
#include "agent/responder.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "case/decision.h"
#include "core/audit/log_reader.h"
#include "core/base/encoding.h"
#include "core/base/file_util.h"
#include "core/base/operation_counts.h"
#include "core/crypto/random.h"
#include "core/crypto/sha256.h"
#include "core/envelope/sealed.h"
#include "policy/policy_loader.h"
#include "tests/testing/case_chain_builder.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_time.h"

namespace kp::agent {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

namespace v1 = ketenpoort::v1;
using ::kp::testing::IsOk;
using ::kp::testing::StatusIs;

using test::kNow;
using test::kDay;
constexpr char kCase[] = "VT-2026-0007";

// What a (possibly lying) gateway puts in an authorisation.
struct Forge {
  std::string purpose = "plan-van-aanpak";
  std::string category = "politie-incidenten";
  std::string phase = "acute-veiligheid";
  std::string request_signer = "regisseur-01";  // who signs the coordinator's request
  std::string outer_signer = "gateway";         // who signs the authorisation
  std::string justification;                    // in the sealed subject data
  bool justification_present = false;
  bool admit = true;  // show the signed admission
  std::string evidence_case = kCase;
  std::vector<std::string> extra_phase_changes;  // signed by the coordinator, in this order
  // More of the case's history, signed by the coordinator after the above.
  std::function<void(testing::CaseChainBuilder&)> history;
  size_t withhold = 0;  // the gateway leaves out the case's last commands
  // The subject asked about and the identifiers sealed for it (default: the
  // case's victim S1, as committed).
  std::optional<v1::Subject> asked;
  std::optional<v1::Subject> sealed;
  int64_t expires_at = kNow + kDay;
  int64_t request_age_ms = 0;
  int64_t watch_until = 0;  // a watch (protocol §3.8) until then
};

class ResponderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("null"));
    ::chmod(dir_.path().c_str(), 0700);
    const std::string reg = dir_.File("registry");
    std::filesystem::create_directories(reg);
    for (auto [id, kind, partner] : std::vector<std::tuple<std::string, ParticipantKind, std::string>>{
             {"enrolment-hvb", ParticipantKind::kEnrolment, ""},
             {"gateway", ParticipantKind::kGateway, ""},
             {"regisseur-01", ParticipantKind::kCoordinator, "veiligheidsteam"},
             {"regisseur-02", ParticipantKind::kCoordinator, "veiligheidsteam"},
             {"politie-agent", ParticipantKind::kAgent, "politie"}}) {
      auto idn = Identity::Generate(id, kind, partner, kNow);
      ASSERT_THAT(idn, IsOk());
      if (kind != ParticipantKind::kEnrolment) {
        ASSERT_OK(WriteFileDurable(CardFilePath(reg, id), idn->MakeCard().ToYaml(), 0644,
                                   WriteMode::kCreateExclusive));
      }
      ids_.emplace(id, std::move(idn).value());
      signers_.emplace(id, std::make_unique<EnvelopeSigner>(id, ids_.at(id).signing().secret_key, clock_));
    }
    ASSERT_OK(Registry::Sign(reg, ids_.at("enrolment-hvb").signing().secret_key,
                             {{"regisseur-01", "casusregisseur"}, {"regisseur-02", "casusregisseur"}},
                             "hart-van-brabant", kNow));
    auto registry = Registry::Load(reg, ids_.at("enrolment-hvb").signing().public_key);
    ASSERT_THAT(registry, IsOk());
    auto policy = policy::LoadPolicyFile(testing::SourceDir() + "/policy/examples/veiligheidsteam-hvb.yaml",
                                         [](std::string_view t) { return HexEncode(Sha256String(t)); });
    ASSERT_THAT(policy, IsOk());
    policy_ = *policy;

    std::filesystem::create_directories(dir_.File("politie"));
    std::ofstream(dir_.File("politie") + "/999990019.json")
        << R"([{"datum": "2026-10-03", "incidentsoort": "mishandeling", "wapens-aanwezig": "nee"}])";
    ConnectorConfig files;
    files.kind = ConnectorConfig::Kind::kJsonFiles;
    files.folder = dir_.File("politie");
    files.key = "bsn";
    auto connector = MakeConnector(files);
    ASSERT_THAT(connector, IsOk());
    std::map<std::string, std::unique_ptr<Connector>> sources;
    sources.emplace("politie-incidenten", std::move(connector).value());

    auto signer = audit::LogSigner::Create("ketenpoort.politie/agent-audit", me().signing().public_key,
                                           me().signing().secret_key.Clone());
    ASSERT_THAT(signer, IsOk());
    auto log = audit::LogWriter::Open(dir_.File("audit"), std::move(signer).value());
    ASSERT_THAT(log, IsOk());
    log_ = std::move(log).value();
    auto kept = KeptAnswers::Open(dir_.File("answers.db"));
    ASSERT_THAT(kept, IsOk());
    kept_ = std::move(kept).value();
    ResponderOptions options;
    options.gateway_log_origin = "ketenpoort.test/audit";
    options.data_dir = dir_.path();
    options.kept_answers = kept_.get();
    options.resend_after_ms = kResendAfterMs;
    auto watches = WatchStore::Open(dir_.File("watches.db"));
    ASSERT_THAT(watches, IsOk());
    watches_ = std::move(watches).value();
    options.watches = watches_.get();
    responder_ = std::make_unique<Responder>(me(), ids_.at("gateway").MakeCard(), *registry, policy_,
                                             std::move(sources), *log_, clock_, options);
  }

  const Identity& me() const { return ids_.at("politie-agent"); }

  // The case's history as the coordinator signed it.
  testing::CaseChainBuilder History(const Forge& f) {
    testing::CaseChainBuilder b(*signers_.at("regisseur-01"), f.evidence_case);
    clock_.Set(kNow - 2000);
    b.Open("plan-van-aanpak", {victim_});
    if (f.admit) b.Admit("politie");
    int64_t at = kNow - 1000;
    for (const auto& phase : f.extra_phase_changes) {
      clock_.Set(at++);
      b.Phase(phase);
    }
    if (f.history) f.history(b);
    clock_.Set(kNow);
    return b;
  }

  // An authorisation as the gateway would send it, with `f`'s lies in it.
  // `request_id` receives the request's id.
  std::string Authorisation(const Forge& f, std::string* request_id = nullptr) {
    const std::string rid = NewMessageId();
    if (request_id != nullptr) *request_id = rid;
    testing::CaseChainBuilder chain = History(f);
    const v1::Subject asked = f.asked.value_or(victim_);
    v1::SubjectData subjects;
    subjects.set_case_id(kCase);
    *subjects.add_subjects() = f.sealed.value_or(asked);
    subjects.set_justification(f.justification);
    EnvelopeSigner& coord = *signers_.at(f.request_signer);
    auto sealed = SignAndSeal(coord, v1::MESSAGE_KIND_SUBJECT_DATA, "politie-agent",
                              me().sealing().public_key, rid, subjects.SerializeAsString());
    EXPECT_THAT(sealed, IsOk());
    v1::FragmentRequest req;
    req.set_case_id(kCase);
    req.set_source_partner("politie");
    req.add_categories(f.category);
    req.set_purpose(f.purpose);
    req.add_subjects()->set_ref(asked.ref());
    req.mutable_subjects(0)->set_role(asked.role());
    req.set_case_head(chain.head());
    req.set_case_length(chain.length());
    req.set_justification_present(f.justification_present);
    req.set_sealed_subjects(*sealed);
    req.set_watch_until_ms(f.watch_until);
    clock_.Set(kNow - f.request_age_ms);
    auto request = coord.Sign(v1::MESSAGE_KIND_FRAGMENT_REQUEST, "", "", req.SerializeAsString(), rid);
    clock_.Set(kNow);
    EXPECT_THAT(request, IsOk());

    // The decision the real policy takes for the facts claimed.
    policy::Request pr;
    pr.from = "politie";
    pr.to = "veiligheidsteam";
    pr.to_role = "casusregisseur";
    pr.categories = {f.category};
    pr.purpose = f.purpose;
    pr.phase = f.phase;
    pr.requester_is_member = true;
    pr.justification_level =
        f.justification_present ? policy::Justification::kText : policy::Justification::kNone;
    pr.subjects.push_back({cases::SubjectRoleId(asked.role())});
    policy::Decision d = policy_->Decide(pr);
    v1::Authorisation auth;
    auth.set_request_envelope(request->bytes);
    auto* dec = auth.mutable_decision();
    dec->set_effect(v1::EFFECT_PERMIT);  // a lying gateway says permit whatever the policy says
    for (auto r : d.rule_ids) dec->add_rule_ids(std::string(r));
    dec->set_policy_sha256(HexDecode(policy_->sha256_hex()).value());
    for (const auto& cf : d.obligations.fields) {
      auto* af = dec->mutable_obligations()->add_allowed_fields();
      af->set_category(std::string(cf.category));
      for (auto field : cf.fields) af->add_fields(std::string(field));
    }
    dec->mutable_obligations()->set_retention_days(static_cast<uint32_t>(d.obligations.retention_days));
    auth.set_expires_at_ms(f.expires_at);
    auth.set_case_phase(f.phase);
    for (size_t i = 0; i + f.withhold < chain.commands().size(); ++i)
      auth.add_case_evidence(chain.commands()[i]);
    auto outer = signers_.at(f.outer_signer)
                     ->Sign(v1::MESSAGE_KIND_AUTHORISATION, "politie-agent", rid, auth.SerializeAsString());
    EXPECT_THAT(outer, IsOk());
    return outer->bytes;
  }

  // The reply's kind (UNSPECIFIED when there is none) and, for a refusal, its reason.
  std::pair<v1::MessageKind, std::string> Reply(const Outcome& out) {
    if (!out.reply.has_value()) return {v1::MESSAGE_KIND_UNSPECIFIED, out.status.ToString()};
    StaticKeyResolver keys;
    keys.Add("politie-agent", me().signing().public_key);
    auto env = EnvelopeVerifier(keys, nullptr).Verify(*out.reply);
    EXPECT_THAT(env, IsOk());
    v1::Refusal r;
    if (env->header.kind() == v1::MESSAGE_KIND_REFUSAL) {
      EXPECT_OK(ParseBody(env->body, r));
    }
    return {env->header.kind(), r.reason()};
  }

  // The gateway's signed message of `kind` to this agent about `about`.
  std::string FromGateway(v1::MessageKind kind, const std::string& about,
                          const google::protobuf::Message& body) {
    auto m = signers_.at("gateway")->Sign(kind, "politie-agent", about, body.SerializeAsString());
    EXPECT_THAT(m, IsOk());
    return m->bytes;
  }

  // A receipt for `request_id` with a checkpoint the gateway's log key signed.
  std::string Receipt(const std::string& request_id) {
    auto signer = audit::LogSigner::Create("ketenpoort.test/audit", ids_.at("gateway").signing().public_key,
                                           ids_.at("gateway").signing().secret_key.Clone());
    EXPECT_THAT(signer, IsOk());
    v1::Receipt r;
    r.set_audit_index(41);
    r.set_checkpoint(
        signer->Sign(audit::Checkpoint{"ketenpoort.test/audit", 42, std::string(32, '\x07'), {}}));
    return FromGateway(v1::MESSAGE_KIND_RECEIPT, request_id, r);
  }

  // The FragmentDelivery body and message id of an envelope the agent sent.
  std::pair<std::string, std::string> Delivery(const std::string& envelope) {
    StaticKeyResolver keys;
    keys.Add("politie-agent", me().signing().public_key);
    auto env = EnvelopeVerifier(keys, nullptr).Verify(envelope);
    EXPECT_THAT(env, IsOk());
    if (!env.ok()) return {};
    EXPECT_EQ(env->header.kind(), v1::MESSAGE_KIND_FRAGMENT_DELIVERY);
    return {env->body, env->header.message_id()};
  }

  int64_t Kept() { return kept_->Count().value_or(-1); }

  // Records of `event` in the agent's own log.
  int Count(v1::AuditEvent event, std::string* reason = nullptr) {
    // The responder records most events with AppendAsync, and Sync() only
    // covers buffered appends, not the committer's queue: after a flood (the
    // bit-flip loops queue thousands of REFUSED records) a record queued by
    // the last Handle may not be written yet. A synchronous Append goes
    // through the same queue, so it returns only once everything queued
    // before it is in the log; it records the test's reading as a LOG_READ.
    // A log the test closed already (Close drains the queue) refuses it.
    v1::AuditRecord read;
    read.set_event(v1::AUDIT_EVENT_LOG_READ);
    read.set_reason("responder_test reads the agent's log");
    auto drained = log_->Append(std::move(read));
    if (!drained.ok()) {
      EXPECT_EQ(drained.status().code(), StatusCode::kFailedPrecondition) << drained.status();
    }
    EXPECT_OK(log_->Sync());
    auto reader = audit::LogReader::Open(dir_.File("audit"));
    EXPECT_THAT(reader, IsOk());
    int n = 0;
    if (!reader.ok()) return -1;
    EXPECT_OK((*reader)->ForEachEntry([&](const audit::LogEntry& e) {
      if (e.record.event() == event) {
        ++n;
        if (reason != nullptr) *reason = e.record.reason();
      }
      return OkStatus();
    }));
    return n;
  }

  static constexpr int64_t kResendAfterMs = 30'000;
  testing::TempDir dir_;
  const v1::Subject victim_ = testing::TestSubject("S1", v1::SUBJECT_ROLE_VICTIM, "999990019");
  ManualClock clock_{kNow};
  std::unique_ptr<KeptAnswers> kept_;
  std::unique_ptr<WatchStore> watches_;
  std::map<std::string, Identity> ids_;
  std::map<std::string, std::unique_ptr<EnvelopeSigner>> signers_;
  std::shared_ptr<const policy::Policy> policy_;
  std::unique_ptr<audit::LogWriter> log_;
  std::unique_ptr<Responder> responder_;
};

TEST_F(ResponderTest, AnHonestAuthorisationIsAnswered) {
  auto [kind, reason] = Reply(responder_->Handle(Authorisation({})));
  EXPECT_EQ(kind, v1::MESSAGE_KIND_FRAGMENT_DELIVERY) << reason;
}

TEST_F(ResponderTest, AnAuthorisationSignedByAnyoneButTheGatewayIsDropped) {
  Forge f;
  f.outer_signer = "regisseur-01";
  Outcome out = responder_->Handle(Authorisation(f));
  EXPECT_FALSE(out.reply.has_value());
  EXPECT_THAT(out.status, StatusIs(StatusCode::kUnauthenticated));
}

TEST_F(ResponderTest, ARequestTheCoordinatorDidNotSignIsRefused) {
  Forge f;
  f.request_signer = "gateway";  // the gateway made the request up itself
  auto [kind, reason] = Reply(responder_->Handle(Authorisation(f)));
  EXPECT_EQ(kind, v1::MESSAGE_KIND_REFUSAL);
  EXPECT_NE(reason.find("not signed by a coordinator"), std::string::npos) << reason;
}

TEST_F(ResponderTest, AnExpiredAuthorisationIsRefused) {
  Forge f;
  f.expires_at = kNow - 1;
  auto [kind, reason] = Reply(responder_->Handle(Authorisation(f)));
  EXPECT_EQ(kind, v1::MESSAGE_KIND_REFUSAL);
  EXPECT_NE(reason.find("expired"), std::string::npos) << reason;
}

TEST_F(ResponderTest, AnOldRequestRewrappedInAFreshAuthorisationIsRefused) {
  Forge f;
  f.request_age_ms = 3 * kDay;
  auto [kind, reason] = Reply(responder_->Handle(Authorisation(f)));
  EXPECT_EQ(kind, v1::MESSAGE_KIND_REFUSAL);
  EXPECT_NE(reason.find("too old"), std::string::npos) << reason;
}

TEST_F(ResponderTest, AReplayedAuthorisationIsNotAnsweredTwice) {
  const std::string bytes = Authorisation({});
  EXPECT_EQ(Reply(responder_->Handle(bytes)).first, v1::MESSAGE_KIND_FRAGMENT_DELIVERY);
  Outcome again = responder_->Handle(bytes);
  EXPECT_FALSE(again.reply.has_value());
  EXPECT_THAT(again.status, StatusIs(StatusCode::kUnauthenticated));
}

TEST_F(ResponderTest, TheSameRequestAskedAgainGetsTheKeptAnswerNeverASecondDisclosureAlsoAfterARestore) {
  std::string rid;
  const std::string first = Authorisation({}, &rid);
  Outcome answered = responder_->Handle(first);
  ASSERT_TRUE(answered.reply.has_value());
  const auto [body, first_id] = Delivery(*answered.reply);
  // The gateway lost the answer (a crash) and asks again: a new envelope
  // around the same authorisation.
  StaticKeyResolver keys;
  keys.Add("gateway", ids_.at("gateway").signing().public_key);
  auto env = EnvelopeVerifier(keys, nullptr).Verify(first);
  ASSERT_THAT(env, IsOk());
  auto again = signers_.at("gateway")->Sign(v1::MESSAGE_KIND_AUTHORISATION, "politie-agent", rid, env->body);
  ASSERT_THAT(again, IsOk());
  Outcome out = responder_->Handle(again->bytes);
  ASSERT_TRUE(out.reply.has_value());
  const auto [body_again, id_again] = Delivery(*out.reply);
  EXPECT_EQ(body_again, body);    // the same sealed answer, not made again
  EXPECT_NE(id_again, first_id);  // in a fresh envelope
  EXPECT_EQ(Count(v1::AUDIT_EVENT_DELIVERED), 1);
  // Once the gateway confirmed it, it is not sent again by itself ...
  EXPECT_OK(responder_->Handle(Receipt(rid)).status);
  EXPECT_EQ(Kept(), 0);
  clock_.Advance(kResendAfterMs);
  EXPECT_TRUE(responder_->AnswersToSendAgain().empty());
  // ... but a gateway restored from a backup lost the delivery and asks
  // again: the same sealed answer goes again, nothing is disclosed twice.
  auto third = signers_.at("gateway")->Sign(v1::MESSAGE_KIND_AUTHORISATION, "politie-agent", rid, env->body);
  ASSERT_THAT(third, IsOk());
  Outcome restored = responder_->Handle(third->bytes);
  ASSERT_TRUE(restored.reply.has_value()) << restored.status;
  EXPECT_EQ(Delivery(*restored.reply).first, body);
  EXPECT_EQ(Count(v1::AUDIT_EVENT_DELIVERED), 1);
  EXPECT_EQ(Kept(), 1);  // sent again until the restored gateway's receipt comes
  EXPECT_OK(responder_->Handle(Receipt(rid)).status);
  EXPECT_EQ(Kept(), 0);
  // After its request expired it is gone: a repeated authorisation is not answered.
  clock_.Advance(30LL * 86'400'000);
  EXPECT_OK(responder_->Handle(Receipt(rid)).status);
  auto fourth = signers_.at("gateway")->Sign(v1::MESSAGE_KIND_AUTHORISATION, "politie-agent", rid, env->body);
  ASSERT_THAT(fourth, IsOk());
  EXPECT_NE(Reply(responder_->Handle(fourth->bytes)).first, v1::MESSAGE_KIND_FRAGMENT_DELIVERY);
  EXPECT_EQ(Count(v1::AUDIT_EVENT_DELIVERED), 1);
}

TEST_F(ResponderTest, AnAnswerWithoutAReceiptIsSentAgainUntilTheReceiptComes) {
  std::string rid;
  Outcome answered = responder_->Handle(Authorisation({}, &rid));
  ASSERT_TRUE(answered.reply.has_value());
  const auto [body, first_id] = Delivery(*answered.reply);
  EXPECT_EQ(Kept(), 1);
  EXPECT_TRUE(responder_->AnswersToSendAgain().empty());  // just sent
  clock_.Advance(kResendAfterMs);
  auto again = responder_->AnswersToSendAgain();
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(Delivery(again[0]).first, body);
  EXPECT_TRUE(responder_->AnswersToSendAgain().empty());  // not again at once
  EXPECT_OK(responder_->Handle(Receipt(rid)).status);
  EXPECT_EQ(Kept(), 0);
  clock_.Advance(kResendAfterMs);
  EXPECT_TRUE(responder_->AnswersToSendAgain().empty());
  EXPECT_EQ(Count(v1::AUDIT_EVENT_DELIVERED), 1);
}

// Receipts of one burst are marked together after it; a request asked
// again in the same burst after its receipt waits for a new receipt.
TEST_F(ResponderTest, ABurstOfReceiptsMarksThemAllAndAQuestionAfterAReceiptWaitsForANewOne) {
  std::string r1, r2;
  const std::string first = Authorisation({}, &r1);
  ASSERT_TRUE(responder_->Handle(first).reply.has_value());
  ASSERT_TRUE(responder_->Handle(Authorisation({}, &r2)).reply.has_value());
  EXPECT_EQ(Kept(), 2);
  responder_->BeginBurst();
  EXPECT_OK(responder_->Handle(Receipt(r1)).status);
  EXPECT_OK(responder_->Handle(Receipt(r2)).status);
  ASSERT_OK(responder_->EndBurst());
  EXPECT_EQ(Kept(), 0);
  clock_.Advance(kResendAfterMs);
  EXPECT_TRUE(responder_->AnswersToSendAgain().empty());

  StaticKeyResolver keys;
  keys.Add("gateway", ids_.at("gateway").signing().public_key);
  auto env = EnvelopeVerifier(keys, nullptr).Verify(first);
  ASSERT_THAT(env, IsOk());
  auto again = signers_.at("gateway")->Sign(v1::MESSAGE_KIND_AUTHORISATION, "politie-agent", r1, env->body);
  ASSERT_THAT(again, IsOk());
  responder_->BeginBurst();
  EXPECT_OK(responder_->Handle(Receipt(r1)).status);
  EXPECT_TRUE(responder_->Handle(again->bytes).reply.has_value());  // a restored gateway asks again
  ASSERT_OK(responder_->EndBurst());
  EXPECT_EQ(Kept(), 1);  // sent again until a new receipt comes
  EXPECT_EQ(Count(v1::AUDIT_EVENT_DELIVERED), 2);
}

// A gateway may put one checkpoint into every receipt of a burst: it is
// verified once, and what is remembered never stands in for another note.
TEST_F(ResponderTest, OneCheckpointInManyReceiptsIsVerifiedOnceAndNeverStandsInForAnother) {
  auto note_by = [&](const Identity& key, char root) {
    auto signer = audit::LogSigner::Create("ketenpoort.test/audit", key.signing().public_key,
                                           key.signing().secret_key.Clone());
    EXPECT_THAT(signer, IsOk());
    return signer->Sign(audit::Checkpoint{"ketenpoort.test/audit", 42, std::string(32, root), {}});
  };
  auto receipt = [&](const std::string& rid, const std::string& note) {
    v1::Receipt r;
    r.set_audit_index(41);
    r.set_checkpoint(note);
    return FromGateway(v1::MESSAGE_KIND_RECEIPT, rid, r);
  };
  auto answered = [&]() {
    std::string rid;
    EXPECT_TRUE(responder_->Handle(Authorisation({}, &rid)).reply.has_value());
    return rid;
  };
  const auto verifies = [] { return PublicKeyOperationCount(PublicKeyOperation::kVerify); };
  const std::string note = note_by(ids_.at("gateway"), '\x07');
  const std::string r1 = answered(), r2 = answered(), r3 = answered();
  std::string bytes = receipt(r1, note);
  uint64_t before = verifies();
  EXPECT_OK(responder_->Handle(bytes).status);
  EXPECT_EQ(verifies() - before, 2u);  // the envelope and the checkpoint
  bytes = receipt(r2, note);
  before = verifies();
  EXPECT_OK(responder_->Handle(bytes).status);
  EXPECT_EQ(verifies() - before, 1u);  // the envelope only

  // The same checkpoint signed by a key the gateway has not got; and every
  // changed bit of the signed text: refused, each time.
  auto stranger = Identity::Generate("gateway", ParticipantKind::kGateway, "", kNow);
  ASSERT_OK(stranger.status());
  EXPECT_THAT(responder_->Handle(receipt(r3, note_by(*stranger, '\x07'))).status,
              StatusIs(StatusCode::kUnauthenticated));
  const size_t text_end = note.find("\n\n");
  ASSERT_NE(text_end, std::string::npos);
  for (size_t bit = 0; bit < text_end * 8; ++bit) {
    std::string flipped = note;
    flipped[bit / 8] = static_cast<char>(flipped[bit / 8] ^ (1 << (bit % 8)));
    ASSERT_FALSE(responder_->Handle(receipt(r3, flipped)).status.ok()) << "bit " << bit;
  }
  EXPECT_EQ(Kept(), 1);  // r3 still waits for a receipt the gateway can vouch for
  EXPECT_OK(responder_->Handle(receipt(r3, note)).status);
  EXPECT_EQ(Kept(), 0);
}

TEST_F(ResponderTest, AnAnswerTheGatewayCannotTakeNowIsKeptAndOneItRefusesForGoodIsRecordedAsNotDelivered) {
  std::string rid;
  Outcome answered = responder_->Handle(Authorisation({}, &rid));
  ASSERT_TRUE(answered.reply.has_value());
  const std::string sent_id = Delivery(*answered.reply).second;
  v1::Error busy;
  busy.set_code(v1::ERROR_CODE_UNAVAILABLE);
  busy.set_message("the gateway cannot write its audit log; send it again later");
  (void)responder_->Handle(FromGateway(v1::MESSAGE_KIND_ERROR, sent_id, busy));
  auto again = responder_->AnswersToSendAgain();  // due at once, without waiting
  ASSERT_EQ(again.size(), 1u);
  v1::Error expired;
  expired.set_code(v1::ERROR_CODE_FAILED_PRECONDITION);
  expired.set_message("the request expired before this answer reached the gateway");
  (void)responder_->Handle(FromGateway(v1::MESSAGE_KIND_ERROR, Delivery(again[0]).second, expired));
  EXPECT_EQ(Kept(), 0);
  ASSERT_OK(log_->Close());  // the record was queued (it discloses nothing): now it is written
  std::string reason;
  EXPECT_EQ(Count(v1::AUDIT_EVENT_EXPIRED, &reason), 1);
  EXPECT_NE(reason.find("not delivered"), std::string::npos) << reason;
}

TEST_F(ResponderTest, AKeptAnswerWhoseRequestExpiredGoesOnceMoreThenIsDroppedAndRecorded) {
  Forge f;
  f.expires_at = kNow + 10'000;
  ASSERT_TRUE(responder_->Handle(Authorisation(f)).reply.has_value());
  clock_.Advance(10'001);
  // Once more: the gateway may have it and only its receipt was lost.
  EXPECT_EQ(responder_->AnswersToSendAgain().size(), 1u);
  EXPECT_EQ(Kept(), 1);
  clock_.Advance(kResendAfterMs);
  EXPECT_TRUE(responder_->AnswersToSendAgain().empty());
  EXPECT_EQ(Kept(), 0);
  ASSERT_OK(log_->Close());
  EXPECT_EQ(Count(v1::AUDIT_EVENT_EXPIRED), 1);
}

TEST_F(ResponderTest, WithoutTheCoordinatorsSignedAdmissionItIsRefused) {
  Forge f;
  f.admit = false;
  auto [kind, reason] = Reply(responder_->Handle(Authorisation(f)));
  EXPECT_EQ(kind, v1::MESSAGE_KIND_REFUSAL);
  EXPECT_NE(reason.find("politie is not admitted"), std::string::npos) << reason;
}

TEST_F(ResponderTest, EvidenceOfAnotherCaseIsRefused) {
  Forge f;
  f.evidence_case = "VT-2026-0001";
  auto [kind, reason] = Reply(responder_->Handle(Authorisation(f)));
  EXPECT_EQ(kind, v1::MESSAGE_KIND_REFUSAL);
  EXPECT_NE(reason.find("is not a command of case"), std::string::npos) << reason;
}

// A compromised gateway leaves the newest command out of the history it
// shows: the chain no longer reaches the head the coordinator signed.
TEST_F(ResponderTest, AWithheldPhaseChangeClosureOrConsentWithdrawalIsRefused) {
  const std::vector<std::pair<std::string, std::function<void(testing::CaseChainBuilder&)>>> withheld = {
      {"phase change", [](testing::CaseChainBuilder& b) { b.Phase("herstel"); }},
      {"closure", [](testing::CaseChainBuilder& b) { b.Close(); }},
      {"consent withdrawal",
       [](testing::CaseChainBuilder& b) {
         b.Consent("S1", "plan-van-aanpak", kNow + kDay);
         b.Withdraw("S1", "plan-van-aanpak");
       }},
  };
  for (const auto& [what, command] : withheld) {
    SCOPED_TRACE(what);
    Forge f;
    f.history = command;
    f.withhold = 1;
    auto [kind, reason] = Reply(responder_->Handle(Authorisation(f)));
    EXPECT_EQ(kind, v1::MESSAGE_KIND_REFUSAL);
    EXPECT_NE(reason.find("the gateway left commands out"), std::string::npos) << reason;
  }
  ASSERT_OK(log_->Close());
  EXPECT_EQ(Count(v1::AUDIT_EVENT_DELIVERED), 0);
}

// Issue 14: a handover is two signed commands in the chain; the agent
// answers the coordinator the chain names, and a gateway can neither forge
// a handover nor hide one from an agent that has seen it.
class HandoverResponderTest : public ResponderTest {
 protected:
  // regisseur-01 offers the case to regisseur-02, who accepts.
  std::function<void(testing::CaseChainBuilder&)> HandedOver(bool with_offer = true) {
    return [this, with_offer](testing::CaseChainBuilder& b) {
      std::string offer_hash(32, '\x00');
      if (with_offer) {
        const std::string& offer = b.Add([](v1::CaseCommand& c) {
          c.mutable_offer_handover()->set_to("regisseur-02");
          c.mutable_offer_handover()->set_reason_code("collega");
          c.mutable_offer_handover()->set_expires_at_ms(kNow + kDay);
        });
        offer_hash = cases::CommandHash(offer);
      }
      b.SignWith(*signers_.at("regisseur-02"));
      b.Add([&](v1::CaseCommand& c) { c.mutable_accept_handover()->set_offer(offer_hash); });
    };
  }
};

TEST_F(HandoverResponderTest, AfterAHandoverOnlyTheNewCoordinatorIsAnswered) {
  Forge f;
  f.history = HandedOver();
  f.request_signer = "regisseur-02";
  EXPECT_EQ(Reply(responder_->Handle(Authorisation(f))).first, v1::MESSAGE_KIND_FRAGMENT_DELIVERY);
  Forge former = f;
  former.request_signer = "regisseur-01";
  auto [kind, reason] = Reply(responder_->Handle(Authorisation(former)));
  EXPECT_EQ(kind, v1::MESSAGE_KIND_REFUSAL);
  EXPECT_NE(reason.find("you do not coordinate case"), std::string::npos) << reason;
}

TEST_F(HandoverResponderTest, AHandoverTheGatewayForgedIsRefused) {
  Forge f;
  f.history = HandedOver(/*with_offer=*/false);
  f.request_signer = "regisseur-02";
  auto [kind, reason] = Reply(responder_->Handle(Authorisation(f)));
  EXPECT_EQ(kind, v1::MESSAGE_KIND_REFUSAL);
  EXPECT_NE(reason.find("no handover offer to accept"), std::string::npos) << reason;
}

TEST_F(HandoverResponderTest, AHandoverHiddenFromAnAgentThatSawItIsCaught) {
  Forge f;
  f.history = HandedOver();
  f.request_signer = "regisseur-02";
  EXPECT_EQ(Reply(responder_->Handle(Authorisation(f))).first, v1::MESSAGE_KIND_FRAGMENT_DELIVERY);
  // The gateway shows the older history, without the handover, with a
  // request the former coordinator signed on it.
  Forge older;
  auto [kind, reason] = Reply(responder_->Handle(Authorisation(older)));
  EXPECT_EQ(kind, v1::MESSAGE_KIND_REFUSAL);
  EXPECT_NE(reason.find("has changed since this request was signed"), std::string::npos) << reason;
}

TEST_F(ResponderTest, AClosedCaseShownWholeIsRefused) {
  Forge closed;
  closed.history = [](testing::CaseChainBuilder& b) { b.Close(); };
  closed.phase = "gesloten";
  auto [kind, reason] = Reply(responder_->Handle(Authorisation(closed)));
  EXPECT_EQ(kind, v1::MESSAGE_KIND_REFUSAL);
  EXPECT_NE(reason.find("is closed"), std::string::npos) << reason;
}

TEST_F(ResponderTest, ASubjectTheCaseNeverCommittedToIsRefused) {
  Forge f;
  f.asked = testing::TestSubject("S9", v1::SUBJECT_ROLE_VICTIM, "999990044");
  auto [kind, reason] = Reply(responder_->Handle(Authorisation(f)));
  EXPECT_EQ(kind, v1::MESSAGE_KIND_REFUSAL);
  EXPECT_NE(reason.find("has no subject S9"), std::string::npos) << reason;
}

TEST_F(ResponderTest, IdentifiersThatDoNotOpenTheCommitmentAreRefused) {
  // The case's S1, with someone else's BSN sealed under it.
  Forge f;
  v1::Subject other = victim_;
  other.set_bsn("999990032");
  f.sealed = other;
  auto [kind, reason] = Reply(responder_->Handle(Authorisation(f)));
  EXPECT_EQ(kind, v1::MESSAGE_KIND_REFUSAL);
  EXPECT_NE(reason.find("not the ones the coordinator committed to"), std::string::npos) << reason;
  // A role other than the committed one is refused too.
  Forge g;
  v1::Subject housemate = victim_;
  housemate.set_role(v1::SUBJECT_ROLE_HOUSEMATE);
  g.asked = housemate;
  std::tie(kind, reason) = Reply(responder_->Handle(Authorisation(g)));
  EXPECT_EQ(kind, v1::MESSAGE_KIND_REFUSAL);
  EXPECT_NE(reason.find("another role"), std::string::npos) << reason;
}

TEST_F(ResponderTest, APhaseTheCoordinatorDidNotSignIsRefused) {
  Forge f;
  f.extra_phase_changes = {"stabiele-veiligheid", "herstel"};  // the coordinator's latest: herstel
  f.phase = "stabiele-veiligheid";                             // the gateway claims an earlier one
  auto [kind, reason] = Reply(responder_->Handle(Authorisation(f)));
  EXPECT_EQ(kind, v1::MESSAGE_KIND_REFUSAL);
  EXPECT_NE(reason.find("phase"), std::string::npos) << reason;
}

TEST_F(ResponderTest, ALocalPolicyDisagreementIsRefused) {
  // R-POL-02 needs a written justification; the gateway says one is present,
  // but the coordinator's sealed subject data holds none.
  Forge f;
  f.purpose = "acuut-gevaar-afwenden";
  f.justification_present = true;
  f.justification = "   ";
  auto [kind, reason] = Reply(responder_->Handle(Authorisation(f)));
  EXPECT_EQ(kind, v1::MESSAGE_KIND_REFUSAL);
  EXPECT_NE(reason.find("own policy check refuses"), std::string::npos) << reason;
  // With the justification the same request is answered.
  f.justification = "acuut gevaar: dreiging met wapen gemeld";
  EXPECT_EQ(Reply(responder_->Handle(Authorisation(f))).first, v1::MESSAGE_KIND_FRAGMENT_DELIVERY);
}

TEST_F(ResponderTest, EveryFlippedBitOrTruncationOfAnAuthorisationIsNeverAnswered) {
  const std::string good = Authorisation({});
  for (size_t i = 0; i < good.size() * 8; ++i) {
    std::string bad = good;
    bad[i / 8] = static_cast<char>(bad[i / 8] ^ (1 << (i % 8)));
    Outcome out = responder_->Handle(bad);
    ASSERT_FALSE(out.reply.has_value()) << "bit " << i;
    ASSERT_FALSE(out.status.ok()) << "bit " << i;
  }
  for (size_t n = 0; n < good.size(); ++n) {
    Outcome out = responder_->Handle(good.substr(0, n));
    ASSERT_FALSE(out.reply.has_value()) << "length " << n;
  }
  // The untouched one is still answered.
  EXPECT_EQ(Reply(responder_->Handle(good)).first, v1::MESSAGE_KIND_FRAGMENT_DELIVERY);
}

TEST_F(ResponderTest, EveryFlippedBitOfTheCarriedRequestIsRefusedNeverAnswered) {
  // A compromised gateway re-signs an authorisation around an altered request.
  std::string rid;
  StaticKeyResolver keys;
  keys.Add("gateway", ids_.at("gateway").signing().public_key);
  auto env = EnvelopeVerifier(keys, nullptr).Verify(Authorisation({}, &rid));
  ASSERT_THAT(env, IsOk());
  v1::Authorisation auth;
  ASSERT_OK(ParseBody(env->body, auth));
  const std::string request = auth.request_envelope();
  // Every bit of the header and signature, every 7th of the sealed body.
  for (size_t i = 0; i < request.size() * 8; i += (i / 8 > 200 && i / 8 < request.size() - 80) ? 7 : 1) {
    v1::Authorisation bad = auth;
    std::string r = request;
    r[i / 8] = static_cast<char>(r[i / 8] ^ (1 << (i % 8)));
    bad.set_request_envelope(r);
    auto outer = signers_.at("gateway")->Sign(v1::MESSAGE_KIND_AUTHORISATION, "politie-agent", rid,
                                              bad.SerializeAsString());
    ASSERT_THAT(outer, IsOk());
    auto [kind, reason] = Reply(responder_->Handle(outer->bytes));
    ASSERT_NE(kind, v1::MESSAGE_KIND_FRAGMENT_DELIVERY) << "bit " << i;
  }
}

TEST_F(ResponderTest, EveryDecisionIsInTheAgentsOwnLog) {
  (void)responder_->Handle(Authorisation({}));
  Forge f;
  f.expires_at = kNow - 1;
  (void)responder_->Handle(Authorisation(f));
  ASSERT_OK(log_->Close());
  auto reader = audit::LogReader::Open(dir_.File("audit"));
  ASSERT_THAT(reader, IsOk());
  int delivered = 0, refused = 0;
  ASSERT_OK((*reader)->ForEachEntry([&](const audit::LogEntry& e) {
    delivered += e.record.event() == v1::AUDIT_EVENT_DELIVERED;
    refused += e.record.event() == v1::AUDIT_EVENT_REFUSED;
    return OkStatus();
  }));
  EXPECT_EQ(delivered, 1);
  EXPECT_EQ(refused, 1);
}

// The gateway's WATCH_ENDED notice (protocol §3.8): damaged anywhere it is
// never acted on and never answered; the genuine one makes the agent forget
// the watch, once; the gateway's own signature around a damaged body (every
// bit flipped) never crashes the agent nor gets an answer.
TEST_F(ResponderTest, AWatchEndedNoticeDamagedAnywhereIsNeverActedOnAndTheGenuineOneEndsTheWatch) {
  Forge f;
  f.watch_until = kNow + 10 * kDay;
  std::string watch_id;
  ASSERT_EQ(Reply(responder_->Handle(Authorisation(f, &watch_id))).first, v1::MESSAGE_KIND_SIGNAL);
  auto kept = watches_->Get(watch_id);
  ASSERT_THAT(kept, IsOk());
  ASSERT_TRUE(kept->has_value());

  v1::CaseNotice notice;
  notice.set_kind(v1::NOTICE_KIND_WATCH_ENDED);
  notice.set_case_id(kCase);
  notice.set_at_ms(kNow);
  notice.set_until_ms(f.watch_until);
  notice.set_reason_code("partner-verwijderd");
  notice.set_request_id(watch_id);
  const std::string good = FromGateway(v1::MESSAGE_KIND_CASE_NOTICE, "", notice);
  for (size_t i = 0; i < good.size() * 8; ++i) {
    std::string bad = good;
    bad[i / 8] = static_cast<char>(bad[i / 8] ^ (1 << (i % 8)));
    ASSERT_FALSE(responder_->Handle(bad).reply.has_value()) << "bit " << i;
  }
  for (size_t n = 0; n < good.size(); ++n) {
    ASSERT_FALSE(responder_->Handle(good.substr(0, n)).reply.has_value()) << "length " << n;
  }
  kept = watches_->Get(watch_id);
  ASSERT_THAT(kept, IsOk());
  EXPECT_TRUE(kept->has_value()) << "a damaged notice ended the watch";
  EXPECT_EQ(Count(v1::AUDIT_EVENT_WATCH_ENDED), 0);

  EXPECT_FALSE(responder_->Handle(good).reply.has_value());
  kept = watches_->Get(watch_id);
  ASSERT_THAT(kept, IsOk());
  EXPECT_FALSE(kept->has_value()) << "the genuine notice did not end the watch";
  std::string reason;
  EXPECT_EQ(Count(v1::AUDIT_EVENT_WATCH_ENDED, &reason), 1);
  EXPECT_NE(reason.find("partner-verwijderd"), std::string::npos) << reason;

  const std::string body = notice.SerializeAsString();
  for (size_t i = 0; i < body.size() * 8; ++i) {
    std::string b = body;
    b[i / 8] = static_cast<char>(b[i / 8] ^ (1 << (i % 8)));
    auto m = signers_.at("gateway")->Sign(v1::MESSAGE_KIND_CASE_NOTICE, "politie-agent", "", b);
    ASSERT_THAT(m, IsOk());
    ASSERT_FALSE(responder_->Handle(m->bytes).reply.has_value()) << "body bit " << i;
  }
  for (size_t n = 0; n < body.size(); ++n) {
    auto m =
        signers_.at("gateway")->Sign(v1::MESSAGE_KIND_CASE_NOTICE, "politie-agent", "", body.substr(0, n));
    ASSERT_THAT(m, IsOk());
    ASSERT_FALSE(responder_->Handle(m->bytes).reply.has_value()) << "body length " << n;
  }
  EXPECT_EQ(Count(v1::AUDIT_EVENT_WATCH_ENDED), 1) << "a watch already forgotten was recorded as ended again";
}

// A source that dates a change later than the agent's clock (its clock runs
// ahead; here the JSON file's real modification time is days after the
// test's clock) is signalled once, not at every look until the agent's
// clock catches up.
TEST_F(ResponderTest, AChangeDatedAfterTheAgentsClockIsSignalledOnce) {
  Forge f;
  f.watch_until = kNow + 10 * kDay;
  std::string watch_id;
  const Outcome started = responder_->Handle(Authorisation(f, &watch_id));
  ASSERT_TRUE(started.reply.has_value());
  StaticKeyResolver keys;
  keys.Add("politie-agent", me().signing().public_key);
  auto env = EnvelopeVerifier(keys, nullptr).Verify(*started.reply);
  ASSERT_THAT(env, IsOk());
  // The gateway's receipt of WATCH_STARTED confirms the watch.
  {
    auto signer = audit::LogSigner::Create("ketenpoort.test/audit", ids_.at("gateway").signing().public_key,
                                           ids_.at("gateway").signing().secret_key.Clone());
    ASSERT_THAT(signer, IsOk());
    v1::Receipt r;
    r.set_delivery_id(env->header.message_id());
    r.set_audit_index(41);
    r.set_checkpoint(
        signer->Sign(audit::Checkpoint{"ketenpoort.test/audit", 42, std::string(32, '\x07'), {}}));
    EXPECT_FALSE(responder_->Handle(FromGateway(v1::MESSAGE_KIND_RECEIPT, watch_id, r)).reply.has_value());
  }
  auto kept = watches_->Get(watch_id);
  ASSERT_THAT(kept, IsOk());
  ASSERT_TRUE(kept->has_value() && (*kept)->confirmed);
  for (int look = 0; look < 5; ++look) {
    clock_.Set(kNow + 1000 + look * 60'000);
    (void)responder_->LookForChanges();  // a new signal, and those without receipt again
    auto w = watches_->Get(watch_id);
    ASSERT_THAT(w, IsOk());
    ASSERT_TRUE(w->has_value());
    EXPECT_GT((*w)->last_look_ms, kNow + 2 * kDay) << "look " << look;
  }
  EXPECT_EQ(Count(v1::AUDIT_EVENT_SIGNAL), 1);
}

// A rotation of the gateway's keys (docs/operations.md, "Key rotation"): the
// registry lists the gateway's old and new card; a checkpoint signed by the
// new key verifies, the kept checkpoints stay compared across the key change
// (a different log of the same size is a fork whichever key signed it), and
// a checkpoint by a key no card of the registry vouches for is refused.
TEST_F(ResponderTest, AfterTheGatewayRotatedItsKeysCheckpointsByTheNewKeyVerifyAndAnUnvouchedKeyIsRefused) {
  const std::string reg = dir_.File("registry");
  auto next = Identity::Generate("gateway", ParticipantKind::kGateway, "", kNow);
  ASSERT_OK(next.status());
  ASSERT_OK(WriteFileDurable(reg + "/gateway.next.card", next->MakeCard().ToYaml(), 0644,
                             WriteMode::kCreateExclusive));
  ASSERT_OK(Registry::Sign(reg, ids_.at("enrolment-hvb").signing().secret_key,
                           {{"regisseur-01", "casusregisseur"}, {"regisseur-02", "casusregisseur"}},
                           "hart-van-brabant", kNow));
  ASSERT_OK_AND_ASSIGN(Registry overlap, Registry::Load(reg, ids_.at("enrolment-hvb").signing().public_key));
  ASSERT_OK_AND_ASSIGN(const RegistryEntry* gw, overlap.Find("gateway"));
  ASSERT_EQ(gw->cards.size(), 2u);

  auto stranger = Identity::Generate("gateway", ParticipantKind::kGateway, "", kNow);  // in no registry
  ASSERT_OK(stranger.status());
  auto receipt = [&](const std::string& rid, const Identity& log_key, uint64_t size, char root) {
    auto signer = audit::LogSigner::Create("ketenpoort.test/audit", log_key.signing().public_key,
                                           log_key.signing().secret_key.Clone());
    EXPECT_THAT(signer, IsOk());
    v1::Receipt r;
    r.set_audit_index(size - 1);
    r.set_checkpoint(
        signer->Sign(audit::Checkpoint{"ketenpoort.test/audit", size, std::string(32, root), {}}));
    return FromGateway(v1::MESSAGE_KIND_RECEIPT, rid, r);
  };
  auto answered = [&]() {
    std::string rid;
    EXPECT_TRUE(responder_->Handle(Authorisation({}, &rid)).reply.has_value());
    return rid;
  };

  // Before the agent has the registry of the overlap, the new key is not vouched for.
  const std::string r1 = answered();
  EXPECT_THAT(responder_->Handle(receipt(r1, *next, 50, '\x01')).status,
              StatusIs(StatusCode::kUnauthenticated));
  EXPECT_OK(
      responder_->Handle(receipt(r1, ids_.at("gateway"), 50, '\x01')).status);  // the old key: kept as a file

  responder_->SetConfig(std::move(overlap), nullptr);
  const std::string r2 = answered();
  EXPECT_OK(responder_->Handle(receipt(r2, *next, 60, '\x02')).status);
  // A key no card vouches for: refused, however well-formed.
  const std::string r3 = answered();
  EXPECT_THAT(responder_->Handle(receipt(r3, *stranger, 70, '\x03')).status,
              StatusIs(StatusCode::kUnauthenticated));
  EXPECT_EQ(Kept(), 1);  // r3's answer waits for a receipt the gateway can vouch for
  // The new key signing another log of the size the old key signed: a fork.
  clock_.Advance(kResendAfterMs);
  EXPECT_THAT(responder_->Handle(receipt(r3, *next, 60, '\x09')).status, StatusIs(StatusCode::kDataLoss));
  EXPECT_OK(responder_->Handle(receipt(r3, *next, 70, '\x03')).status);
  EXPECT_EQ(Kept(), 0);

  // The overlap ends: the old card goes into the registry's archive, the
  // agent restarts pinning the new card. The checkpoint of 50 records it kept
  // (signed by the old key) is still compared: another log of 50 records,
  // now signed by the new key, is a fork.
  ASSERT_EQ(::rename((reg + "/gateway.card").c_str(), (reg + "/gateway.retired-1.card").c_str()), 0);
  ASSERT_EQ(::rename((reg + "/gateway.next.card").c_str(), (reg + "/gateway.card").c_str()), 0);
  ASSERT_OK(Registry::Sign(reg, ids_.at("enrolment-hvb").signing().secret_key,
                           {{"regisseur-01", "casusregisseur"}, {"regisseur-02", "casusregisseur"}},
                           "hart-van-brabant", kNow));
  ASSERT_OK_AND_ASSIGN(Registry after, Registry::Load(reg, ids_.at("enrolment-hvb").signing().public_key));
  ResponderOptions options;
  options.gateway_log_origin = "ketenpoort.test/audit";
  options.data_dir = dir_.path();
  Responder restarted(me(), next->MakeCard(), std::move(after), policy_, {}, *log_, clock_, options);
  // The gateway's messages are signed by its new key now, too.
  EnvelopeSigner new_gateway("gateway", next->signing().secret_key, clock_);
  auto receipt_to = [&](const Identity& log_key, uint64_t size, char root) {
    auto signer = audit::LogSigner::Create("ketenpoort.test/audit", log_key.signing().public_key,
                                           log_key.signing().secret_key.Clone());
    EXPECT_THAT(signer, IsOk());
    v1::Receipt r;
    r.set_audit_index(size - 1);
    r.set_checkpoint(
        signer->Sign(audit::Checkpoint{"ketenpoort.test/audit", size, std::string(32, root), {}}));
    auto m = new_gateway.Sign(v1::MESSAGE_KIND_RECEIPT, "politie-agent", r1, r.SerializeAsString());
    EXPECT_THAT(m, IsOk());
    return m->bytes;
  };
  EXPECT_THAT(restarted.Handle(receipt_to(*next, 50, '\x05')).status, StatusIs(StatusCode::kDataLoss));
  // The old key itself no longer signs a checkpoint the agent takes.
  EXPECT_THAT(restarted.Handle(receipt_to(ids_.at("gateway"), 80, '\x08')).status,
              StatusIs(StatusCode::kUnauthenticated));
  EXPECT_OK(restarted.Handle(receipt_to(*next, 80, '\x08')).status);
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::agent
