// What a coordinator may ask in a case now, and why (case/request_options.h),
// with real keys, a real signed registry, real signed case chains and the
// example policy: every answer must be the gateway's own (CheckAsker, then
// AskPolicy + Decide), and what a refusal would need must be true.
#include "case/request_options.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "case/case_chain.h"
#include "case/decision.h"
#include "core/base/encoding.h"
#include "core/base/file_util.h"
#include "core/crypto/sha256.h"
#include "core/identity/identity.h"
#include "policy/policy_loader.h"
#include "tests/testing/case_chain_builder.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_time.h"

namespace kp::cases {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

namespace v1 = ketenpoort::v1;
using ::kp::testing::CaseChainBuilder;
using ::kp::testing::IsOk;
using ::kp::testing::StatusIs;
using ::kp::testing::TestSubject;
using ::testing::ElementsAre;

using test::kNow;
using test::kHour;
using test::kDay;
constexpr char kCase[] = "VT-2026-0042";
constexpr char kPlan[] = "plan-van-aanpak";
constexpr char kAcute[] = "acuut-gevaar-afwenden";

std::string ExamplePolicyPath() { return testing::SourceDir() + "/policy/examples/veiligheidsteam-hvb.yaml"; }

class RequestOptionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("null"));
    ::chmod(dir_.path().c_str(), 0700);
    const std::string reg = dir_.File("registry");
    std::filesystem::create_directories(reg);
    for (auto [id, kind, partner] : std::vector<std::tuple<std::string, ParticipantKind, std::string>>{
             {"enrolment-hvb", ParticipantKind::kEnrolment, ""},
             {"regisseur-01", ParticipantKind::kCoordinator, "veiligheidsteam"},
             {"regisseur-02", ParticipantKind::kCoordinator, "veiligheidsteam"},
             {"acuut-01", ParticipantKind::kCoordinator, "politie"}}) {
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
                             {{"regisseur-01", "casusregisseur"},
                              {"regisseur-02", "casusregisseur"},
                              {"acuut-01", "politie-acuut"}},
                             "hart-van-brabant", kNow));
    auto registry = Registry::Load(reg, ids_.at("enrolment-hvb").signing().public_key);
    ASSERT_THAT(registry, IsOk());
    registry_ = std::make_unique<Registry>(std::move(registry).value());
    auto policy = policy::LoadPolicyFile(ExamplePolicyPath(),
                                         [](std::string_view t) { return HexEncode(Sha256String(t)); });
    ASSERT_THAT(policy, IsOk());
    policy_ = *policy;
    ctx_ = FoldContext::Of(policy_.get(), *registry_);
    victim_ = TestSubject("S1", v1::SUBJECT_ROLE_VICTIM, "999990019", "Anna Canary", "1990-01-01");
    child_ = TestSubject("S2", v1::SUBJECT_ROLE_CHILD, "999990020", "Bo Canary", "2018-05-05");
  }

  const RegistryEntry& Entry(const std::string& id) { return **registry_->Find(id); }

  // A case of regisseur-01 about S1 and S2 with `partners` admitted, in its first phase.
  CaseChainBuilder OpenCase(const std::vector<std::string>& partners) {
    CaseChainBuilder b(*signers_.at("regisseur-01"), kCase);
    b.Open(kPlan, {victim_, child_});
    for (const auto& p : partners) b.Admit(p);
    return b;
  }
  CaseChainBuilder OpenAcuteCase() {
    CaseChainBuilder b(*signers_.at("acuut-01"), kCase);
    b.Add([&](v1::CaseCommand& c) {
      c.mutable_open()->set_purpose(kAcute);
      c.mutable_open()->set_acute(true);
      *c.mutable_open()->add_subjects() = testing::CommittedRef(victim_);
    });
    return b;
  }
  void Approve(CaseChainBuilder& b, const std::string& partner, const std::string& category,
               const std::string& purpose) {
    b.Add([&](v1::CaseCommand& c) {
      auto* g = c.mutable_gatekeeper_approval();
      g->set_source_partner(partner);
      g->add_categories(category);
      g->set_purpose(purpose);
      g->set_valid_until_ms(kNow + 10 * kDay);
    });
  }

  CaseFacts Fold(const CaseChainBuilder& b) {
    auto f = FoldVerified(ctx_, b.commands(), kCase);
    EXPECT_THAT(f, IsOk());
    return f.ok() ? *f : CaseFacts{};
  }

  Result<std::vector<AskOption>> Options(const CaseFacts& f, const std::string& purpose,
                                         const std::vector<std::string>& refs = {}, bool justified = false,
                                         const std::string& asker = "regisseur-01", int64_t now = kNow) {
    return WhatMayBeAsked(*policy_, f, asker, Entry(asker), purpose, refs, justified, now);
  }

  // The request the console would send for `o` about `refs`.
  static v1::FragmentRequest RequestFor(const CaseFacts& f, const AskOption& o,
                                        const std::vector<std::string>& refs, bool justified) {
    v1::FragmentRequest r;
    r.set_case_id(f.case_id);
    r.set_source_partner(o.partner);
    r.add_categories(o.category);
    r.set_purpose(o.purpose);
    r.set_justification_present(justified);
    for (const auto& s : f.subjects) {
      if (!refs.empty() && std::find(refs.begin(), refs.end(), s.ref) == refs.end()) continue;
      auto* ref = r.add_subjects();
      ref->set_ref(s.ref);
      ref->set_role(s.role);
    }
    return r;
  }

  testing::TempDir dir_;
  ManualClock clock_{kNow};
  std::map<std::string, Identity> ids_;
  std::map<std::string, std::unique_ptr<EnvelopeSigner>> signers_;
  std::unique_ptr<Registry> registry_;
  std::shared_ptr<const policy::Policy> policy_;
  FoldContext ctx_;
  v1::Subject victim_, child_;
};

const AskOption* Find(const std::vector<AskOption>& options, const std::string& partner,
                      const std::string& category) {
  for (const auto& o : options) {
    if (o.partner == partner && o.category == category) return &o;
  }
  return nullptr;
}

std::vector<std::string> RuleIds(const AskExplanation& e) {
  std::vector<std::string> out;
  for (const auto& r : e.rules) out.push_back(r.id);
  return out;
}

std::vector<std::string> Listed(const std::vector<AskOption>& options) {
  std::vector<std::string> out;
  for (const auto& o : options) out.push_back(o.partner + "/" + o.category);
  return out;
}

TEST_F(RequestOptionsTest, AnAllowedOptionCarriesItsRuleLegalBasisFieldsAndRetention) {
  CaseChainBuilder b = OpenCase({"politie", "om", "ggz"});
  b.Phase("stabiele-veiligheid");
  auto options = Options(Fold(b), kPlan);
  ASSERT_THAT(options, IsOk());
  // Each admitted partner with the categories the policy says it holds, by partner id.
  EXPECT_THAT(Listed(*options),
              ElementsAre("ggz/ggz-in-zorg", "ggz/ggz-behandeldossier", "om/om-vervolgingsbeslissingen",
                          "om/om-voorwaarden", "politie/politie-incidenten"));
  const AskOption* pol = Find(*options, "politie", "politie-incidenten");
  ASSERT_NE(pol, nullptr);
  const AskExplanation& e = pol->explanation;
  EXPECT_EQ(e.state, AskState::kAllowed);
  EXPECT_EQ(pol->purpose, kPlan);
  EXPECT_EQ(e.decision.effect, policy::Effect::kPermit);
  EXPECT_THAT(RuleIds(e), ElementsAre("R-POL-01"));
  EXPECT_THAT(e.rules[0].explanation, ::testing::HasSubstr("registraties van incidenten"));
  ASSERT_EQ(e.legal_bases.size(), 1u);
  EXPECT_EQ(e.legal_bases[0].id, "wpg-art-20");
  EXPECT_THAT(e.legal_bases[0].citation, ::testing::HasSubstr("Wpg art. 20"));
  ASSERT_EQ(e.fields.size(), 1u);
  EXPECT_EQ(e.fields[0].category, "politie-incidenten");
  EXPECT_THAT(e.fields[0].fields, ElementsAre("datum", "incidentsoort", "rol-betrokkene", "geweld-gebruikt"));
  EXPECT_EQ(e.retention_days, 180);
  EXPECT_TRUE(e.no_onward_sharing);
  EXPECT_FALSE(e.notify_privacy_officer);
  EXPECT_TRUE(e.missing.empty());
  EXPECT_EQ(e.reason, "permitted by rule R-POL-01 under wpg-art-20");
}

TEST_F(RequestOptionsTest, ACategoryThatNeedsAJustificationIsAllowedWithOne) {
  const CaseFacts f = Fold(OpenCase({"politie"}));  // acute phase
  auto without = Options(f, kAcute);
  ASSERT_THAT(without, IsOk());
  ASSERT_EQ(without->size(), 1u);
  const AskExplanation& needs = (*without)[0].explanation;
  EXPECT_EQ(needs.state, AskState::kNeedsJustification);
  EXPECT_THAT(needs.missing, ElementsAre("justification"));
  EXPECT_EQ(needs.decision.effect, policy::Effect::kDeny);
  EXPECT_THAT(needs.reason,
              ::testing::HasSubstr("no written justification given; rule R-POL-02 requires it"));
  // What it would be once justified: the rule, its fields (with weapons) and its retention.
  EXPECT_THAT(RuleIds(needs), ElementsAre("R-POL-02"));
  ASSERT_EQ(needs.fields.size(), 1u);
  EXPECT_THAT(needs.fields[0].fields, ::testing::Contains("wapens-aanwezig"));
  EXPECT_EQ(needs.retention_days, 90);
  EXPECT_TRUE(needs.notify_privacy_officer);

  auto with = Options(f, kAcute, {}, /*justified=*/true);
  ASSERT_THAT(with, IsOk());
  ASSERT_EQ(with->size(), 1u);
  const AskExplanation& allowed = (*with)[0].explanation;
  EXPECT_EQ(allowed.state, AskState::kAllowed);
  EXPECT_EQ(allowed.decision.effect, policy::Effect::kPermit);
  EXPECT_THAT(RuleIds(allowed), ElementsAre("R-POL-02"));
  EXPECT_EQ(allowed.retention_days, needs.retention_days);
}

TEST_F(RequestOptionsTest, ConsentMissingForASubjectIsNamed) {
  CaseChainBuilder b = OpenCase({"ggz"});
  b.Phase("stabiele-veiligheid");
  b.Consent("S1", kPlan, kNow + 30 * kDay);
  const CaseFacts f = Fold(b);
  // Both subjects: S2 has given no consent.
  auto both = Options(f, kPlan);
  ASSERT_THAT(both, IsOk());
  const AskOption* in_zorg = Find(*both, "ggz", "ggz-in-zorg");
  ASSERT_NE(in_zorg, nullptr);
  EXPECT_EQ(in_zorg->explanation.state, AskState::kNeedsConsent);
  EXPECT_THAT(in_zorg->explanation.missing, ElementsAre("consent"));
  EXPECT_THAT(RuleIds(in_zorg->explanation), ElementsAre("R-GGZ-01"));
  ASSERT_EQ(in_zorg->explanation.legal_bases.size(), 1u);
  EXPECT_EQ(in_zorg->explanation.legal_bases[0].id, "uitdrukkelijke-toestemming");
  EXPECT_THAT(in_zorg->explanation.reason, ::testing::HasSubstr("no consent recorded"));
  // Only S1, who consented: allowed.
  auto s1 = Options(f, kPlan, {"S1"});
  ASSERT_THAT(s1, IsOk());
  EXPECT_EQ(Find(*s1, "ggz", "ggz-in-zorg")->explanation.state, AskState::kAllowed);
  // A justification does not stand in for consent.
  auto justified = Options(f, kPlan, {}, true);
  ASSERT_THAT(justified, IsOk());
  EXPECT_EQ(Find(*justified, "ggz", "ggz-in-zorg")->explanation.state, AskState::kNeedsConsent);
}

// In acute danger the example policy's consent rule (R-GGZ-01) holds too:
// consent is the less intrusive route than breaking medical secrecy in a
// conflict of duties (AVG art. 9 lid 2 sub a, BW 7:457; issue 16), so while
// it needs less, it is the one named.
TEST_F(RequestOptionsTest, InAcuteDangerConsentIsNamedBeforeTheConflictOfDuties) {
  CaseChainBuilder b = OpenCase({"ggz"});  // acute phase
  auto needs = Options(Fold(b), kAcute, {"S1"});
  ASSERT_THAT(needs, IsOk());
  const AskOption* in_zorg = Find(*needs, "ggz", "ggz-in-zorg");
  ASSERT_NE(in_zorg, nullptr);
  EXPECT_EQ(in_zorg->explanation.state, AskState::kNeedsConsent);
  EXPECT_THAT(in_zorg->explanation.missing, ElementsAre("consent"));
  EXPECT_THAT(RuleIds(in_zorg->explanation), ElementsAre("R-GGZ-01"));
  EXPECT_EQ(in_zorg->explanation.legal_bases[0].id, "uitdrukkelijke-toestemming");

  b.Consent("S1", kAcute, kNow + 30 * kDay);
  auto now = Options(Fold(b), kAcute, {"S1"});
  ASSERT_THAT(now, IsOk());
  const AskExplanation& allowed = Find(*now, "ggz", "ggz-in-zorg")->explanation;
  EXPECT_EQ(allowed.state, AskState::kAllowed);
  EXPECT_THAT(RuleIds(allowed), ElementsAre("R-GGZ-01"));
}

TEST_F(RequestOptionsTest, AForbiddenCategoryIsRefusedWithTheForbidRuleAndItsExplanation) {
  CaseChainBuilder b = OpenCase({"ggz"});
  b.Phase("stabiele-veiligheid");
  auto options = Options(Fold(b), kPlan, {}, true);
  ASSERT_THAT(options, IsOk());
  const AskOption* dossier = Find(*options, "ggz", "ggz-behandeldossier");
  ASSERT_NE(dossier, nullptr);
  const AskExplanation& e = dossier->explanation;
  EXPECT_EQ(e.state, AskState::kRefused);
  EXPECT_THAT(RuleIds(e), ElementsAre("F-ZORG-01"));
  EXPECT_THAT(e.rules[0].explanation, ::testing::HasSubstr("nooit gedeeld"));
  EXPECT_TRUE(e.missing.empty());
  EXPECT_TRUE(e.legal_bases.empty());
  EXPECT_TRUE(e.fields.empty());
  EXPECT_THAT(e.reason, ::testing::HasSubstr("no request of this kind can be permitted"));
}

TEST_F(RequestOptionsTest, APartnerNotAdmittedIsAbsentAndExplainingItGivesCheckAskersReason) {
  const CaseFacts f = Fold(OpenCase({"politie"}));
  auto options = Options(f, kPlan);
  ASSERT_THAT(options, IsOk());
  for (const auto& o : *options) EXPECT_EQ(o.partner, "politie");
  AskOption ggz{"ggz", "ggz-in-zorg", kPlan, {}};
  EXPECT_THAT(
      ExplainRequest(*policy_, f, "regisseur-01", Entry("regisseur-01"), RequestFor(f, ggz, {}, false), kNow),
      StatusIs(StatusCode::kPermissionDenied, "partner ggz is not admitted to case VT-2026-0042"));
  // A case with nobody admitted yet: nothing to ask, and no error.
  auto none = Options(Fold(OpenCase({})), kPlan);
  ASSERT_THAT(none, IsOk());
  EXPECT_TRUE(none->empty());
}

TEST_F(RequestOptionsTest, AClosedCaseOrAnotherAskerGetsCheckAskersError) {
  CaseChainBuilder b = OpenCase({"politie"});
  const CaseFacts open = Fold(b);
  EXPECT_THAT(
      Options(open, kPlan, {}, false, "regisseur-02"),
      StatusIs(StatusCode::kPermissionDenied, "you do not coordinate case VT-2026-0042 (regisseur-01 does)"));
  b.Close();
  EXPECT_THAT(Options(Fold(b), kPlan),
              StatusIs(StatusCode::kFailedPrecondition,
                       "case VT-2026-0042 is closed; no further requests are possible"));
  // Also when no partner was ever admitted.
  CaseChainBuilder empty = OpenCase({});
  empty.Close();
  EXPECT_THAT(Options(Fold(empty), kPlan), StatusIs(StatusCode::kFailedPrecondition, "is closed"));
}

TEST_F(RequestOptionsTest, BadInputIsAnErrorNotARefusal) {
  const CaseFacts f = Fold(OpenCase({"politie"}));
  EXPECT_THAT(Options(f, "nieuwsgierigheid"),
              StatusIs(StatusCode::kInvalidArgument, "no purpose 'nieuwsgierigheid'"));
  EXPECT_THAT(Options(f, kPlan, {"S9"}),
              StatusIs(StatusCode::kInvalidArgument, "case VT-2026-0042 has no subject S9"));
  EXPECT_THAT(Options(f, kPlan, {"S1", "S1"}), StatusIs(StatusCode::kInvalidArgument, "twice"));
  // Facts folded without the policy (as the coordinator's client folds) have no phase.
  CaseChainBuilder b = OpenCase({"politie"});
  auto bare = FoldVerified(FoldContext::Of(nullptr, *registry_), b.commands(), kCase);
  ASSERT_THAT(bare, IsOk());
  EXPECT_THAT(Options(*bare, kPlan), StatusIs(StatusCode::kFailedPrecondition, "fold it with the policy"));
}

TEST_F(RequestOptionsTest, AnAcuteCaseOffersWhatThePartnersShareInTheRedPhase) {
  const CaseFacts f = Fold(OpenAcuteCase());
  auto options = Options(f, kAcute, {}, false, "acuut-01", kNow + kHour);
  ASSERT_THAT(options, IsOk());
  EXPECT_THAT(Listed(*options), ElementsAre("cit/cit-inzet", "politie/politie-incidenten",
                                            "veilig-thuis/veilig-thuis-meldingen",
                                            "veilig-thuis/veilig-thuis-veiligheidsbeoordeling",
                                            "veilig-thuis/veilig-thuis-melder"));
  // Veilig Thuis' reporter is never shared (the example policy, issue 16).
  EXPECT_EQ(Find(*options, "veilig-thuis", "veilig-thuis-melder")->explanation.state, AskState::kRefused);
  const AskExplanation& cit = Find(*options, "cit", "cit-inzet")->explanation;
  EXPECT_EQ(cit.state, AskState::kNeedsWeighing);  // vitaal belang, after the weighing (five questions)
  EXPECT_THAT(cit.missing, ElementsAre("weighing"));
  EXPECT_THAT(RuleIds(cit), ElementsAre("R-ACUUT-CIT-01"));
  EXPECT_EQ(cit.legal_bases[0].id, "vitaal-belang");
  EXPECT_THAT(cit.fields[0].fields, ::testing::Not(::testing::Contains("aard-crisis")));
  // The police's own data is not asked of itself: no rule, so nothing to bring.
  const AskExplanation& own = Find(*options, "politie", "politie-incidenten")->explanation;
  EXPECT_EQ(own.state, AskState::kRefused);
  EXPECT_TRUE(own.rules.empty());
  const AskExplanation& meldingen = Find(*options, "veilig-thuis", "veilig-thuis-meldingen")->explanation;
  EXPECT_EQ(meldingen.state, AskState::kAllowed);
  EXPECT_THAT(RuleIds(meldingen), ElementsAre("R-ACUUT-VT-01"));
  EXPECT_THAT(meldingen.fields[0].fields, ElementsAre("meldingsdatum", "aard-melding"));
  EXPECT_EQ(meldingen.retention_days, 90);
  // After the window without a handover: CheckAsker's refusal, which says what to do.
  EXPECT_THAT(Options(f, kAcute, {}, false, "acuut-01", kNow + 73 * kHour),
              StatusIs(StatusCode::kFailedPrecondition, "hand it over"));
}

TEST_F(RequestOptionsTest, ExplainRequestDecidesSeveralCategoriesAsOne) {
  CaseChainBuilder b = OpenCase({"om", "ggz"});
  b.Phase("stabiele-veiligheid");
  const CaseFacts f = Fold(b);
  AskOption om{"om", "om-voorwaarden", kPlan, {}};
  v1::FragmentRequest r = RequestFor(f, om, {"S1"}, false);
  r.add_categories("om-vervolgingsbeslissingen");
  auto e = ExplainRequest(*policy_, f, "regisseur-01", Entry("regisseur-01"), r, kNow);
  ASSERT_THAT(e, IsOk());
  EXPECT_EQ(e->state, AskState::kAllowed);
  ASSERT_EQ(e->fields.size(), 2u);
  EXPECT_EQ(e->fields[0].category, "om-vervolgingsbeslissingen");
  EXPECT_EQ(e->fields[1].category, "om-voorwaarden");
  EXPECT_THAT(e->fields[1].fields, ::testing::Contains("contactverbod"));
  // The forbid on the treatment file refuses the whole request, as the gateway would.
  AskOption ggz{"ggz", "ggz-in-zorg", kPlan, {}};
  v1::FragmentRequest both = RequestFor(f, ggz, {}, true);
  both.add_categories("ggz-behandeldossier");
  auto refused = ExplainRequest(*policy_, f, "regisseur-01", Entry("regisseur-01"), both, kNow);
  ASSERT_THAT(refused, IsOk());
  EXPECT_EQ(refused->state, AskState::kRefused);
  EXPECT_THAT(RuleIds(*refused), ElementsAre("F-ZORG-01"));
}

// The console's list must be the gateway's decision: for every option in a
// spread of cases, phases, purposes, subjects and justifications, the
// request it stands for gets the same answer from AskPolicy + Decide, and
// what a refusal "needs" does make Decide permit it.
TEST_F(RequestOptionsTest, EveryOptionAgreesWithDecide) {
  CaseChainBuilder b = OpenCase({"politie", "om", "rvdk", "reclassering", "ggz", "novadic", "veilig-thuis",
                                 "jeugdbescherming", "gemeente", "cit", "spoedplein-etz"});
  b.Consent("S1", kPlan, kNow + 30 * kDay);
  Approve(b, "cit", "cit-inzet", kAcute);
  int checked = 0, needs = 0;
  for (const std::string phase : {"", "stabiele-veiligheid", "risicogestuurde-zorg", "herstel"}) {
    if (!phase.empty()) b.Phase(phase);
    const CaseFacts f = Fold(b);
    for (const auto& p : policy_->purposes()) {
      for (const std::vector<std::string>& refs :
           {std::vector<std::string>{}, std::vector<std::string>{"S1"}}) {
        for (bool justified : {false, true}) {
          SCOPED_TRACE(f.phase + " " + p.id + " " + std::to_string(refs.size()) + " " +
                       std::to_string(justified));
          auto options = Options(f, p.id, refs, justified);
          ASSERT_THAT(options, IsOk());
          for (const auto& o : *options) {
            SCOPED_TRACE(o.partner + "/" + o.category);
            const v1::FragmentRequest r = RequestFor(f, o, refs, justified);
            const policy::Request asked =
                AskPolicy(f, r, Entry("regisseur-01"), ClaimedJustification(r), kNow);
            const policy::Decision d = policy_->Decide(asked);
            EXPECT_EQ(d.effect, o.explanation.decision.effect);
            EXPECT_EQ(d.rule_ids, o.explanation.decision.rule_ids);
            EXPECT_EQ(d.reason, o.explanation.reason);
            EXPECT_EQ(d.effect == policy::Effect::kPermit, o.explanation.state == AskState::kAllowed);
            auto explained = ExplainRequest(*policy_, f, "regisseur-01", Entry("regisseur-01"), r, kNow);
            ASSERT_THAT(explained, IsOk());
            EXPECT_EQ(explained->state, o.explanation.state);
            if (!o.explanation.missing.empty()) {
              ++needs;
              policy::Request again = asked;
              for (const auto& m : o.explanation.missing) {
                if (m == "justification") again.justification_level = policy::Justification::kText;
                if (m == "weighing") again.justification_level = policy::Justification::kWeighing;
                if (m == "consent") {
                  for (auto& s : again.subjects) {
                    s.consent_givers = policy::kGiverSubject | policy::kGiverParents;
                    s.consent_recorded_ms = kNow;
                    if (s.age_years < 0) s.age_years = 0;  // the client states it
                  }
                }
                if (m == "gatekeeper") again.gatekeeper_approved = true;
              }
              const policy::Decision would = policy_->Decide(again);
              EXPECT_EQ(would.effect, policy::Effect::kPermit) << would.reason;
              std::vector<std::string> ids(would.rule_ids.begin(), would.rule_ids.end());
              EXPECT_EQ(ids, RuleIds(o.explanation));
            }
            ++checked;
          }
        }
      }
    }
  }
  EXPECT_GT(checked, 500);
  EXPECT_GT(needs, 10);
}

// A category without an owner is listed for the partners some permit rule
// lets send it to the asker's partner and role.
TEST_F(RequestOptionsTest, ACategoryWithoutAnOwnerIsListedForThePartnersRulesLetSendIt) {
  std::ifstream in(ExamplePolicyPath());
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string owner = "    owner: politie\n";
  ASSERT_NE(text.find(owner), std::string::npos);
  text.erase(text.find(owner), owner.size());
  auto unowned = policy::LoadPolicy(text, "unowned.yaml", HexEncode(Sha256String(text)));
  ASSERT_THAT(unowned, IsOk());
  const CaseFacts f = Fold(OpenCase({"politie", "om", "veilig-thuis"}));
  auto options = WhatMayBeAsked(**unowned, f, "regisseur-01", Entry("regisseur-01"), kPlan, {}, false, kNow);
  ASSERT_THAT(options, IsOk());
  EXPECT_NE(Find(*options, "politie", "politie-incidenten"), nullptr);  // R-POL-01
  EXPECT_EQ(Find(*options, "om", "politie-incidenten"), nullptr);       // F-HERSTEL-01 forbids, permits none
  EXPECT_EQ(Find(*options, "veilig-thuis", "politie-incidenten"), nullptr);
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::cases
