// The gateway's core on the flows of issue 14, without sockets: referrals
// (send, hold, decline, accept, lapse), handovers (offer, accept, cancel,
// lapse, stand-in), acute cases (notices, the window's end), removing a
// partner, handover packages (held, released, dropped), who may fetch a
// case's history, and tampered or malformed messages. Real keys, a signed
// registry, the example policy, SQLite and the audit log in a temporary
// folder; messages are signed and verified as on the wire. The only
// stand-ins are the clock and who is connected (a set).
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <set>

#include "case/case_chain.h"
#include "core/base/file_util.h"
#include "core/crypto/random.h"
#include "core/envelope/wire_format.h"
#include "gateway/gateway_core.h"
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
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

using test::kNow;
using test::kHour;
using test::kDay;

struct Sent {
  std::string to;
  v1::MessageKind kind = v1::MESSAGE_KIND_UNSPECIFIED;
  std::string request_id;
  std::string body;
  std::string bytes;
};

class CaseFlowTest : public ::testing::Test {
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
    Make("wijk-01", ParticipantKind::kCoordinator, "gemeente", true);
    Make("vt-01", ParticipantKind::kCoordinator, "veilig-thuis", true);
    Make("politie-01", ParticipantKind::kCoordinator, "politie", true);
    Make("cit-01", ParticipantKind::kCoordinator, "cit", true);
    Make("politie-agent", ParticipantKind::kAgent, "politie", true);
    Make("vt-agent", ParticipantKind::kAgent, "veilig-thuis", true);
    Make("jb-agent", ParticipantKind::kAgent, "jeugdbescherming", true);
    Make("ggz-agent", ParticipantKind::kAgent, "ggz", true);
    Make("fg-01", ParticipantKind::kPrivacyOfficer, "", true);  // notices (issue 17 §2)
    ASSERT_OK(Registry::Sign(registry_dir_, identities_.at("enrolment-hvb").signing().secret_key,
                             {{"regisseur-01", "casusregisseur"},
                              {"regisseur-02", "casusregisseur"},
                              {"wijk-01", "casuscoordinator"},
                              {"vt-01", "vt-medewerker"},
                              {"politie-01", "politie-acuut"},
                              {"cit-01", "cit-medewerker"}},
                             "hart-van-brabant", kNow));
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

  std::string SignRaw(const std::string& from, v1::MessageKind kind, const std::string& body,
                      const std::string& message_id = "", const std::string& request_id = "") {
    EnvelopeSigner signer(from, identities_.at(from).signing().secret_key, clock_);
    auto m = signer.Sign(kind, "", request_id, body, message_id);
    EXPECT_THAT(m, IsOk());
    return m->bytes;
  }
  // A message as the Gateway hands it to the core: verified, or (for
  // tamper tests) with the received bytes replaced afterwards.
  VerifiedMessage Verified(const std::string& from, const std::string& bytes) {
    VerifyOptions options;
    options.expected_sender = from;
    auto env = EnvelopeVerifier(resolver_, nullptr).Verify(bytes, options);
    EXPECT_THAT(env, IsOk());
    return VerifiedMessage{from, core_->Enrolled(from), *env, bytes, "conn-" + from};
  }
  VerifiedMessage Message(const std::string& from, v1::MessageKind kind,
                          const google::protobuf::Message& body) {
    return Verified(from, SignRaw(from, kind, body.SerializeAsString()));
  }

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
  UnitResult Tick() {
    return Unit([&] { core_->Expire(clock_.NowMillis()); });
  }

  std::vector<Sent> Outbox(const UnitResult& r) {
    std::vector<Sent> out;
    for (const auto& o : r.outbox) {
      auto env = EnvelopeVerifier(resolver_, nullptr).Verify(o.bytes);
      EXPECT_THAT(env, IsOk());
      out.push_back({o.to, env->header.kind(), env->header.request_id(), env->body, o.bytes});
    }
    return out;
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
  // The events of a timer unit, without held messages expiring unfetched
  // (nobody fetches an inbox here).
  static std::vector<v1::AuditEvent> TimerEvents(const UnitResult& r) {
    std::vector<v1::AuditEvent> events;
    for (const auto& rec : Records(r)) {
      if (rec.event() != v1::AUDIT_EVENT_EXPIRED) events.push_back(rec.event());
    }
    return events;
  }
  // (recipient, kind) of everything in the outbox.
  std::vector<std::pair<std::string, v1::MessageKind>> Sends(const UnitResult& r) {
    std::vector<std::pair<std::string, v1::MessageKind>> out;
    for (const auto& s : Outbox(r)) out.emplace_back(s.to, s.kind);
    return out;
  }
  template <typename T>
  static T Body(const Sent& s) {
    T t;
    EXPECT_TRUE(t.ParseFromString(s.body));
    return t;
  }
  Status ErrorOf(const UnitResult& r) {
    for (const auto& s : Outbox(r)) {
      if (s.kind != v1::MESSAGE_KIND_ERROR) continue;
      auto err = Body<v1::Error>(s);
      return Status(StatusCode::kUnknown, err.message());
    }
    return OkStatus();
  }
  // What waits in a participant's inbox, by kind.
  std::vector<v1::MessageKind> InboxKinds(const std::string& who) {
    auto items = core_->store().InboxFor(who);
    EXPECT_THAT(items, IsOk());
    std::vector<v1::MessageKind> out;
    for (const auto& i : *items) {
      auto env = EnvelopeVerifier(resolver_, nullptr).Verify(i.envelope);
      EXPECT_THAT(env, IsOk());
      out.push_back(env->header.kind());
    }
    return out;
  }
  std::vector<v1::CaseNotice> Notices(const std::string& who) {
    std::vector<v1::CaseNotice> out;
    auto items = core_->store().InboxFor(who);
    for (const auto& i : *items) {
      auto env = EnvelopeVerifier(resolver_, nullptr).Verify(i.envelope);
      if (env.ok() && env->header.kind() == v1::MESSAGE_KIND_CASE_NOTICE) {
        v1::CaseNotice n;
        EXPECT_TRUE(n.ParseFromString(env->body));
        out.push_back(n);
      }
    }
    return out;
  }

  // ---- referrals
  v1::Referral ReferralBody() {
    v1::Referral r;
    r.set_reference("VT-MB-2026-0815");
    r.set_to_partner("veiligheidsteam");
    r.set_purpose("plan-van-aanpak");
    r.add_reason_codes("herhaald-geweld");
    r.add_reason_codes("kinderen-betrokken");
    *r.add_subjects() = testing::CommittedRef(victim_);
    for (const char* to : {"regisseur-01", "regisseur-02"}) {
      auto* copy = r.add_sealed();
      copy->set_participant(to);
      copy->set_sealed(std::string("sealed subject data for ") + to);  // opaque to the gateway
    }
    return r;
  }
  std::string ReferralEnvelope(const v1::Referral& body, const std::string& from = "vt-01") {
    return SignRaw(from, v1::MESSAGE_KIND_REFERRAL, body.SerializeAsString());
  }

  // ---- case commands, with each case's head as its coordinator signed it
  struct Head {
    std::string hash;
    uint64_t length = 0;
  };
  UnitResult Command(const std::string& from, v1::CaseCommand cmd, std::string* hash = nullptr) {
    if (!cmd.has_open()) {
      cmd.set_previous(heads_[cmd.case_id()].hash);
      cmd.set_sequence(heads_[cmd.case_id()].length);
    }
    VerifiedMessage m = Message(from, v1::MESSAGE_KIND_CASE_COMMAND, cmd);
    UnitResult r = Handle(m);
    for (const auto& s : Outbox(r)) {
      if (s.kind != v1::MESSAGE_KIND_CASE_RESULT || s.to != from) continue;
      auto result = Body<v1::CaseResult>(s);
      heads_[result.case_id()] = {cases::CommandHash(m.raw), heads_[result.case_id()].length + 1};
      last_case_ = result.case_id();
      last_result_ = result;
    }
    if (hash != nullptr) *hash = cases::CommandHash(m.raw);
    return r;
  }
  std::string Open(const std::string& from = "regisseur-01", bool acute = false,
                   const std::string& purpose = "plan-van-aanpak") {
    v1::CaseCommand cmd;
    cmd.mutable_open()->set_purpose(purpose);
    cmd.mutable_open()->set_acute(acute);
    *cmd.mutable_open()->add_subjects() = testing::CommittedRef(victim_);
    last_case_.clear();
    EXPECT_TRUE(Command(from, cmd).committed);
    return last_case_;
  }
  UnitResult Offer(const std::string& case_id, const std::string& from, const std::string& to,
                   int64_t expires_in = 2 * kDay, int64_t stand_in_for = 0, std::string* hash = nullptr) {
    v1::CaseCommand cmd;
    cmd.set_case_id(case_id);
    auto* o = cmd.mutable_offer_handover();
    o->set_to(to);
    o->set_reason_code(stand_in_for != 0 ? "waarneming" : "naar-wijkteam");
    o->set_expires_at_ms(clock_.NowMillis() + expires_in);
    if (stand_in_for != 0) o->set_stand_in_until_ms(clock_.NowMillis() + stand_in_for);
    return Command(from, cmd, hash);
  }
  UnitResult Accept(const std::string& case_id, const std::string& from, const std::string& offer) {
    v1::CaseCommand cmd;
    cmd.set_case_id(case_id);
    cmd.mutable_accept_handover()->set_offer(offer);
    return Command(from, cmd);
  }
  VerifiedMessage Package(const std::string& case_id, const std::string& from, const std::string& to,
                          const std::string& offer, uint32_t part = 1, uint32_t parts = 1) {
    v1::HandoverPackage p;
    p.set_case_id(case_id);
    p.set_to(to);
    p.set_offer(offer);
    p.set_part(part);
    p.set_parts(parts);
    p.set_sealed("sealed HandoverData for " + to + " (opaque to the gateway)");
    return Message(from, v1::MESSAGE_KIND_HANDOVER_PACKAGE, p);
  }
  // A part carrying the answer to `request_id` (empty: the subjects' part).
  VerifiedMessage FragmentPart(const std::string& case_id, const std::string& offer,
                               const std::string& request_id, uint32_t part, uint32_t parts) {
    v1::HandoverPackage p;
    p.set_case_id(case_id);
    p.set_to("wijk-01");
    p.set_offer(offer);
    p.set_part(part);
    p.set_parts(parts);
    p.set_request_id(request_id);
    p.set_sealed("sealed HandoverData with one fragment (opaque to the gateway)");
    return Message("regisseur-01", v1::MESSAGE_KIND_HANDOVER_PACKAGE, p);
  }
  // regisseur-01 asks `partner` for `category` and its agent delivers the
  // answer: the request's id, as the gateway delivered it.
  std::string AskAndDeliver(const std::string& case_id, const std::string& partner, const std::string& agent,
                            const std::string& category) {
    VerifiedMessage req = Request(case_id, "regisseur-01", partner, category, "plan-van-aanpak");
    UnitResult asked = Handle(req);
    EXPECT_THAT(Events(asked), Contains(v1::AUDIT_EVENT_DECISION));
    EXPECT_THAT(Sends(asked), Contains(std::pair{std::string("regisseur-01"), v1::MESSAGE_KIND_ACCEPTED}))
        << category;
    const std::string request_id = req.env.header.message_id();
    v1::FragmentDelivery d;
    d.set_request_id(request_id);
    d.set_case_id(case_id);
    d.add_categories(category);
    d.set_sealed_content("sealed fragment (opaque to the gateway)");
    UnitResult delivered = Handle(Verified(
        agent, SignRaw(agent, v1::MESSAGE_KIND_FRAGMENT_DELIVERY, d.SerializeAsString(), "", request_id)));
    EXPECT_THAT(Events(delivered), ElementsAre(v1::AUDIT_EVENT_DELIVERED)) << category;
    return request_id;
  }
  // A case of regisseur-01 with the police and Jeugdbescherming admitted, in
  // the phase where the wijkteam may get Jeugdbescherming's measures.
  std::string CaseInRisicogestuurdeZorg() {
    const std::string case_id = Open();
    for (const char* partner : {"politie", "jeugdbescherming"}) {
      v1::CaseCommand admit;
      admit.set_case_id(case_id);
      admit.mutable_admit()->set_partner(partner);
      EXPECT_TRUE(Command("regisseur-01", admit).committed) << partner;
    }
    v1::CaseCommand phase;
    phase.set_case_id(case_id);
    phase.mutable_change_phase()->set_phase("risicogestuurde-zorg");
    EXPECT_TRUE(Command("regisseur-01", phase).committed);
    return case_id;
  }
  // The request ids of the handover parts held for `who` (the subjects' part: "").
  std::vector<std::string> HeldPartRequests(const std::string& who) {
    std::vector<std::string> out;
    auto items = core_->store().InboxFor(who);
    EXPECT_THAT(items, IsOk());
    for (const auto& i : *items) {
      auto env = EnvelopeVerifier(resolver_, nullptr).Verify(i.envelope);
      EXPECT_THAT(env, IsOk());
      if (!env.ok() || env->header.kind() != v1::MESSAGE_KIND_HANDOVER_PACKAGE) continue;
      v1::HandoverPackage p;
      EXPECT_TRUE(p.ParseFromString(env->body));
      out.push_back(p.request_id());
    }
    return out;
  }
  std::vector<v1::CaseNotice> WithheldNotices(const std::string& who) {
    std::vector<v1::CaseNotice> out;
    for (const auto& n : Notices(who)) {
      if (n.kind() == v1::NOTICE_KIND_HANDOVER_DATA_WITHHELD) out.push_back(n);
    }
    return out;
  }

  VerifiedMessage Fetch(const std::string& case_id, const std::string& from) {
    v1::CaseFetch f;
    f.set_case_id(case_id);
    return Message(from, v1::MESSAGE_KIND_CASE_FETCH, f);
  }
  VerifiedMessage Request(const std::string& case_id, const std::string& from, const std::string& partner,
                          const std::string& category, const std::string& purpose) {
    v1::FragmentRequest req;
    req.set_case_id(case_id);
    req.set_source_partner(partner);
    req.add_categories(category);
    req.set_purpose(purpose);
    auto* ref = req.add_subjects();
    ref->set_ref("S1");
    ref->set_role(v1::SUBJECT_ROLE_VICTIM);
    req.set_sealed_subjects("sealed subject data (opaque to the gateway)");
    req.set_case_head(heads_[case_id].hash);
    req.set_case_length(heads_[case_id].length);
    return Message(from, v1::MESSAGE_KIND_FRAGMENT_REQUEST, req);
  }

  std::map<std::string, Head> heads_;
  std::string last_case_;
  v1::CaseResult last_result_;
  const v1::Subject victim_ = testing::TestSubject("S1", v1::SUBJECT_ROLE_VICTIM, "999990019");
  testing::TempDir dir_;
  std::string keys_dir_, registry_dir_;
  std::map<std::string, Identity> identities_;
  StaticKeyResolver resolver_;
  ManualClock clock_{kNow};
  GatewayConfig config_;
  std::atomic<bool> fail_audit_{false};
  std::set<std::string> connected_{"regisseur-01", "regisseur-02", "wijk-01",
                                   "vt-01",        "politie-01",   "cit-01"};
  std::unique_ptr<GatewayCore> core_;
};

// ------------------------------------------------------------- referrals

TEST_F(CaseFlowTest, AReferralIsKeptRecordedHeldForEachCoordinatorAndAnsweredWaiting) {
  connected_.erase("regisseur-02");
  const std::string envelope = ReferralEnvelope(ReferralBody());
  VerifiedMessage m = Verified("vt-01", envelope);
  UnitResult r = Handle(m);
  ASSERT_TRUE(r.logged) << r.failure.ToString();
  ASSERT_THAT(Events(r), ElementsAre(v1::AUDIT_EVENT_REFERRAL_RECEIVED));
  const v1::AuditRecord rec = Records(r)[0];
  EXPECT_EQ(rec.referral().referral_id(), m.env.header.message_id());
  EXPECT_EQ(rec.referral().reference(), "VT-MB-2026-0815");
  EXPECT_EQ(rec.referral().referrer(), "vt-01");
  EXPECT_THAT(rec.referral().reason_codes(), ElementsAre("herhaald-geweld", "kinderen-betrokken"));
  EXPECT_EQ(rec.referral().subjects(), 1u);
  EXPECT_EQ(rec.recipient_partner(), "veiligheidsteam");
  // The connected coordinator gets it at once; the other finds it in its inbox.
  auto out = Outbox(r);
  ASSERT_THAT(Sends(r), ElementsAre(std::pair{std::string("regisseur-01"), v1::MESSAGE_KIND_REFERRAL},
                                    std::pair{std::string("vt-01"), v1::MESSAGE_KIND_REFERRAL_STATUS}));
  EXPECT_EQ(out[0].bytes, envelope);  // byte for byte
  auto status = Body<v1::ReferralStatus>(out[1]);
  EXPECT_EQ(out[1].request_id, m.env.header.message_id());
  EXPECT_EQ(status.state(), v1::REFERRAL_STATE_WAITING);
  EXPECT_EQ(status.reference(), "VT-MB-2026-0815");
  EXPECT_EQ(status.audit_index(), r.records[0].index);
  for (const char* who : {"regisseur-01", "regisseur-02"}) {
    auto held = core_->store().InboxFor(who);
    ASSERT_THAT(held, IsOk());
    ASSERT_EQ(held->size(), 1u) << who;
    EXPECT_EQ(held->at(0).envelope, envelope);
    EXPECT_EQ(held->at(0).request_id, m.env.header.message_id());  // until decided or acknowledged
  }
  // Every inbox fetch shows it again while it waits.
  connected_.insert("regisseur-02");
  for (int i = 0; i < 2; ++i) {
    UnitResult fetch = Handle(Message("regisseur-02", v1::MESSAGE_KIND_INBOX_FETCH, v1::InboxFetch()));
    EXPECT_THAT(Sends(fetch),
                ElementsAre(std::pair{std::string("regisseur-02"), v1::MESSAGE_KIND_REFERRAL},
                            std::pair{std::string("regisseur-02"), v1::MESSAGE_KIND_CASE_RESULT}))
        << "fetch " << i;
  }
  auto stored = core_->store().GetReferral(m.env.header.message_id());
  ASSERT_THAT(stored, IsOk());
  ASSERT_TRUE(stored->has_value());
  EXPECT_EQ((*stored)->state, ReferralState::kWaiting);
  EXPECT_THAT((*stored)->coordinators, UnorderedElementsAre("regisseur-01", "regisseur-02"));
}

TEST_F(CaseFlowTest, AReferralSentAgainIsAnsweredWithItsStateNotKeptTwice) {
  VerifiedMessage m = Verified("vt-01", ReferralEnvelope(ReferralBody()));
  ASSERT_TRUE(Handle(m).logged);
  UnitResult again = Unit([&] { EXPECT_EQ(core_->AnswerReferralAgain(m), GatewayCore::Again::kAnswered); });
  EXPECT_TRUE(again.records.empty());
  auto out = Outbox(again);
  ASSERT_THAT(Sends(again), ElementsAre(std::pair{std::string("vt-01"), v1::MESSAGE_KIND_REFERRAL_STATUS}));
  EXPECT_EQ(Body<v1::ReferralStatus>(out[0]).state(), v1::REFERRAL_STATE_WAITING);
  // Handled as a message (not caught before): the same.
  UnitResult handled = Handle(m);
  EXPECT_TRUE(handled.records.empty());
  EXPECT_THAT(Sends(handled), ElementsAre(std::pair{std::string("vt-01"), v1::MESSAGE_KIND_REFERRAL_STATUS}));
  EXPECT_EQ(core_->store().InboxFor("regisseur-02")->size(), 1u);
  // Its id under another participant's signature is refused.
  VerifiedMessage other =
      Verified("politie-01", SignRaw("politie-01", v1::MESSAGE_KIND_REFERRAL,
                                     ReferralBody().SerializeAsString(), m.env.header.message_id()));
  UnitResult r = Handle(other);
  EXPECT_THAT(Events(r), ElementsAre(v1::AUDIT_EVENT_REFUSED));
  EXPECT_THAT(ErrorOf(r).message(), HasSubstr("exists already"));
}

TEST_F(CaseFlowTest, BadReferralsAreRefusedReadablyAuditedAndNotKept) {
  struct Case {
    std::string name;
    std::string from;
    std::function<void(v1::Referral&)> change;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"a role that may not refer", "regisseur-02", [](v1::Referral&) {}, "refer"},
      {"a reason code the policy lacks", "vt-01", [](v1::Referral& r) { r.add_reason_codes("geen-idee"); },
       "geen-idee"},
      {"no subjects", "vt-01", [](v1::Referral& r) { r.clear_subjects(); }, "subject"},
      {"sealed to nobody who coordinates there", "vt-01",
       [](v1::Referral& r) {
         r.clear_sealed();
         auto* c = r.add_sealed();
         c->set_participant("wijk-01");
         c->set_sealed("x");
       },
       "coordinates"},
      {"sealed to an unknown participant", "vt-01",
       [](v1::Referral& r) {
         r.clear_sealed();
         auto* c = r.add_sealed();
         c->set_participant("regisseur-99");
         c->set_sealed("x");
       },
       "coordinates"},
      {"to a partner it may not refer to", "vt-01", [](v1::Referral& r) { r.set_to_partner("politie"); },
       "politie"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    v1::Referral body = ReferralBody();
    c.change(body);
    VerifiedMessage m = Verified(c.from, ReferralEnvelope(body, c.from));
    UnitResult r = Handle(m);
    ASSERT_TRUE(r.logged);
    EXPECT_THAT(Events(r), ElementsAre(v1::AUDIT_EVENT_REFUSED));
    EXPECT_EQ(Records(r)[0].message_id(), m.env.header.message_id());
    ASSERT_THAT(Sends(r), ElementsAre(std::pair{c.from, v1::MESSAGE_KIND_ERROR}));
    EXPECT_THAT(ErrorOf(r).message(), HasSubstr(c.says));
    auto stored = core_->store().GetReferral(m.env.header.message_id());
    ASSERT_THAT(stored, IsOk());
    EXPECT_FALSE(stored->has_value());
  }
  EXPECT_THAT(InboxKinds("regisseur-01"), IsEmpty());
  EXPECT_THAT(InboxKinds("regisseur-02"), IsEmpty());
}

TEST_F(CaseFlowTest, AReferralWhoseBytesWereAlteredAfterSigningIsRefused) {
  const std::string good = ReferralEnvelope(ReferralBody());
  VerifiedMessage m = Verified("vt-01", good);
  // The gateway's copy of the bytes no longer matches the signature (what
  // VerifyReferral checks again, as the fold and the client do).
  v1::Envelope env;
  ASSERT_TRUE(env.ParseFromString(good));
  std::string sig = env.signature();
  sig[5] ^= 0x01;
  env.set_signature(sig);
  m.raw = env.SerializeAsString();
  UnitResult r = Handle(m);
  EXPECT_THAT(Events(r), ElementsAre(v1::AUDIT_EVENT_REFUSED));
  ASSERT_THAT(Sends(r), ElementsAre(std::pair{std::string("vt-01"), v1::MESSAGE_KIND_ERROR}));
  EXPECT_FALSE(core_->store().GetReferral(m.env.header.message_id())->has_value());
  // Junk where a referral should be.
  VerifiedMessage junk =
      Verified("vt-01", SignRaw("vt-01", v1::MESSAGE_KIND_REFERRAL, "\xff\xff\xff not protobuf"));
  UnitResult j = Handle(junk);
  EXPECT_THAT(Events(j), ElementsAre(v1::AUDIT_EVENT_REFUSED));
  EXPECT_THAT(Sends(j), ElementsAre(std::pair{std::string("vt-01"), v1::MESSAGE_KIND_ERROR}));
}

TEST_F(CaseFlowTest, ADeclineGoesBackToTheReferrerAndTheOtherCoordinatorAndTheCopiesGo) {
  VerifiedMessage m = Verified("vt-01", ReferralEnvelope(ReferralBody()));
  ASSERT_TRUE(Handle(m).logged);
  const std::string id = m.env.header.message_id();
  auto decline = [&](const std::string& from, const std::string& code) {
    v1::ReferralDecline d;
    d.set_referral_id(id);
    d.set_reason_code(code);
    return Handle(Message(from, v1::MESSAGE_KIND_REFERRAL_DECLINE, d));
  };
  // Refusals first: nothing changes.
  UnitResult wrong_code = decline("regisseur-01", "te-druk");
  EXPECT_THAT(Events(wrong_code), ElementsAre(v1::AUDIT_EVENT_REFUSED));
  EXPECT_THAT(ErrorOf(wrong_code).message(), HasSubstr("geen-hoog-risico"));  // names the allowed codes
  UnitResult not_addressed = decline("wijk-01", "geen-hoog-risico");
  EXPECT_THAT(ErrorOf(not_addressed).message(), HasSubstr("not addressed to you"));
  v1::ReferralDecline unknown;
  unknown.set_referral_id(NewMessageId());
  unknown.set_reason_code("geen-hoog-risico");
  EXPECT_THAT(ErrorOf(Handle(Message("regisseur-01", v1::MESSAGE_KIND_REFERRAL_DECLINE, unknown))).message(),
              HasSubstr("no referral"));
  v1::ReferralDecline short_id;
  short_id.set_referral_id("short");
  short_id.set_reason_code("geen-hoog-risico");
  EXPECT_THAT(ErrorOf(Handle(Message("regisseur-01", v1::MESSAGE_KIND_REFERRAL_DECLINE, short_id))).message(),
              HasSubstr("16-byte id"));
  UnitResult junk = Handle(Verified(
      "regisseur-01", SignRaw("regisseur-01", v1::MESSAGE_KIND_REFERRAL_DECLINE, "\x0a\x7f truncated")));
  EXPECT_THAT(Events(junk), ElementsAre(v1::AUDIT_EVENT_REFUSED));
  EXPECT_THAT(Sends(junk), ElementsAre(std::pair{std::string("regisseur-01"), v1::MESSAGE_KIND_ERROR}));
  UnitResult free_text = decline("regisseur-01", "De moeder wil niet meewerken");  // never a code
  EXPECT_THAT(Events(free_text), ElementsAre(v1::AUDIT_EVENT_REFUSED));
  EXPECT_EQ(Records(free_text)[0].referral().decline_reason(), "");  // the text stays out of the log
  EXPECT_THAT(Records(free_text)[0].DebugString(), ::testing::Not(HasSubstr("moeder")));
  EXPECT_EQ(core_->store().GetReferral(id).value()->state, ReferralState::kWaiting);

  UnitResult r = decline("regisseur-01", "past-bij-wijkteam");
  ASSERT_TRUE(r.logged);
  ASSERT_THAT(Events(r), ElementsAre(v1::AUDIT_EVENT_REFERRAL_DECLINED));
  EXPECT_EQ(Records(r)[0].referral().decline_reason(), "past-bij-wijkteam");
  EXPECT_EQ(Records(r)[0].referral().reference(), "VT-MB-2026-0815");
  auto out = Outbox(r);
  ASSERT_THAT(Sends(r),
              ElementsAre(std::pair{std::string("vt-01"), v1::MESSAGE_KIND_REFERRAL_STATUS},
                          std::pair{std::string("regisseur-02"), v1::MESSAGE_KIND_REFERRAL_STATUS},
                          std::pair{std::string("regisseur-01"), v1::MESSAGE_KIND_REFERRAL_STATUS}));
  auto to_referrer = Body<v1::ReferralStatus>(out[0]);
  EXPECT_EQ(to_referrer.state(), v1::REFERRAL_STATE_DECLINED);
  EXPECT_EQ(to_referrer.reason_code(), "past-bij-wijkteam");
  EXPECT_EQ(to_referrer.decided_by(), "regisseur-01");
  // The referral's copies are gone; the other coordinator holds the status.
  EXPECT_THAT(InboxKinds("regisseur-01"), IsEmpty());
  EXPECT_THAT(InboxKinds("regisseur-02"), ElementsAre(v1::MESSAGE_KIND_REFERRAL_STATUS));
  EXPECT_THAT(InboxKinds("vt-01"), ElementsAre(v1::MESSAGE_KIND_REFERRAL_STATUS));  // sent, removed once sent
  // Declined once: declining it again for another reason, or opening a case on it, is refused.
  EXPECT_THAT(ErrorOf(decline("regisseur-02", "al-bekend")).message(), HasSubstr("declined by regisseur-01"));
  v1::CaseCommand open;
  open.mutable_open()->set_purpose("plan-van-aanpak");
  *open.mutable_open()->add_subjects() = testing::CommittedRef(victim_);
  open.mutable_open()->set_referral(m.raw);
  UnitResult opened = Command("regisseur-02", open);
  EXPECT_THAT(Events(opened), ElementsAre(v1::AUDIT_EVENT_REFUSED));
  EXPECT_THAT(ErrorOf(opened).message(), HasSubstr("declined"));
}

TEST_F(CaseFlowTest, ACaseOpensOnAReferralAndTheReferrerAndOtherCoordinatorAreTold) {
  VerifiedMessage m = Verified("vt-01", ReferralEnvelope(ReferralBody()));
  ASSERT_TRUE(Handle(m).logged);
  v1::CaseCommand open;
  open.mutable_open()->set_purpose("plan-van-aanpak");
  *open.mutable_open()->add_subjects() = testing::CommittedRef(victim_);
  open.mutable_open()->set_referral(m.raw);
  // Not addressed to the wijkteam's coordinator: refused, nothing opened.
  UnitResult wrong = Command("wijk-01", open);
  EXPECT_THAT(Events(wrong), ElementsAre(v1::AUDIT_EVENT_REFUSED));
  EXPECT_THAT(ErrorOf(wrong).message(), HasSubstr("not addressed to you"));

  UnitResult r = Command("regisseur-02", open);
  ASSERT_TRUE(r.logged) << r.failure.ToString();
  ASSERT_THAT(Events(r), ElementsAre(v1::AUDIT_EVENT_CASE_OPENED, v1::AUDIT_EVENT_REFERRAL_ACCEPTED));
  const std::string case_id = last_case_;
  ASSERT_FALSE(case_id.empty());
  EXPECT_EQ(Records(r)[1].case_id(), case_id);
  EXPECT_EQ(Records(r)[1].referral().referrer(), "vt-01");
  // The case opened with Veilig Thuis admitted; the status comes with the result.
  EXPECT_EQ(last_result_.status().coordinator(), "regisseur-02");
  EXPECT_EQ(last_result_.status().phase(), last_result_.phase());
  auto stored = core_->store().GetReferral(m.env.header.message_id());
  EXPECT_EQ((*stored)->state, ReferralState::kAccepted);
  EXPECT_EQ((*stored)->case_id, case_id);
  bool told_referrer = false;
  for (const auto& s : Outbox(r)) {
    if (s.to == "vt-01" && s.kind == v1::MESSAGE_KIND_REFERRAL_STATUS) {
      auto st = Body<v1::ReferralStatus>(s);
      EXPECT_EQ(st.state(), v1::REFERRAL_STATE_ACCEPTED);
      EXPECT_EQ(st.case_id(), case_id);
      told_referrer = true;
    }
  }
  EXPECT_TRUE(told_referrer);
  EXPECT_THAT(InboxKinds("regisseur-01"), ElementsAre(v1::MESSAGE_KIND_REFERRAL_STATUS));
  EXPECT_THAT(InboxKinds("regisseur-02"), IsEmpty());
  // A second case on the same referral is refused.
  UnitResult twice = Command("regisseur-01", open);
  EXPECT_THAT(ErrorOf(twice).message(), HasSubstr("accepted by regisseur-02"));
}

TEST_F(CaseFlowTest, AReferralNobodyDecidesLapsesOnceAndTheReferrerIsTold) {
  VerifiedMessage m = Verified("vt-01", ReferralEnvelope(ReferralBody()));
  ASSERT_TRUE(Handle(m).logged);
  clock_.Advance(13 * kDay);
  EXPECT_THAT(TimerEvents(Tick()), IsEmpty());
  clock_.Advance(1 * kDay + 1);
  UnitResult r = Tick();
  ASSERT_THAT(TimerEvents(r), ElementsAre(v1::AUDIT_EVENT_REFERRAL_EXPIRED));
  EXPECT_THAT(Sends(r), Contains(std::pair{std::string("vt-01"), v1::MESSAGE_KIND_REFERRAL_STATUS}));
  EXPECT_EQ(core_->store().GetReferral(m.env.header.message_id()).value()->state, ReferralState::kExpired);
  EXPECT_THAT(InboxKinds("regisseur-02"), ElementsAre(v1::MESSAGE_KIND_REFERRAL_STATUS));  // the copy went
  EXPECT_THAT(TimerEvents(Tick()), IsEmpty());                                             // once
}

// ------------------------------------------------------------- handovers

TEST_F(CaseFlowTest, AHandoverIsOfferedAcceptedAsOneMarkedMomentAndTheCaseMovesWithItsPackage) {
  const std::string case_id = Open();
  std::string offer;
  UnitResult offered = Offer(case_id, "regisseur-01", "wijk-01", 2 * kDay, 0, &offer);
  ASSERT_TRUE(offered.logged) << offered.failure.ToString();
  ASSERT_THAT(Events(offered), ElementsAre(v1::AUDIT_EVENT_HANDOVER_OFFERED));
  auto rec = Records(offered)[0];
  EXPECT_EQ(rec.handover().from(), "regisseur-01");
  EXPECT_EQ(rec.handover().to(), "wijk-01");
  EXPECT_EQ(rec.handover().reason_code(), "naar-wijkteam");
  EXPECT_EQ(rec.handover().expires_unix_millis(), kNow + 2 * kDay);
  EXPECT_EQ(last_result_.status().pending_handover_to(), "wijk-01");
  auto notices = Notices("wijk-01");
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_EQ(notices[0].kind(), v1::NOTICE_KIND_HANDOVER_OFFERED);
  EXPECT_EQ(notices[0].case_id(), case_id);
  EXPECT_EQ(notices[0].by(), "regisseur-01");
  EXPECT_EQ(notices[0].until_ms(), kNow + 2 * kDay);

  // The offered participant may look at the case before taking it.
  EXPECT_THAT(Sends(Handle(Fetch(case_id, "wijk-01"))),
              ElementsAre(std::pair{std::string("wijk-01"), v1::MESSAGE_KIND_CASE_CHAIN}));
  // The former coordinator's package is held (not yet delivered).
  UnitResult held = Handle(Package(case_id, "regisseur-01", "wijk-01", offer));
  EXPECT_TRUE(held.records.empty());
  auto held_out = Outbox(held);
  ASSERT_THAT(Sends(held), ElementsAre(std::pair{std::string("regisseur-01"), v1::MESSAGE_KIND_CASE_RESULT}));
  EXPECT_EQ(Body<v1::CaseResult>(held_out[0]).audit_index(), 0u);
  EXPECT_THAT(InboxKinds("wijk-01"), ElementsAre(v1::MESSAGE_KIND_CASE_NOTICE));

  connected_.insert("wijk-01");
  UnitResult accepted = Accept(case_id, "wijk-01", offer);
  ASSERT_TRUE(accepted.logged) << accepted.failure.ToString();
  ASSERT_THAT(Events(accepted),
              ElementsAre(v1::AUDIT_EVENT_HANDOVER_ACCEPTED, v1::AUDIT_EVENT_HANDOVER_DATA));
  auto moment = Records(accepted)[0];
  EXPECT_EQ(moment.handover().from(), "regisseur-01");
  EXPECT_EQ(moment.handover().to(), "wijk-01");
  EXPECT_EQ(moment.handover().offered_unix_millis(), kNow);
  EXPECT_EQ(moment.handover().stand_in_until_unix_millis(), 0);
  auto data = Records(accepted)[1];
  EXPECT_EQ(data.handover().to(), "wijk-01");
  // Both organisations are named: an access request's answer lists the next
  // coordinator's organisation among the recipients.
  EXPECT_EQ(data.source_partner(), "veiligheidsteam");
  EXPECT_EQ(data.recipient_partner(), "gemeente");
  EXPECT_GT(data.payload().ciphertext_bytes(), 0u);
  EXPECT_EQ(last_result_.status().coordinator(), "wijk-01");
  EXPECT_THAT(Sends(accepted),
              Contains(std::pair{std::string("wijk-01"), v1::MESSAGE_KIND_HANDOVER_PACKAGE}));
  EXPECT_THAT(Sends(accepted),
              Contains(std::pair{std::string("regisseur-01"), v1::MESSAGE_KIND_CASE_NOTICE}));
  EXPECT_EQ(Notices("regisseur-01").at(0).kind(), v1::NOTICE_KIND_HANDOVER_ACCEPTED);
  // The package stays held for the new coordinator until it acknowledges it.
  EXPECT_THAT(InboxKinds("wijk-01"), Contains(v1::MESSAGE_KIND_HANDOVER_PACKAGE));
  EXPECT_TRUE(core_->store().HandoverParts(offer)->empty());
  EXPECT_EQ(core_->store().GetCase(case_id)->coordinator, "wijk-01");

  // Only the new coordinator acts and fetches now.
  EXPECT_THAT(ErrorOf(Handle(Fetch(case_id, "regisseur-01"))).message(), HasSubstr("do not coordinate"));
  v1::CaseCommand admit;
  admit.set_case_id(case_id);
  admit.mutable_admit()->set_partner("politie");
  EXPECT_THAT(Events(Command("regisseur-01", admit)), ElementsAre(v1::AUDIT_EVENT_REFUSED));
  EXPECT_TRUE(Command("wijk-01", admit).committed);
  // A later part of an accepted handover goes straight to the new coordinator.
  UnitResult late = Handle(Package(case_id, "regisseur-01", "wijk-01", offer, 2, 2));
  EXPECT_THAT(Events(late), ElementsAre(v1::AUDIT_EVENT_HANDOVER_DATA));
  EXPECT_THAT(Sends(late), Contains(std::pair{std::string("wijk-01"), v1::MESSAGE_KIND_HANDOVER_PACKAGE}));
}

TEST_F(CaseFlowTest, AnOfferNobodyAcceptsLapsesOnceItsPackageIsDroppedAndTheCaseStays) {
  const std::string case_id = Open();
  std::string offer;
  ASSERT_TRUE(Offer(case_id, "regisseur-01", "wijk-01", 1 * kDay, 0, &offer).logged);
  ASSERT_TRUE(Handle(Package(case_id, "regisseur-01", "wijk-01", offer)).logged);
  EXPECT_EQ(core_->store().HandoverParts(offer)->size(), 1u);
  clock_.Advance(kDay + 1);
  UnitResult r = Tick();
  ASSERT_THAT(TimerEvents(r), ElementsAre(v1::AUDIT_EVENT_HANDOVER_LAPSED));
  EXPECT_EQ(Records(r)[0].handover().to(), "wijk-01");
  EXPECT_THAT(Records(r)[0].reason(), HasSubstr("stays with regisseur-01"));
  EXPECT_TRUE(core_->store().HandoverParts(offer)->empty());
  EXPECT_EQ(Notices("wijk-01").back().kind(), v1::NOTICE_KIND_HANDOVER_LAPSED);
  EXPECT_EQ(Notices("regisseur-01").back().kind(), v1::NOTICE_KIND_HANDOVER_LAPSED);
  EXPECT_THAT(TimerEvents(Tick()), IsEmpty());  // once
  // Accepting now is refused by the fold; a package for it too.
  UnitResult late = Accept(case_id, "wijk-01", offer);
  EXPECT_THAT(Events(late), ElementsAre(v1::AUDIT_EVENT_REFUSED));
  EXPECT_THAT(ErrorOf(late).message(), HasSubstr("lapsed"));
  EXPECT_THAT(ErrorOf(Handle(Package(case_id, "regisseur-01", "wijk-01", offer))).message(),
              HasSubstr("lapsed"));
  EXPECT_THAT(Sends(Handle(Fetch(case_id, "regisseur-01"))),
              ElementsAre(std::pair{std::string("regisseur-01"), v1::MESSAGE_KIND_CASE_CHAIN}));
}

TEST_F(CaseFlowTest, ACancelledOfferDropsItsPackageAndCannotBeAccepted) {
  const std::string case_id = Open();
  std::string offer;
  ASSERT_TRUE(Offer(case_id, "regisseur-01", "wijk-01", 2 * kDay, 0, &offer).logged);
  ASSERT_TRUE(Handle(Package(case_id, "regisseur-01", "wijk-01", offer)).logged);
  v1::CaseCommand cancel;
  cancel.set_case_id(case_id);
  cancel.mutable_cancel_handover()->set_reason_code("andere-aanpak");
  UnitResult r = Command("regisseur-01", cancel);
  ASSERT_THAT(Events(r), ElementsAre(v1::AUDIT_EVENT_HANDOVER_CANCELLED));
  EXPECT_EQ(Records(r)[0].handover().to(), "wijk-01");
  EXPECT_EQ(Records(r)[0].reason(), "andere-aanpak");
  EXPECT_TRUE(core_->store().HandoverParts(offer)->empty());
  // The participant it was offered to is told.
  bool told = false;
  for (const auto& n : Notices("wijk-01")) {
    told = told || (n.kind() == v1::NOTICE_KIND_HANDOVER_CANCELLED && n.case_id() == case_id &&
                    n.by() == "regisseur-01" && n.reason_code() == "andere-aanpak");
  }
  EXPECT_TRUE(told);
  EXPECT_THAT(Events(Accept(case_id, "wijk-01", offer)), ElementsAre(v1::AUDIT_EVENT_REFUSED));
  // Its deadline is gone with it: no lapse later.
  clock_.Advance(3 * kDay);
  EXPECT_THAT(TimerEvents(Tick()), IsEmpty());
}

TEST_F(CaseFlowTest, AStandInEndsByItselfOnceAndTheCaseIsBackWithItsCoordinator) {
  const std::string case_id = Open();
  std::string offer;
  ASSERT_TRUE(Offer(case_id, "regisseur-01", "regisseur-02", kDay, 7 * kDay, &offer).logged);
  UnitResult accepted = Accept(case_id, "regisseur-02", offer);
  ASSERT_THAT(Events(accepted), ElementsAre(v1::AUDIT_EVENT_HANDOVER_ACCEPTED));
  EXPECT_EQ(Records(accepted)[0].handover().stand_in_until_unix_millis(), kNow + 7 * kDay);
  // During the stand-in its principal may still look at the case.
  EXPECT_THAT(Sends(Handle(Fetch(case_id, "regisseur-01"))),
              ElementsAre(std::pair{std::string("regisseur-01"), v1::MESSAGE_KIND_CASE_CHAIN}));
  clock_.Advance(7 * kDay);
  UnitResult r = Tick();
  ASSERT_THAT(TimerEvents(r), ElementsAre(v1::AUDIT_EVENT_STAND_IN_ENDED));
  EXPECT_EQ(Records(r).back().handover().from(), "regisseur-02");
  EXPECT_EQ(Records(r).back().handover().to(), "regisseur-01");
  EXPECT_EQ(core_->store().GetCase(case_id)->coordinator, "regisseur-01");
  EXPECT_EQ(Notices("regisseur-01").back().kind(), v1::NOTICE_KIND_STAND_IN_ENDED);
  EXPECT_EQ(Notices("regisseur-02").back().kind(), v1::NOTICE_KIND_STAND_IN_ENDED);
  EXPECT_THAT(TimerEvents(Tick()), IsEmpty());
  EXPECT_THAT(ErrorOf(Handle(Fetch(case_id, "regisseur-02"))).message(), HasSubstr("do not coordinate"));
  auto chain = Outbox(Handle(Fetch(case_id, "regisseur-01")));
  ASSERT_EQ(chain.size(), 1u);
  EXPECT_EQ(Body<v1::CaseChain>(chain[0]).status().coordinator(), "regisseur-01");
}

// ------------------------------------------------------------ acute cases

TEST_F(CaseFlowTest, AnAcuteCaseNotifiesTheAcutePartnersAndItsWindowEndRefusesRequests) {
  connected_.insert("politie-01");
  const std::string case_id = Open("politie-01", true, "acuut-gevaar-afwenden");
  ASSERT_FALSE(case_id.empty());
  EXPECT_GT(last_result_.status().acute_until_ms(), 0);
  EXPECT_EQ(last_result_.status().acute_until_ms(), kNow + 72 * kHour);
  EXPECT_EQ(last_result_.phase(), "acute-veiligheid");
  // Veilig Thuis and the CIT are told at once; the opener is not told its own news.
  for (const char* who : {"vt-01", "cit-01"}) {
    auto n = Notices(who);
    ASSERT_EQ(n.size(), 1u) << who;
    EXPECT_EQ(n[0].kind(), v1::NOTICE_KIND_ACUTE_OPENED);
    EXPECT_EQ(n[0].by(), "politie-01");
    EXPECT_EQ(n[0].until_ms(), kNow + 72 * kHour);
  }
  EXPECT_TRUE(Notices("politie-01").empty());
  EXPECT_TRUE(Notices("regisseur-01").empty());

  clock_.Advance(72 * kHour);
  UnitResult ended = Tick();
  ASSERT_THAT(TimerEvents(ended), ElementsAre(v1::AUDIT_EVENT_ACUTE_WINDOW_ENDED));
  EXPECT_EQ(Records(ended)[0].acute_until_unix_millis(), kNow + 72 * kHour);
  EXPECT_EQ(Notices("politie-01").back().kind(), v1::NOTICE_KIND_ACUTE_WINDOW_ENDED);
  EXPECT_THAT(TimerEvents(Tick()), IsEmpty());  // once
  // A request now: a REFUSAL held for the coordinator, saying why.
  UnitResult r = Handle(
      Request(case_id, "politie-01", "veilig-thuis", "veilig-thuis-meldingen", "acuut-gevaar-afwenden"));
  ASSERT_THAT(Events(r), ElementsAre(v1::AUDIT_EVENT_REFUSED));
  auto out = Outbox(r);
  ASSERT_THAT(Sends(r), ElementsAre(std::pair{std::string("politie-01"), v1::MESSAGE_KIND_REFUSAL}));
  EXPECT_THAT(Body<v1::Refusal>(out[0]).reason(), HasSubstr("acute window"));
}

TEST_F(CaseFlowTest, AnAcuteCaseHandedOverInTimeNeverSeesItsWindowEnd) {
  const std::string case_id = Open("politie-01", true, "acuut-gevaar-afwenden");
  std::string offer;
  ASSERT_TRUE(Offer(case_id, "politie-01", "vt-01", kDay, 0, &offer).logged);
  clock_.Advance(10 * kHour);
  UnitResult accepted = Accept(case_id, "vt-01", offer);
  ASSERT_THAT(Events(accepted), ElementsAre(v1::AUDIT_EVENT_HANDOVER_ACCEPTED));
  EXPECT_EQ(last_result_.status().acute_until_ms(), 0);
  clock_.Advance(80 * kHour);
  EXPECT_THAT(TimerEvents(Tick()), IsEmpty());
}

TEST_F(CaseFlowTest, ARemovedPartnersCoordinatorsAreTold) {
  const std::string case_id = Open();
  v1::CaseCommand admit;
  admit.set_case_id(case_id);
  admit.mutable_admit()->set_partner("veilig-thuis");
  ASSERT_TRUE(Command("regisseur-01", admit).committed);
  v1::CaseCommand remove;
  remove.set_case_id(case_id);
  remove.mutable_remove_partner()->set_partner("veilig-thuis");
  remove.mutable_remove_partner()->set_reason_code("geen-rol-meer");
  UnitResult r = Command("regisseur-01", remove);
  ASSERT_THAT(Events(r), ElementsAre(v1::AUDIT_EVENT_PARTNER_REMOVED));
  EXPECT_EQ(Records(r)[0].recipient_partner(), "veilig-thuis");
  EXPECT_EQ(Records(r)[0].reason(), "geen-rol-meer");
  auto n = Notices("vt-01");
  ASSERT_EQ(n.size(), 1u);
  EXPECT_EQ(n[0].kind(), v1::NOTICE_KIND_PARTNER_REMOVED);
  EXPECT_EQ(n[0].reason_code(), "geen-rol-meer");
}

// ----------------------------------------------------- handover packages

TEST_F(CaseFlowTest, MalformedOrMisdirectedHandoverPackagesAreRefusedAndNothingIsHeld) {
  const std::string case_id = Open();
  std::string offer;
  ASSERT_TRUE(Offer(case_id, "regisseur-01", "wijk-01", kDay, 0, &offer).logged);
  struct Case {
    std::string name;
    VerifiedMessage m;
    std::string says;
  };
  std::vector<Case> cases;
  cases.push_back({"a short offer hash", Package(case_id, "regisseur-01", "wijk-01", "short"), "hash"});
  cases.push_back({"part beyond parts", Package(case_id, "regisseur-01", "wijk-01", offer, 3, 2), "part"});
  cases.push_back({"no parts", Package(case_id, "regisseur-01", "wijk-01", offer, 0, 0), "part"});
  cases.push_back({"too many parts", Package(case_id, "regisseur-01", "wijk-01", offer, 1, 1000), "part"});
  cases.push_back(
      {"another recipient", Package(case_id, "regisseur-01", "regisseur-02", offer), "offered to wijk-01"});
  cases.push_back(
      {"not the offerer", Package(case_id, "regisseur-02", "wijk-01", offer), "only regisseur-01"});
  cases.push_back({"an unknown offer", Package(case_id, "regisseur-01", "wijk-01", std::string(32, 'x')),
                   "no handover offer"});
  cases.push_back(
      {"an unknown case", Package("VT-2026-9999", "regisseur-01", "wijk-01", offer), "does not exist"});
  cases.push_back({"not a package",
                   Verified("regisseur-01", SignRaw("regisseur-01", v1::MESSAGE_KIND_HANDOVER_PACKAGE,
                                                    "\x0a\xff\xff\xff\xff garbage")),
                   ""});
  for (auto& c : cases) {
    SCOPED_TRACE(c.name);
    UnitResult r = Handle(c.m);
    EXPECT_THAT(Events(r), ElementsAre(v1::AUDIT_EVENT_REFUSED));
    EXPECT_THAT(ErrorOf(r).message(), HasSubstr(c.says));
  }
  EXPECT_TRUE(core_->store().HandoverParts(offer)->empty());
  EXPECT_THAT(Notices("wijk-01").size(), 1u);  // only the offer's notice
}

TEST_F(CaseFlowTest, TheHistoryIsForTheCoordinatorTheOfferedAndNobodyElse) {
  const std::string case_id = Open();
  EXPECT_THAT(Sends(Handle(Fetch(case_id, "regisseur-01"))),
              ElementsAre(std::pair{std::string("regisseur-01"), v1::MESSAGE_KIND_CASE_CHAIN}));
  for (const char* who : {"regisseur-02", "wijk-01", "vt-01"}) {
    EXPECT_THAT(ErrorOf(Handle(Fetch(case_id, who))).message(), HasSubstr("do not coordinate")) << who;
  }
  ASSERT_TRUE(Offer(case_id, "regisseur-01", "wijk-01").logged);
  auto chain = Outbox(Handle(Fetch(case_id, "wijk-01")));
  ASSERT_EQ(chain.size(), 1u);
  auto body = Body<v1::CaseChain>(chain[0]);
  EXPECT_EQ(body.commands_size(), 2);
  EXPECT_EQ(body.status().coordinator(), "regisseur-01");
  EXPECT_EQ(body.status().pending_handover_to(), "wijk-01");
  EXPECT_THAT(ErrorOf(Handle(Fetch(case_id, "regisseur-02"))).message(), HasSubstr("do not coordinate"));
}

TEST_F(CaseFlowTest, TheNewKindsComeOnlyFromCoordinatorsWithoutARequestId) {
  const RegistryEntry& coord = *core_->Enrolled("vt-01");
  const RegistryEntry& agent = *core_->Enrolled("vt-agent");
  for (auto kind :
       {v1::MESSAGE_KIND_REFERRAL, v1::MESSAGE_KIND_REFERRAL_DECLINE, v1::MESSAGE_KIND_HANDOVER_PACKAGE}) {
    v1::Header h;
    h.set_kind(kind);
    EXPECT_OK(Admissible(coord, h, "gateway"));
    EXPECT_THAT(Admissible(agent, h, "gateway"), testing::StatusIs(StatusCode::kPermissionDenied));
    h.set_request_id(std::string(16, 'r'));
    EXPECT_THAT(Admissible(coord, h, "gateway"), testing::StatusIs(StatusCode::kInvalidArgument));
  }
  // What only the gateway sends, it never takes.
  for (auto kind :
       {v1::MESSAGE_KIND_REFERRAL_STATUS, v1::MESSAGE_KIND_CASE_NOTICE, v1::MESSAGE_KIND_HANDOVER_DATA}) {
    v1::Header h;
    h.set_kind(kind);
    EXPECT_THAT(Admissible(coord, h, "gateway"), testing::StatusIs(StatusCode::kInvalidArgument));
  }
}

// -------------------------------------------- what goes over (by the policy)

TEST_F(CaseFlowTest, APartNamingARequestNotDeliveredInThisCaseIsRefusedAndNotHeld) {
  const std::string case_id = CaseInRisicogestuurdeZorg();
  const std::string jb =
      AskAndDeliver(case_id, "jeugdbescherming", "jb-agent", "jeugdbescherming-maatregelen");
  // Another case's delivered answer is not this case's.
  const std::string other_case = CaseInRisicogestuurdeZorg();
  const std::string other = AskAndDeliver(other_case, "politie", "politie-agent", "politie-incidenten");
  std::string offer;
  ASSERT_TRUE(Offer(case_id, "regisseur-01", "wijk-01", kDay, 0, &offer).logged);
  for (const std::string& id : {NewMessageId(), other}) {
    UnitResult r = Handle(FragmentPart(case_id, offer, id, 2, 2));
    EXPECT_THAT(Events(r), ElementsAre(v1::AUDIT_EVENT_REFUSED));
    EXPECT_THAT(ErrorOf(r).message(), HasSubstr("delivered no answer to request"));
    EXPECT_THAT(ErrorOf(r).message(), HasSubstr(case_id));
  }
  UnitResult short_id = Handle(FragmentPart(case_id, offer, "short", 2, 2));
  EXPECT_THAT(ErrorOf(short_id).message(), HasSubstr("16-byte id"));
  EXPECT_TRUE(core_->store().HandoverParts(offer)->empty());
  // The answer it did deliver here is taken (held until the accept).
  UnitResult held = Handle(FragmentPart(case_id, offer, jb, 2, 2));
  EXPECT_TRUE(held.records.empty());
  EXPECT_EQ(core_->store().HandoverParts(offer)->size(), 1u);
}

TEST_F(CaseFlowTest, OnAcceptanceAPermittedFragmentGoesOverAndADeniedOneIsWithheldRecordedAndReported) {
  const std::string case_id = CaseInRisicogestuurdeZorg();
  const std::string police = AskAndDeliver(case_id, "politie", "politie-agent", "politie-incidenten");
  const std::string jb =
      AskAndDeliver(case_id, "jeugdbescherming", "jb-agent", "jeugdbescherming-maatregelen");
  std::string offer;
  ASSERT_TRUE(Offer(case_id, "regisseur-01", "wijk-01", kDay, 0, &offer).logged);
  ASSERT_TRUE(Handle(FragmentPart(case_id, offer, "", 1, 3)).logged);  // the subjects
  ASSERT_TRUE(Handle(FragmentPart(case_id, offer, police, 2, 3)).logged);
  ASSERT_TRUE(Handle(FragmentPart(case_id, offer, jb, 3, 3)).logged);
  EXPECT_EQ(core_->store().HandoverParts(offer)->size(), 3u);

  UnitResult accepted = Accept(case_id, "wijk-01", offer);
  ASSERT_TRUE(accepted.logged) << accepted.failure.ToString();
  ASSERT_THAT(Events(accepted), ElementsAre(v1::AUDIT_EVENT_HANDOVER_ACCEPTED, v1::AUDIT_EVENT_HANDOVER_DATA,
                                            v1::AUDIT_EVENT_HANDOVER_DATA_WITHHELD));
  const auto records = Records(accepted);
  EXPECT_THAT(records[1].reason(), HasSubstr("2 sealed handover part(s) of 3"));
  EXPECT_THAT(records[1].reason(), HasSubstr("1 kept back by the policy"));
  const v1::AuditRecord& w = records[2];
  EXPECT_EQ(w.case_id(), case_id);
  EXPECT_EQ(w.message_id(), police);
  EXPECT_EQ(w.source_partner(), "politie");
  ASSERT_EQ(w.categories_size(), 1);
  EXPECT_EQ(w.categories(0).name(), "politie-incidenten");
  EXPECT_EQ(w.recipient_partner(), "gemeente");
  EXPECT_EQ(w.handover().from(), "regisseur-01");
  EXPECT_EQ(w.handover().to(), "wijk-01");
  EXPECT_EQ(w.decision().verdict(), v1::AUDIT_VERDICT_DENY);
  EXPECT_FALSE(w.reason().empty());
  EXPECT_EQ(w.actor().participant_id(), "gateway");
  EXPECT_THAT(w.DebugString(), ::testing::Not(HasSubstr("999990019")));  // ids only, no subject data
  // The subjects and Jeugdbescherming's measures went; the police's incidents did not.
  EXPECT_THAT(HeldPartRequests("wijk-01"), UnorderedElementsAre("", jb));
  EXPECT_TRUE(core_->store().HandoverParts(offer)->empty());
  // Both coordinators are told how many stayed behind, once.
  for (const char* who : {"wijk-01", "regisseur-01"}) {
    auto n = WithheldNotices(who);
    ASSERT_EQ(n.size(), 1u) << who;
    EXPECT_EQ(n[0].case_id(), case_id);
    EXPECT_EQ(n[0].withheld(), 1u);
    EXPECT_EQ(n[0].audit_index(), accepted.records[2].index);
  }
  // A late part the policy keeps back: recorded and reported, nothing delivered.
  UnitResult late = Handle(FragmentPart(case_id, offer, police, 2, 3));
  EXPECT_THAT(Events(late), ElementsAre(v1::AUDIT_EVENT_HANDOVER_DATA_WITHHELD));
  EXPECT_THAT(HeldPartRequests("wijk-01"), UnorderedElementsAre("", jb));
  EXPECT_EQ(WithheldNotices("wijk-01").size(), 2u);
}

TEST_F(CaseFlowTest, AFragmentWithMoreFieldsThanTheNextCoordinatorMaySeeIsWithheld) {
  const std::string case_id = CaseInRisicogestuurdeZorg();
  const std::string jb =
      AskAndDeliver(case_id, "jeugdbescherming", "jb-agent", "jeugdbescherming-maatregelen");
  // Authorised under a wider policy than today's: the decision kept allows
  // a field the wijkteam's coordinator may not see now.
  auto kept = core_->store().GetDelivered(jb, clock_.NowMillis());
  ASSERT_THAT(kept, IsOk());
  ASSERT_TRUE(kept->has_value());
  DeliveredRequest wider = **kept;
  v1::Decision decision;
  ASSERT_TRUE(decision.ParseFromString(wider.decision));
  ASSERT_GT(decision.obligations().allowed_fields_size(), 0);
  decision.mutable_obligations()->mutable_allowed_fields(0)->add_fields("gezinsdossier");
  wider.decision = decision.SerializeAsString();
  ASSERT_OK(core_->store().AddDelivered(wider));

  std::string offer;
  ASSERT_TRUE(Offer(case_id, "regisseur-01", "wijk-01", kDay, 0, &offer).logged);
  ASSERT_TRUE(Handle(FragmentPart(case_id, offer, "", 1, 2)).logged);
  ASSERT_TRUE(Handle(FragmentPart(case_id, offer, jb, 2, 2)).logged);
  UnitResult accepted = Accept(case_id, "wijk-01", offer);
  ASSERT_THAT(Events(accepted), ElementsAre(v1::AUDIT_EVENT_HANDOVER_ACCEPTED, v1::AUDIT_EVENT_HANDOVER_DATA,
                                            v1::AUDIT_EVENT_HANDOVER_DATA_WITHHELD));
  EXPECT_THAT(Records(accepted)[2].reason(), HasSubstr("jeugdbescherming-maatregelen.gezinsdossier"));
  EXPECT_THAT(HeldPartRequests("wijk-01"), ElementsAre(""));
  EXPECT_EQ(WithheldNotices("wijk-01").at(0).withheld(), 1u);
}

TEST_F(CaseFlowTest, WhatWasAuthorisedIsForgottenWhenTheCaseClosesOrItsRetentionPasses) {
  const std::string case_id = CaseInRisicogestuurdeZorg();
  const std::string jb =
      AskAndDeliver(case_id, "jeugdbescherming", "jb-agent", "jeugdbescherming-maatregelen");
  auto kept = core_->store().GetDelivered(jb, clock_.NowMillis());
  ASSERT_TRUE(kept.ok() && kept->has_value());
  EXPECT_EQ((*kept)->forget_ms, kNow + 365 * kDay);  // R-JB-01: retention_days 365
  EXPECT_FALSE(core_->store().GetDelivered(jb, kNow + 365 * kDay)->has_value());
  v1::CaseCommand close;
  close.set_case_id(case_id);
  close.mutable_close()->set_reason_code("veiligheid-hersteld");
  ASSERT_TRUE(Command("regisseur-01", close).logged);
  EXPECT_FALSE(core_->store().GetDelivered(jb, clock_.NowMillis())->has_value());
}

// ------------------------------------------------ nothing without its record

TEST_F(CaseFlowTest, WhenTheLogCannotBeWrittenNoReferralDecisionOrLapseHappensAndNothingIsSent) {
  VerifiedMessage m = Verified("vt-01", ReferralEnvelope(ReferralBody()));
  const std::string id = m.env.header.message_id();
  fail_audit_ = true;
  UnitResult refused = Handle(m);
  EXPECT_FALSE(refused.committed);
  EXPECT_TRUE(refused.outbox.empty());
  EXPECT_FALSE(core_->store().GetReferral(id)->has_value());
  EXPECT_THAT(InboxKinds("regisseur-02"), IsEmpty());
  fail_audit_ = false;
  ASSERT_TRUE(Handle(m).logged);  // the same referral goes through once the log works

  // An open on it whose records cannot be written: no case, the referral waits.
  v1::CaseCommand open;
  open.mutable_open()->set_purpose("plan-van-aanpak");
  *open.mutable_open()->add_subjects() = testing::CommittedRef(victim_);
  open.mutable_open()->set_referral(m.raw);
  fail_audit_ = true;
  UnitResult no_open = Command("regisseur-01", open);
  EXPECT_FALSE(no_open.committed);
  EXPECT_TRUE(no_open.outbox.empty());
  EXPECT_EQ(core_->store().GetReferral(id).value()->state, ReferralState::kWaiting);
  EXPECT_THAT(core_->store().GetCase("VT-2026-0001"), testing::StatusIs(StatusCode::kNotFound));
  // Its lapse likewise: it stays waiting, and lapses once the log works.
  clock_.Advance(15 * kDay);
  EXPECT_FALSE(Tick().committed);
  EXPECT_EQ(core_->store().GetReferral(id).value()->state, ReferralState::kWaiting);
  fail_audit_ = false;
  EXPECT_THAT(TimerEvents(Tick()), ElementsAre(v1::AUDIT_EVENT_REFERRAL_EXPIRED));
}

TEST_F(CaseFlowTest, WhenTheLogCannotBeWrittenAHandoverIsNotAcceptedAndItsPackageStaysHeld) {
  const std::string case_id = Open();
  std::string offer;
  ASSERT_TRUE(Offer(case_id, "regisseur-01", "wijk-01", kDay, 0, &offer).logged);
  ASSERT_TRUE(Handle(Package(case_id, "regisseur-01", "wijk-01", offer)).logged);
  fail_audit_ = true;
  UnitResult r = Accept(case_id, "wijk-01", offer);
  EXPECT_FALSE(r.committed);
  EXPECT_TRUE(r.outbox.empty());
  EXPECT_EQ(core_->store().HandoverParts(offer)->size(), 1u);
  EXPECT_EQ(core_->store().GetCase(case_id)->coordinator, "regisseur-01");
  // Nor does its lapse happen unrecorded: the deadline stays for the next tick.
  clock_.Advance(kDay + 1);
  EXPECT_FALSE(Tick().committed);
  fail_audit_ = false;
  EXPECT_THAT(TimerEvents(Tick()), ElementsAre(v1::AUDIT_EVENT_HANDOVER_LAPSED));
  EXPECT_TRUE(core_->store().HandoverParts(offer)->empty());
}

// ------------------------------------------- source consents, pushes (issue 16)

// A consent the GGz recorded itself (SOURCE_CONSENT, §3.10) lets its answer
// go (R-GGZ-01, uitdrukkelijke toestemming); on a handover the gateway asks
// the policy again, and the same consent counts there: the answer goes over.
TEST_F(CaseFlowTest, AConsentTheSourceRecordedCountsForTheHandedOverAnswer) {
  const std::string case_id = Open();
  v1::CaseCommand admit;
  admit.set_case_id(case_id);
  admit.mutable_admit()->set_partner("ggz");
  ASSERT_TRUE(Command("regisseur-01", admit).committed);
  // Without a consent the GGz's data is refused.
  UnitResult refused = Handle(Request(case_id, "regisseur-01", "ggz", "ggz-in-zorg", "plan-van-aanpak"));
  EXPECT_THAT(Sends(refused), Contains(std::pair{std::string("regisseur-01"), v1::MESSAGE_KIND_REFUSAL}));

  v1::SourceConsent consent;
  consent.set_case_id(case_id);
  consent.set_subject_ref("S1");
  consent.set_purpose("plan-van-aanpak");
  consent.set_valid_until_ms(clock_.NowMillis() + 30 * kDay);
  consent.add_given_by(v1::CONSENT_GIVER_SUBJECT);
  UnitResult recorded = Handle(Message("ggz-agent", v1::MESSAGE_KIND_SOURCE_CONSENT, consent));
  ASSERT_THAT(Events(recorded), ElementsAre(v1::AUDIT_EVENT_SOURCE_CONSENT_RECORDED));
  const std::string ggz = AskAndDeliver(case_id, "ggz", "ggz-agent", "ggz-in-zorg");

  std::string offer;
  ASSERT_TRUE(Offer(case_id, "regisseur-01", "regisseur-02", kDay, 0, &offer).logged);
  for (const auto& [request_id, part] : {std::pair<std::string, uint32_t>{"", 1}, {ggz, 2}}) {
    v1::HandoverPackage p;
    p.set_case_id(case_id);
    p.set_to("regisseur-02");
    p.set_offer(offer);
    p.set_part(part);
    p.set_parts(2);
    p.set_request_id(request_id);
    p.set_sealed("sealed HandoverData (opaque to the gateway)");
    ASSERT_TRUE(Handle(Message("regisseur-01", v1::MESSAGE_KIND_HANDOVER_PACKAGE, p)).logged);
  }
  UnitResult accepted = Accept(case_id, "regisseur-02", offer);
  ASSERT_TRUE(accepted.logged) << accepted.failure.ToString();
  // R-GGZ-01 asks to notify the privacy officer: the handed-over answer is
  // a disclosure to the next coordinator, told as the request was.
  EXPECT_THAT(Events(accepted), ElementsAre(v1::AUDIT_EVENT_HANDOVER_ACCEPTED, v1::AUDIT_EVENT_HANDOVER_DATA,
                                            v1::AUDIT_EVENT_PRIVACY_OFFICER_NOTIFIED));
  EXPECT_THAT(HeldPartRequests("regisseur-02"), UnorderedElementsAre("", ggz));
  EXPECT_TRUE(WithheldNotices("regisseur-02").empty());
  const auto records = Records(accepted);
  EXPECT_EQ(records[2].message_id(), ggz);
  EXPECT_THAT(records[2].reason(), HasSubstr("handover flagged for the privacy officer"));
  EXPECT_THAT(records[2].reason(), HasSubstr("fg-01"));
  auto told = Notices("fg-01");
  ASSERT_EQ(told.size(), 2u);  // the request, and the handover (same clock: either order)
  if (told[0].reason_code() != "request") std::swap(told[0], told[1]);
  EXPECT_EQ(told[0].reason_code(), "request");
  EXPECT_EQ(told[0].request_id(), ggz);
  EXPECT_EQ(told[1].kind(), v1::NOTICE_KIND_PRIVACY_OFFICER);
  EXPECT_EQ(told[1].reason_code(), "handover");
  EXPECT_EQ(told[1].request_id(), ggz);
  EXPECT_EQ(told[1].by(), "regisseur-02");
  EXPECT_EQ(told[1].source_partner(), "ggz");
  EXPECT_EQ(told[1].recipient_partner(), "veiligheidsteam");
  EXPECT_THAT(told[1].rule_ids(), ElementsAre("R-GGZ-01"));
  EXPECT_EQ(told[1].legal_basis(), "uitdrukkelijke-toestemming");
  EXPECT_EQ(told[1].audit_index(), accepted.records[1].index);
}

// FRAGMENT_PUSH is parsed from untrusted bytes: every prefix of a push the
// policy permits (the veiligheidsplan to the police, R-VT-PLAN-01), signed
// as it came, is refused with a reason and nothing is held or forwarded;
// the whole push then goes.
TEST_F(CaseFlowTest, EveryTruncatedPushIsRefusedAndTheWholeOneGoes) {
  connected_.insert("politie-agent");
  const std::string case_id = Open();
  v1::CaseCommand admit;
  admit.set_case_id(case_id);
  admit.mutable_admit()->set_partner("politie");
  ASSERT_TRUE(Command("regisseur-01", admit).committed);
  v1::FragmentPush push;
  push.set_case_id(case_id);
  push.set_to_partner("politie");
  push.add_categories("veiligheidsplan");
  push.set_purpose("plan-van-aanpak");
  auto* ref = push.add_subjects();
  ref->set_ref("S1");
  ref->set_role(v1::SUBJECT_ROLE_VICTIM);
  push.set_sealed_content("sealed PUSH_CONTENT (opaque to the gateway)");
  push.set_sealed_subjects("sealed SUBJECT_DATA (opaque to the gateway)");
  push.set_case_head(heads_[case_id].hash);
  push.set_case_length(heads_[case_id].length);
  const std::string body = push.SerializeAsString();
  auto forwarded = [&](const UnitResult& r) {
    for (const auto& s : Sends(r)) {
      if (s.second == v1::MESSAGE_KIND_PUSH_AUTHORISATION || s.second == v1::MESSAGE_KIND_ACCEPTED)
        return true;
    }
    return false;
  };
  for (size_t len = 0; len < body.size(); ++len) {
    UnitResult r = Handle(Verified("regisseur-01", SignRaw("regisseur-01", v1::MESSAGE_KIND_FRAGMENT_PUSH,
                                                           body.substr(0, len), NewMessageId())));
    ASSERT_FALSE(forwarded(r)) << "prefix of " << len << " bytes went through";
    bool answered = false;
    for (const auto& s : Outbox(r)) {
      answered |=
          s.to == "regisseur-01" && (s.kind == v1::MESSAGE_KIND_REFUSAL || s.kind == v1::MESSAGE_KIND_ERROR);
    }
    EXPECT_TRUE(answered) << "prefix of " << len << " bytes: no refusal";
  }
  EXPECT_THAT(InboxKinds("politie-agent"), IsEmpty());
  UnitResult whole = Handle(Verified(
      "regisseur-01", SignRaw("regisseur-01", v1::MESSAGE_KIND_FRAGMENT_PUSH, body, NewMessageId())));
  EXPECT_TRUE(forwarded(whole)) << ErrorOf(whole).ToString();
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::gateway
