// Consent per subject, the conflict-of-duties weighing and retention from
// the case's closure (issue 16), end to end against a real region: the real
// gateway, the real GGz agent, the coordinator's client, on CURVE sockets on
// 127.0.0.1, with a small policy of its own (below) so that what is tested
// does not move with the example policy:
//   - a 13-year-old's consent given by the child alone is refused by the
//     gateway (the age rule: 12 to 15 the child and the parents), given by
//     the child and the parents it is answered;
//   - a weighing whose answers say "n.v.t." is refused by the agent, which
//     assesses what is sealed to it, even though the request declares
//     WEIGHING and the gateway permitted it on that;
//   - a consent whose stated age does not match the date of birth sealed to
//     the agent is refused by the agent;
//   - a fragment kept "30 days from closure" stays while the case is open and
//     goes 30 days after it closed; one kept for the recipient's statutory
//     dossier term (retention_days: dossier) stays 20 years;
//   - the CLI: `case consent --given-by`, and `request --weighing-file`,
//     which sends no weighing that does not count.
// No BSN, name or weighing answer in any log line or gateway file.
#include <spdlog/spdlog.h>

#include <fstream>
#include <sstream>


#include "case/consent.h"
#include "cli/cli_context.h"
#include "core/base/time_format.h"
#include "core/envelope/envelope.h"
#include "core/transport/dealer_client.h"
#include "core/transport/transport_context.h"
#include "gateway/gateway.h"
#include "tests/testing/capture_sink.h"
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

using test::kDay;
using test::kWaitMs;
constexpr char kCanaryName[] = "CANARY-NAAM-Kind";
constexpr char kCanaryWeighing[] = "CANARY-AFWEGING moeder weigert elk contact met hulpverlening";

// The age rule of docs/policy-language.md; R-TOESTEMMING needs consent,
// R-AFWEGING the weighing.
constexpr char kPolicy[] = R"(policy:
  id: consent-test
  version: "1"
  title: Toestemming per persoon en de afweging (test)
partners:
  - id: ggz
    name: GGz Breburg
  - id: veiligheidsteam
    name: Veiligheidsteam
    dossier_retention_days: 7300
    dossier_basis: Jeugdwet art. 7.3.8 (test)
roles:
  - id: casusregisseur
    name: Casusregisseur
    partner: veiligheidsteam
    coordinates: true
phases:
  - id: acute-veiligheid
    name: Fase 1
  - id: gesloten
    name: Gesloten
    closed: true
purposes:
  - id: plan-van-aanpak
    description: Plan van aanpak.
  - id: acuut-gevaar-afwenden
    description: Acuut gevaar afwenden.
  - id: veiligheidstaxatie
    description: Veiligheidstaxatie.
categories:
  - id: ggz-in-zorg
    name: In zorg bij GGz
    owner: ggz
    fields: [in-zorg, contactpersoon]
    art9: true
legal_bases:
  - id: uitdrukkelijke-toestemming
    citation: AVG art. 9 lid 2 sub a
    senders: [ggz]
    categories: [ggz-in-zorg]
    max_retention_days: 180
    requires: [consent]
    art9_ground: true
  - id: conflict-van-plichten
    citation: Conflict van plichten (KNMG-stappenplan)
    senders: [ggz]
    categories: [ggz-in-zorg]
    max_retention_days: 90
    requires: [weighing]
    art9_ground: true
  - id: dossierplicht
    citation: Wettelijke dossierplicht van de ontvanger (test)
    senders: [ggz]
    categories: [ggz-in-zorg]
    max_retention_days: 30
    allows_dossier_retention: true
    art9_ground: true
consent:
  age_rule:
    - below: 12
      given_by: [parents]
    - below: 16
      given_by: [subject, parents]
    - given_by: [subject]
rules:
  - id: R-TOESTEMMING
    effect: permit
    from: ggz
    to: veiligheidsteam/casusregisseur
    categories: [ggz-in-zorg]
    purposes: [plan-van-aanpak]
    legal_basis: uitdrukkelijke-toestemming
    conditions: [member]
    obligations:
      fields:
        ggz-in-zorg: [in-zorg, contactpersoon]
      retention_days: 30
      retention_from: closure
  - id: R-AFWEGING
    effect: permit
    from: ggz
    to: veiligheidsteam/casusregisseur
    categories: [ggz-in-zorg]
    purposes: [acuut-gevaar-afwenden]
    legal_basis: conflict-van-plichten
    conditions: [member]
    obligations:
      fields:
        ggz-in-zorg: [in-zorg]
      retention_days: 30
  - id: R-DOSSIER
    effect: permit
    from: ggz
    to: veiligheidsteam/casusregisseur
    categories: [ggz-in-zorg]
    purposes: [veiligheidstaxatie]
    legal_basis: dossierplicht
    conditions: [member]
    obligations:
      fields:
        ggz-in-zorg: [in-zorg]
      retention_days: dossier
)";

// A date of birth that makes someone `years` old today (UTC).
std::string BornYearsAgo(int years) {
  std::string today = FormatUtcDate(SystemClock::Get().NowMillis());
  std::string dob = std::to_string(std::stoi(today.substr(0, 4)) - years) + today.substr(4);
  if (dob.substr(4) == "-02-29") dob = dob.substr(0, 4) + "-02-28";
  return dob;
}

v1::Weighing WeighingOf(const std::string& each, const std::string& approver) {
  v1::Weighing w;
  w.set_consent(each);
  w.set_harm(each);
  w.set_no_other_way(each);
  w.set_effect(each);
  w.set_minimum(each);
  w.set_approver(approver);
  return w;
}

using testing::CliRun;
using testing::RunCli;

class ConsentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sink_ = std::make_shared<testing::CaptureSink>();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("consent", sink_));
    ASSERT_OK_AND_ASSIGN(region_, Region::Create(dir_.path(), SystemClock::Get()));
    const std::string policy = dir_.path() + "/consent-test.yaml";
    std::ofstream(policy) << kPolicy;
    region_->gateway_config().policy = policy;
    region_->SetAgentConfigHook([policy](const std::string&, agent::AgentConfig& c) {
      c.policy = policy;
      for (auto it = c.sources.begin(); it != c.sources.end();) {  // only the test policy's category
        it = it->first == "ggz-in-zorg" ? std::next(it) : c.sources.erase(it);
      }
    });
    ASSERT_OK(region_->StartGateway());
    ASSERT_OK(region_->StartAgent("ggz"));
    Connect();
    std::vector<v1::Subject> family(2);
    family[0].set_role(v1::SUBJECT_ROLE_PARENT);
    family[0].set_bsn("999990020");
    family[0].set_date_of_birth("1990-01-01");
    family[1].set_role(v1::SUBJECT_ROLE_CHILD);
    family[1].set_bsn(Region::kBsn);
    family[1].set_name(kCanaryName);
    family[1].set_date_of_birth(BornYearsAgo(13));
    ASSERT_OK_AND_ASSIGN(v1::CaseResult opened, c_->OpenCase("plan-van-aanpak", std::move(family)));
    case_id_ = opened.case_id();
    ASSERT_OK(c_->Admit(case_id_, "ggz").status());
  }

  void TearDown() override {
    c_.reset();
    if (!HasFailure()) ExpectNoPersonalDataInLogs();
    region_.reset();
    if (HasFailure()) std::cerr << "log:\n" << sink_->Text();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("null"));
  }

  void Connect() {
    auto c = region_->Coordinator();
    ASSERT_THAT(c, IsOk());
    c_ = std::move(c).value();
  }

  Outcome Ask(const std::string& purpose, std::optional<v1::Weighing> weighing = std::nullopt) {
    client::RequestSpec spec{case_id_, "ggz", {"ggz-in-zorg"}, purpose, {"S2"}, "", std::move(weighing)};
    auto id = c_->SendRequest(spec);
    EXPECT_THAT(id, IsOk());
    if (!id.ok()) return {};
    auto o = c_->AwaitOutcome(*id, kWaitMs);
    EXPECT_THAT(o, IsOk());
    return o.ok() ? *o : Outcome{};
  }

  int64_t Until() const { return SystemClock::Get().NowMillis() + 60 * kDay; }

  // A consent for S2 signed by the coordinator as another client would:
  // stating `age` whatever the date of birth says. Then the coordinator's
  // own client fetches the case's history again.
  void RecordConsentStating(int age) {
    ASSERT_OK_AND_ASSIGN(client::CoordinatorStore::Head head, c_->store().ChainHead(case_id_));
    c_.reset();  // one connection per key
    const Identity& me = region_->identity(Region::kCoordinator);
    TransportContext context;
    DealerOptions options;
    options.endpoint = region_->endpoint();
    options.server_public_key = region_->identity("gateway").transport().public_key;
    ASSERT_OK_AND_ASSIGN(auto conn, DealerClient::Create(context.get(), me.transport().public_key,
                                                         me.transport().secret_key, options));
    EnvelopeSigner signer(me.id(), me.signing().secret_key, SystemClock::Get());
    v1::CaseCommand cmd;
    cmd.set_case_id(case_id_);
    cmd.set_previous(head.hash);
    cmd.set_sequence(head.length);
    auto* rc = cmd.mutable_record_consent();
    rc->set_subject_ref("S2");
    rc->set_purpose("plan-van-aanpak");
    rc->set_valid_until_ms(Until());
    rc->add_given_by(v1::CONSENT_GIVER_SUBJECT);
    rc->set_age_years(static_cast<uint32_t>(age));
    ASSERT_OK_AND_ASSIGN(SignedMessage m, signer.Sign(v1::MESSAGE_KIND_CASE_COMMAND, "", "", cmd.SerializeAsString()));
    ASSERT_OK(conn->Send(m.bytes));
    StaticKeyResolver keys;
    keys.Add("gateway", region_->identity("gateway").signing().public_key);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kWaitMs);
    bool confirmed = false;
    while (!confirmed && std::chrono::steady_clock::now() < deadline) {
      auto got = conn->Receive(100);
      if (!got.ok() || !got->has_value()) continue;
      auto env = EnvelopeVerifier(keys, nullptr).Verify(**got);
      confirmed = env.ok() && env->header.request_id() == m.message_id &&
                  env->header.kind() == v1::MESSAGE_KIND_CASE_RESULT;
    }
    ASSERT_TRUE(confirmed) << "the gateway did not take the consent";
    conn.reset();
    Connect();
    ASSERT_OK(c_->SyncCase(case_id_).status());
  }

  void ExpectNoPersonalDataInLogs() {
    for (const std::string& canary :
         {std::string(Region::kBsn), std::string(kCanaryName), std::string("999990020"), std::string(kCanaryWeighing),
          BornYearsAgo(13)}) {
      EXPECT_EQ(sink_->Text().find(canary), std::string::npos) << canary << " in the log";
      EXPECT_THAT(testing::AllBytesUnder(region_->gateway_config().data_dir),
                  ::testing::Not(::testing::HasSubstr(canary)))
          << canary << " in the gateway's files";
    }
  }

  // The coordinator's client configuration as a file, for the CLI.
  std::string ConfigFile() {
    const client::ClientConfig c = region_->CoordinatorConfig(0);
    const std::string path = dir_.path() + "/client.yaml";
    std::ofstream(path) << "gateway:\n  endpoint: " << c.gateway_endpoint << "\n  card: " << c.gateway_card
                        << "\nidentity: " << c.identity << "\nenrolment_card: " << c.enrolment_card
                        << "\nregistry: " << c.registry << "\nstore: " << c.store
                        << "\npseudonym_key: " << c.pseudonym_key << "\n";
    return path;
  }

  std::string WriteFile(const std::string& name, const std::string& text) {
    const std::string path = dir_.path() + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  testing::TempDir dir_;
  std::shared_ptr<testing::CaptureSink> sink_;
  std::unique_ptr<Region> region_;
  std::unique_ptr<Coordinator> c_;
  std::string case_id_;
};

TEST_F(ConsentTest, AThirteenYearOldsConsentNeedsTheChildAndTheParents) {
  ASSERT_OK(c_->RecordConsent(case_id_, "S2", "plan-van-aanpak", Until(), policy::kGiverSubject).status());
  Outcome alone = Ask("plan-van-aanpak");
  ASSERT_EQ(alone.kind, Outcome::Kind::kRefused);
  EXPECT_EQ(alone.refusal.refused_by(), v1::REFUSED_BY_GATEWAY) << alone.refusal.reason();
  EXPECT_THAT(alone.refusal.reason(), ::testing::HasSubstr("parents")) << alone.refusal.reason();

  ASSERT_OK(c_->RecordConsent(case_id_, "S2", "plan-van-aanpak", Until(),
                              policy::kGiverSubject | policy::kGiverParents)
                .status());
  Outcome both = Ask("plan-van-aanpak");
  ASSERT_EQ(both.kind, Outcome::Kind::kDelivered) << both.refusal.reason() << both.error.ToString();
  ASSERT_EQ(both.content.categories_size(), 1);
  EXPECT_EQ(both.content.categories(0).records_size(), 1);

  // The consent in the chain says who gave it and the age the client computed.
  ASSERT_OK_AND_ASSIGN(cases::CaseFacts facts, c_->LocalFacts(case_id_));
  const cases::ConsentFact& consent = facts.consents.at({"S2", "plan-van-aanpak"});
  EXPECT_EQ(consent.givers, policy::kGiverSubject | policy::kGiverParents);
  EXPECT_EQ(consent.age_years, 13);
}

TEST_F(ConsentTest, RetentionFromClosureKeepsTheFragmentWhileTheCaseIsOpen) {
  ASSERT_OK(c_->RecordConsent(case_id_, "S2", "plan-van-aanpak", Until(),
                              policy::kGiverSubject | policy::kGiverParents)
                .status());
  Outcome o = Ask("plan-van-aanpak");
  ASSERT_EQ(o.kind, Outcome::Kind::kDelivered) << o.refusal.reason() << o.error.ToString();
  EXPECT_EQ(o.retain_until_ms, 0);  // exactly one of the two (protocol §3.3)
  EXPECT_EQ(o.retain_after_closure_ms, 30 * kDay);  // 30 days, counted from the closure
  EXPECT_EQ(client::RetentionText(o.retain_until_ms, o.retain_after_closure_ms), "30 days after the case closes");
  const int64_t now = SystemClock::Get().NowMillis();
  ASSERT_OK_AND_ASSIGN(auto kept, c_->store().Purge(now + 400 * kDay));
  EXPECT_EQ(kept.fragments, 0u) << "an open case's fragment went";

  ASSERT_OK(c_->Close(case_id_, "afgerond").status());
  ASSERT_OK_AND_ASSIGN(auto soon, c_->store().Purge(now + 29 * kDay));
  EXPECT_EQ(soon.fragments, 0u);
  ASSERT_OK_AND_ASSIGN(auto later, c_->store().Purge(now + 31 * kDay));
  EXPECT_EQ(later.fragments, 1u);
}

// The recipient's statutory dossier term (retention_days: dossier): the agent
// writes it, the client keeps the fragment that long.
TEST_F(ConsentTest, TheRecipientsDossierTermIsKept) {
  const int64_t before = SystemClock::Get().NowMillis();
  Outcome o = Ask("veiligheidstaxatie");
  ASSERT_EQ(o.kind, Outcome::Kind::kDelivered) << o.refusal.reason() << o.error.ToString();
  EXPECT_GE(o.retain_until_ms, before + 7300 * kDay);
  EXPECT_LE(o.retain_until_ms, SystemClock::Get().NowMillis() + 7300 * kDay);
  ASSERT_OK_AND_ASSIGN(auto kept, c_->store().Purge(before + 7299 * kDay));
  EXPECT_EQ(kept.fragments, 0u);
  ASSERT_OK_AND_ASSIGN(auto gone, c_->store().Purge(before + 7301 * kDay));
  EXPECT_EQ(gone.fragments, 1u);
}

TEST_F(ConsentTest, AWeighingOfNvtIsRefusedByTheAgentThoughTheRequestDeclaresIt) {
  Outcome nvt = Ask("acuut-gevaar-afwenden", WeighingOf("n.v.t.", "n.v.t."));
  ASSERT_EQ(nvt.kind, Outcome::Kind::kRefused);
  EXPECT_EQ(nvt.refusal.refused_by(), v1::REFUSED_BY_AGENT) << nvt.refusal.reason();
  EXPECT_THAT(nvt.refusal.reason(), ::testing::HasSubstr("weighing")) << nvt.refusal.reason();

  Outcome weighed = Ask("acuut-gevaar-afwenden",
                        WeighingOf(kCanaryWeighing, "J. de Vries, casusregisseur Veiligheidsteam"));
  ASSERT_EQ(weighed.kind, Outcome::Kind::kDelivered) << weighed.refusal.reason() << weighed.error.ToString();
  EXPECT_GT(weighed.retain_until_ms, 0);  // from delivery
  EXPECT_EQ(weighed.retain_after_closure_ms, 0);
}

TEST_F(ConsentTest, AStatedAgeThatIsNotTheSealedDateOfBirthsIsRefusedByTheAgent) {
  // Twenty: the subject alone would do, and the gateway, which sees no date
  // of birth, permits it. The agent sees the child is 13.
  RecordConsentStating(20);
  Outcome o = Ask("plan-van-aanpak");
  ASSERT_EQ(o.kind, Outcome::Kind::kRefused);
  EXPECT_EQ(o.refusal.refused_by(), v1::REFUSED_BY_AGENT) << o.refusal.reason();
  EXPECT_THAT(o.refusal.reason(), ::testing::HasSubstr("does not match the date of birth"));
  EXPECT_THAT(o.refusal.reason(), ::testing::Not(::testing::HasSubstr("13")));
}

TEST_F(ConsentTest, TheCliRecordsWhoGaveTheConsentAndSendsOnlyAWeighingThatCounts) {
  c_.reset();  // the CLI opens the same store with the same key
  const std::string config = ConfigFile();
  const std::string until = FormatUtcDate(Until());
  CliRun bad = RunCli({"case", "consent", case_id_, "--config", config, "--subject", "S2", "--purpose",
                       "plan-van-aanpak", "--until", until, "--given-by", "buurman"});
  EXPECT_EQ(bad.exit_code, cli::kExitError);
  EXPECT_THAT(bad.err, ::testing::HasSubstr("--given-by takes subject, parents, or subject,parents"));
  CliRun both = RunCli({"case", "consent", case_id_, "--config", config, "--subject", "S2", "--purpose",
                        "plan-van-aanpak", "--until", until, "--given-by", "subject,parents"});
  EXPECT_EQ(both.exit_code, cli::kExitOk) << both.err;
  EXPECT_THAT(both.out, ::testing::HasSubstr("given by the subject and the parents"));
  CliRun asked = RunCli({"request", case_id_, "--config", config, "--from", "ggz", "--category", "ggz-in-zorg",
                         "--purpose", "plan-van-aanpak", "--subject", "S2"});
  EXPECT_EQ(asked.exit_code, cli::kExitOk) << asked.err;
  EXPECT_THAT(asked.out, ::testing::HasSubstr("keep until 30 days after the case closes"));

  const std::string nvt = WriteFile("nvt.yaml",
                                    "consent: n.v.t.\nharm: n.v.t.\nno_other_way: n.v.t.\neffect: n.v.t.\n"
                                    "minimum: n.v.t.\napprover: n.v.t.\n");
  CliRun refused = RunCli({"request", case_id_, "--config", config, "--from", "ggz", "--category", "ggz-in-zorg",
                           "--purpose", "acuut-gevaar-afwenden", "--subject", "S2", "--weighing-file", nvt});
  EXPECT_EQ(refused.exit_code, cli::kExitError);
  EXPECT_THAT(refused.err, ::testing::HasSubstr("the weighing is not complete"));
  EXPECT_THAT(refused.err, ::testing::Not(::testing::HasSubstr("request ")));  // nothing was sent
  const std::string good = WriteFile(
      "weighing.yaml", std::string("consent: ") + kCanaryWeighing +
                           "\nharm: Ernstig letsel van moeder en kind bij een nieuwe uitbarsting\n"
                           "no_other_way: Huisverbod en veiligheidsplan zijn al ingezet zonder effect\n"
                           "effect: De politie kan de dreiging met deze gegevens juist inschatten\n"
                           "minimum: Alleen of hij in zorg is, geen diagnose of behandeling\n"
                           "approver: J. de Vries, casusregisseur\n");
  CliRun weighed = RunCli({"request", case_id_, "--config", config, "--from", "ggz", "--category", "ggz-in-zorg",
                           "--purpose", "acuut-gevaar-afwenden", "--subject", "S2", "--weighing-file", good});
  EXPECT_EQ(weighed.exit_code, cli::kExitOk) << weighed.err << weighed.out;
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp
