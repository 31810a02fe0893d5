// The issue 16 language elements (docs/policy-language.md): subject roles,
// the consent block and consent_by: source, the justification rule, the
// weighing and source_approval conditions, never_shared, time-bounded access,
// retention from closure and the recipient's dossier term — each decided,
// linted and read from a test table.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "policy/policy_loader.h"
#include "policy/policy_test_table.h"
#include "tests/policy/test_policy.h"
#include "tests/testing/status_matchers.h"

namespace kp::policy {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

using ::kp::policy::testing::kFakeSha256;
using ::kp::testing::IsOk;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr std::string_view kLanguagePolicy = R"(policy:
  id: language
partners:
  - id: politie
  - id: ggz
  - id: vt
  - id: jb
    dossier_retention_days: 7300
    dossier_basis: Jeugdwet art. 7.3.8
roles:
  - id: regisseur
    partner: vt
    coordinates: true
phases:
  - id: acuut
  - id: stabiel
  - id: gesloten
    closed: true
purposes:
  - id: plan
acute:
  phase: acuut
  window_hours: 72
  partners: [politie]
  hand_over_to: [vt]
consent:
  max_days: 365
  age_rule:
    - below: 12
      given_by: [parents]
    - below: 16
      given_by: [subject, parents]
    - given_by: [subject]
categories:
  - id: incidenten
    owner: politie
    fields: [datum, soort]
    art10: true
    regime: wpg
  - id: in-zorg
    owner: ggz
    fields: [in-zorg]
    art9: true
  - id: melder
    owner: vt
    fields: [naam]
  - id: opvang
    owner: vt
    fields: [verblijf, adres]
  - id: plan
    owner: vt
    fields: [plan]
never_shared:
  - id: N-MELDER-01
    category: melder
    reason: De melder blijft anoniem.
  - id: N-ADRES-01
    field: opvang.adres
    reason: Het adres van de opvang is geheim.
legal_bases:
  - id: wpg-20
    citation: Wpg art. 20
    senders: [politie]
    categories: [incidenten]
    max_retention_days: 365
    art10_ground: true
    regime: wpg
  - id: toestemming
    citation: AVG art. 9 lid 2 sub a
    senders: [ggz]
    categories: [in-zorg]
    max_retention_days: 180
    requires: [consent]
    art9_ground: true
  - id: bron-toestemming
    citation: AVG art. 9 lid 2 sub a, door de bron zelf gevraagd
    senders: [ggz]
    categories: [in-zorg]
    max_retention_days: 180
    requires: [consent]
    consent_by: source
    art9_ground: true
  - id: cvp
    citation: Conflict van plichten
    senders: [ggz]
    categories: [in-zorg]
    max_retention_days: 30
    requires: [weighing, source_approval]
    art9_ground: true
  - id: taak
    citation: Wmo 2015 art. 4.1.1
    senders: [vt]
    categories: [opvang, plan]
    max_retention_days: 365
    allows_dossier_retention: true
rules:
  - id: R-POL-ACUUT
    effect: permit
    from: politie
    to: vt/regisseur
    categories: [incidenten]
    purposes: [plan]
    phases: [acuut]
    legal_basis: wpg-20
    within_hours_of_acute: 72
    obligations:
      fields:
        incidenten: [datum, soort]
      retention_days: 30
  - id: R-POL
    effect: permit
    from: politie
    to: vt/regisseur
    categories: [incidenten]
    purposes: [plan]
    phases: [stabiel]
    legal_basis: wpg-20
    subject_roles: [suspected-perpetrator, victim]
    obligations:
      fields:
        incidenten: [datum]
      retention_days: 60
  - id: F-POL-KIND
    effect: forbid
    from: politie
    categories: [incidenten]
    phases: [stabiel]
    subject_roles: [child]
    explanation: Niet over kinderen.
  - id: R-GGZ
    effect: permit
    from: ggz
    to: vt/regisseur
    categories: [in-zorg]
    purposes: [plan]
    phases: [acuut]
    legal_basis: toestemming
    obligations:
      fields:
        in-zorg: [in-zorg]
      retention_days: 90
  - id: R-GGZ-BRON
    effect: permit
    from: ggz
    to: vt/regisseur
    categories: [in-zorg]
    purposes: [plan]
    phases: [stabiel]
    legal_basis: bron-toestemming
    obligations:
      fields:
        in-zorg: [in-zorg]
      retention_days: 90
  - id: R-GGZ-CVP
    effect: permit
    from: ggz
    to: vt/regisseur
    categories: [in-zorg]
    purposes: [plan]
    phases: [acuut]
    legal_basis: cvp
    obligations:
      fields:
        in-zorg: [in-zorg]
      retention_days: 30
      retention_from: closure
  - id: R-VT-OPVANG
    effect: permit
    from: vt
    to: politie
    categories: [opvang]
    purposes: [plan]
    legal_basis: taak
    obligations:
      fields:
        opvang: [verblijf]
      retention_days: 30
      retention_from: closure
  - id: R-VT-PLAN
    effect: permit
    from: vt
    to: [politie, jb]
    categories: [plan]
    purposes: [plan]
    legal_basis: taak
    obligations:
      fields:
        plan: [plan]
      retention_days: 90
  - id: R-VT-PLAN-JB
    effect: permit
    from: vt
    to: jb
    categories: [plan]
    purposes: [plan]
    legal_basis: taak
    obligations:
      fields:
        plan: [plan]
      retention_days: dossier
)";

constexpr int64_t kNow = kDefaultTestNowMs;
constexpr int64_t kHour = 3'600'000;
constexpr int64_t kDay = 24 * kHour;

std::string With(std::string_view from, std::string_view to) {
  std::string text(kLanguagePolicy);
  const size_t at = text.find(from);
  if (at == std::string::npos) return "test error: '" + std::string(from) + "' not in the policy";
  text.replace(at, from.size(), to);
  return text;
}

std::vector<std::string> Lint(std::string_view text) {
  CompileOutput out = CompilePolicy(text, "lang.yaml", kFakeSha256);
  std::vector<std::string> lines;
  for (const auto& d : out.diagnostics) lines.push_back(d.ToString());
  return lines;
}

SubjectFacts Subject(std::string_view role, uint8_t givers = 0, int age = -1, bool by_source = false) {
  return SubjectFacts{role, age, givers, kNow - kDay, by_source};
}

class PolicyLanguageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loaded = LoadPolicy(kLanguagePolicy, "lang.yaml", kFakeSha256);
    ASSERT_THAT(loaded, IsOk());
    policy_ = *loaded;
  }

  static Request Ask(std::string_view from, std::string_view to, std::string_view category, std::string_view phase,
                     std::vector<SubjectFacts> subjects) {
    Request r;
    r.from = from;
    r.to = to;
    if (to == "vt") r.to_role = "regisseur";
    r.categories = {category};
    r.purpose = "plan";
    r.phase = phase;
    r.requester_is_member = true;
    r.subjects = std::move(subjects);
    r.now_ms = kNow;
    r.acute_phase_since_ms = kNow - 5 * kHour;
    return r;
  }
  static Request Ggz(std::string_view phase, std::vector<SubjectFacts> subjects) {
    return Ask("ggz", "vt", "in-zorg", phase, std::move(subjects));
  }

  std::shared_ptr<const Policy> policy_;
};

TEST_F(PolicyLanguageTest, TheLanguagePolicyLintsClean) { EXPECT_THAT(Lint(kLanguagePolicy), IsEmpty()); }

// --- subject roles ---------------------------------------------------------

TEST_F(PolicyLanguageTest, APermitWithSubjectRolesHoldsOnlyWhenEverySubjectHasOne) {
  Request r = Ask("politie", "vt", "incidenten", "stabiel", {Subject("suspected-perpetrator")});
  EXPECT_EQ(policy_->Decide(r).effect, Effect::kPermit);
  r.subjects.push_back(Subject("victim"));
  EXPECT_EQ(policy_->Decide(r).effect, Effect::kPermit);
  r.subjects.push_back(Subject("housemate"));
  Decision d = policy_->Decide(r);
  EXPECT_EQ(d.effect, Effect::kDeny);
  EXPECT_THAT(d.rule_ids, ElementsAre("R-POL"));
  EXPECT_EQ(d.reason,
            "the request is about a housemate; rule R-POL permits it only about victim, suspected-perpetrator");
}

TEST_F(PolicyLanguageTest, ASubjectOfNoStatedRoleFitsNoRoleList) {
  Decision d = policy_->Decide(Ask("politie", "vt", "incidenten", "stabiel", {Subject("")}));
  EXPECT_EQ(d.effect, Effect::kDeny);
  EXPECT_THAT(d.reason, HasSubstr("the request is about a subject of no stated role"));
}

TEST_F(PolicyLanguageTest, AForbidWithSubjectRolesMatchesWhenAnySubjectHasOne) {
  Request r = Ask("politie", "vt", "incidenten", "stabiel", {Subject("victim"), Subject("child")});
  Decision d = policy_->Decide(r);
  EXPECT_EQ(d.effect, Effect::kDeny);
  EXPECT_THAT(d.rule_ids, ElementsAre("F-POL-KIND"));
  EXPECT_THAT(d.reason, HasSubstr("rule F-POL-KIND forbids sharing incidenten about a child (Niet over kinderen.)"));
  r.subjects = {Subject("victim")};
  EXPECT_EQ(policy_->Decide(r).effect, Effect::kPermit);
}

// --- consent: age rule, max_days, per subject, by the source ----------------

TEST_F(PolicyLanguageTest, AChildOf13NeedsTheChildAndTheParents) {
  Request r = Ggz("acuut", {Subject("child", kGiverSubject, 13)});
  Decision d = policy_->Decide(r);
  EXPECT_EQ(d.effect, Effect::kDeny);
  EXPECT_THAT(d.reason, HasSubstr("the consent for the child (age 13) was given by subject; the age rule needs "
                                  "subject, parents below 16; rule R-GGZ requires it (legal basis toestemming)"));
  r.subjects[0].consent_givers = kGiverParents;
  EXPECT_EQ(policy_->Decide(r).effect, Effect::kDeny);
  r.subjects[0].consent_givers = kGiverSubject | kGiverParents;
  EXPECT_EQ(policy_->Decide(r).effect, Effect::kPermit);
}

TEST_F(PolicyLanguageTest, AgeBandsPickTheGivers) {
  EXPECT_EQ(policy_->Decide(Ggz("acuut", {Subject("child", kGiverParents, 11)})).effect, Effect::kPermit);
  EXPECT_EQ(policy_->Decide(Ggz("acuut", {Subject("child", kGiverSubject, 11)})).effect, Effect::kDeny);
  EXPECT_EQ(policy_->Decide(Ggz("acuut", {Subject("child", kGiverSubject, 16)})).effect, Effect::kPermit);
  EXPECT_EQ(policy_->Decide(Ggz("acuut", {Subject("child", kGiverParents, 16)})).effect, Effect::kDeny);
}

TEST_F(PolicyLanguageTest, AnUnstatedAgeIsAnAdultExceptForAChild) {
  EXPECT_EQ(policy_->Decide(Ggz("acuut", {Subject("victim", kGiverSubject)})).effect, Effect::kPermit);
  Decision d = policy_->Decide(Ggz("acuut", {Subject("child", kGiverSubject | kGiverParents)}));
  EXPECT_EQ(d.effect, Effect::kDeny);
  EXPECT_THAT(d.reason, HasSubstr("the age of the child was not stated with the consent"));
}

TEST_F(PolicyLanguageTest, EverySubjectNeedsItsOwnConsent) {
  Decision d = policy_->Decide(Ggz("acuut", {Subject("victim", kGiverSubject), Subject("suspected-perpetrator")}));
  EXPECT_EQ(d.effect, Effect::kDeny);
  EXPECT_THAT(d.reason, HasSubstr("no consent recorded for the suspected-perpetrator and this purpose"));
  d = policy_->Decide(Ggz("acuut", {Subject("victim")}));
  EXPECT_THAT(d.reason, HasSubstr("no consent recorded for this subject and purpose"));
}

TEST_F(PolicyLanguageTest, AConsentCountsAtMostMaxDays) {
  Request r = Ggz("acuut", {Subject("victim", kGiverSubject)});
  r.subjects[0].consent_recorded_ms = kNow - 364 * kDay;
  EXPECT_EQ(policy_->Decide(r).effect, Effect::kPermit);
  r.subjects[0].consent_recorded_ms = kNow - 365 * kDay;
  Decision d = policy_->Decide(r);
  EXPECT_EQ(d.effect, Effect::kDeny);
  EXPECT_THAT(d.reason, HasSubstr("the consent for the victim was recorded more than 365 days ago (consent.max_days)"));
}

TEST_F(PolicyLanguageTest, ConsentBySourceCountsOnlyTheSourcesOwnConsent) {
  Request r = Ggz("stabiel", {Subject("victim", kGiverSubject)});
  Decision d = policy_->Decide(r);
  EXPECT_EQ(d.effect, Effect::kDeny);
  EXPECT_EQ(d.reason,
            "no consent recorded by the source partner itself for the victim; rule R-GGZ-BRON requires it (legal "
            "basis bron-toestemming)");
  EXPECT_TRUE(policy_->ConsentHolds(r, false, nullptr));
  r.subjects[0].consent_by_source = true;
  EXPECT_EQ(policy_->Decide(r).effect, Effect::kPermit);
}

// --- justification, weighing, source approval ------------------------------

TEST(JustificationTest, PlaceholdersAndSingleWordsSayNothing) {
  for (std::string_view text : {"", "   ", ".", "-", "x", "X.", "n.v.t.", "N.V.T", "nvt", "geen", "Geen.",
                                "zie dossier", "Zie dossier.", "onbekend", "dreiging", "zeer acuut", "a b c d e"}) {
    EXPECT_FALSE(SaysSomething(text)) << "'" << text << "'";
    EXPECT_EQ(AssessJustification(text, nullptr), Justification::kNone) << "'" << text << "'";
  }
  for (std::string_view text : {"acuut gevaar", "acuut gevaar voor het kind", "dreiging met wapen gemeld", "Moeder vraagt hulp",
                                "Kind (7) ernstig mishandeld"}) {
    EXPECT_TRUE(SaysSomething(text)) << "'" << text << "'";
    EXPECT_EQ(AssessJustification(text, nullptr), Justification::kText) << "'" << text << "'";
  }
  EXPECT_TRUE(SaysSomething("één kind in ernstig gevaar"));  // accented letters count once
}

TEST(JustificationTest, AWeighingNeedsFiveAnswersAndTheApprover) {
  WeighingAnswers w{"zij weigert elk contact met hulpverlening", "levensgevaar voor moeder en kind",
                    "politie en Veilig Thuis bereiken haar niet", "het veiligheidsplan kan nu worden gemaakt",
                    "alleen of zij in zorg is, geen diagnose", "J. de Vries, psychiater"};
  EXPECT_EQ(AssessJustification("", &w), Justification::kWeighing);
  WeighingAnswers lazy = w;
  lazy.no_other_way = "n.v.t.";
  EXPECT_EQ(AssessJustification("", &lazy), Justification::kNone);
  EXPECT_EQ(AssessJustification("acuut gevaar voor het kind", &lazy), Justification::kText);
  WeighingAnswers nobody = w;
  nobody.approver = "x";
  EXPECT_EQ(AssessJustification("", &nobody), Justification::kNone);
  nobody.approver = "Jansen";  // one word: not named with a function
  EXPECT_EQ(AssessJustification("", &nobody), Justification::kNone);
}

TEST_F(PolicyLanguageTest, TheWeighingConditionNeedsTheWeighingAndThenWaitsForTheSource) {
  Request r = Ggz("acuut", {Subject("victim")});
  r.justification_level = Justification::kText;
  Decision d = policy_->Decide(r);
  EXPECT_EQ(d.effect, Effect::kDeny);
  EXPECT_FALSE(d.needs_source_approval);
  r.justification_level = Justification::kWeighing;
  d = policy_->Decide(r);
  ASSERT_EQ(d.effect, Effect::kPermit) << d.reason;
  EXPECT_THAT(d.rule_ids, ElementsAre("R-GGZ-CVP"));
  EXPECT_TRUE(d.needs_source_approval);
  EXPECT_TRUE(d.obligations.retention_from_closure);
}

TEST_F(PolicyLanguageTest, ARuleThatHoldsWithoutSourceApprovalIsTheLessIntrusiveRoute) {
  Request r = Ggz("acuut", {Subject("victim", kGiverSubject)});
  r.justification_level = Justification::kWeighing;
  Decision d = policy_->Decide(r);
  ASSERT_EQ(d.effect, Effect::kPermit);
  EXPECT_THAT(d.rule_ids, ElementsAre("R-GGZ", "R-GGZ-CVP"));
  EXPECT_FALSE(d.needs_source_approval);  // consent holds: no weighing of duties needed
  EXPECT_FALSE(d.obligations.retention_from_closure);  // narrowest: 30 days from delivery
  EXPECT_EQ(d.obligations.retention_days, 30);
}

// --- never_shared ----------------------------------------------------------

TEST_F(PolicyLanguageTest, ANeverCategoryIsRefusedNamingTheEntry) {
  Request r = Ask("vt", "politie", "melder", "stabiel", {Subject("victim")});
  Decision d = policy_->Decide(r);
  EXPECT_EQ(d.effect, Effect::kDeny);
  EXPECT_THAT(d.rule_ids, ElementsAre("N-MELDER-01"));
  EXPECT_EQ(d.reason, "N-MELDER-01: category melder is never shared (De melder blijft anoniem.)");
  r.categories = {"plan", "melder"};
  d = policy_->Decide(r);
  EXPECT_EQ(d.effect, Effect::kDeny);
  EXPECT_THAT(d.rule_ids, ElementsAre("N-MELDER-01"));
}

TEST_F(PolicyLanguageTest, ANeverFieldIsNeverAllowed) {
  Decision d = policy_->Decide(Ask("vt", "politie", "opvang", "stabiel", {Subject("victim")}));
  ASSERT_EQ(d.effect, Effect::kPermit);
  ASSERT_EQ(d.obligations.fields.size(), 1u);
  EXPECT_THAT(d.obligations.fields[0].fields, ElementsAre("verblijf"));
  EXPECT_TRUE(d.obligations.retention_from_closure);
  ASSERT_EQ(policy_->never_shared().size(), 2u);
  EXPECT_EQ(policy_->never_shared()[1].field, 1);
}

// --- time-bounded access ---------------------------------------------------

TEST_F(PolicyLanguageTest, WithinHoursOfAcuteHoldsOnlyInTheFirstHours) {
  Request r = Ask("politie", "vt", "incidenten", "acuut", {Subject("child")});
  EXPECT_EQ(policy_->Decide(r).effect, Effect::kPermit);
  r.acute_phase_since_ms = kNow - 72 * kHour + 1;
  EXPECT_EQ(policy_->Decide(r).effect, Effect::kPermit);
  r.acute_phase_since_ms = kNow - 80 * kHour;
  Decision d = policy_->Decide(r);
  EXPECT_EQ(d.effect, Effect::kDeny);
  EXPECT_THAT(d.rule_ids, ElementsAre("R-POL-ACUUT"));
  EXPECT_EQ(d.reason,
            "the first 72 hours of the acute phase have passed (it began 80 hours ago); rule R-POL-ACUUT holds "
            "only within them");
  r.acute_phase_since_ms = 0;
  EXPECT_THAT(policy_->Decide(r).reason, HasSubstr("the case is not in the acute phase (acuut)"));
}

// --- retention -------------------------------------------------------------

TEST_F(PolicyLanguageTest, DossierRetentionTakesTheRecipientsTerm) {
  Decision d = policy_->Decide(Ask("vt", "jb", "plan", "stabiel", {Subject("victim")}));
  ASSERT_EQ(d.effect, Effect::kPermit);
  EXPECT_THAT(d.rule_ids, ElementsAre("R-VT-PLAN", "R-VT-PLAN-JB"));
  EXPECT_EQ(d.obligations.retention_days, 90);  // the narrowest of 90 and the dossier term
  const auto& jb = policy_->partners()[static_cast<size_t>(policy_->PartnerIndex("jb"))];
  EXPECT_EQ(jb.dossier_retention_days, 7300);
  EXPECT_EQ(jb.dossier_basis, "Jeugdwet art. 7.3.8");
  auto alone = LoadPolicy(With("to: [politie, jb]", "to: politie"), "lang.yaml", kFakeSha256);
  ASSERT_THAT(alone, IsOk());
  d = (*alone)->Decide(Ask("vt", "jb", "plan", "stabiel", {Subject("victim")}));
  ASSERT_EQ(d.effect, Effect::kPermit);
  EXPECT_EQ(d.obligations.retention_days, 7300);
  EXPECT_FALSE(d.obligations.retention_from_closure);
}

// --- lint ------------------------------------------------------------------

TEST(PolicyLanguageLintTest, EachNewElementIsChecked) {
  struct Case {
    std::string_view from, to, message;
  };
  const Case cases[] = {
      {"subject_roles: [child]", "subject_roles: [kind]", "unknown subject role 'kind'"},
      {"    - below: 16\n", "    - below: 10\n", "the age_rule's bands must have increasing 'below'"},
      {"    - given_by: [subject]\n", "    - below: 18\n      given_by: [subject]\n",
       "the age_rule must end with a band without 'below'"},
      {"given_by: [parents]", "given_by: [ouders]", "unknown consent giver 'ouders'"},
      {"    requires: [consent]\n    consent_by: source", "    consent_by: source",
       "says consent_by: source, so it must list consent in requires"},
      {"consent_by: source", "consent_by: coordinator", "consent_by must be source"},
      {"    category: melder\n", "    category: melder\n    field: opvang.adres\n",
       "a never_shared entry names either a category or a field (category.field), not both"},
      {"field: opvang.adres", "field: opvang.telefoon", "category 'opvang' has no field 'telefoon'"},
      {"field: opvang.adres", "field: opvang", "field must be written category.field"},
      {"categories: [opvang, plan]", "categories: [opvang, plan, melder]", ""},
      {"        opvang: [verblijf]", "        opvang: [verblijf, adres]",
       "field 'opvang.adres' is never shared (never_shared entry 'N-ADRES-01'); remove it from the rule's fields"},
      {"id: N-MELDER-01", "id: R-POL", "never_shared id 'R-POL' is also a rule id"},
      {"within_hours_of_acute: 72", "within_hours_of_acute: 0", "within_hours_of_acute must be"},
      {"    phases: [acuut]\n    legal_basis: wpg-20\n    within_hours_of_acute: 72",
       "    phases: [stabiel]\n    legal_basis: wpg-20\n    subject_roles: [victim]\n    within_hours_of_acute: 72",
       "within_hours_of_acute: the rule's phases do not include the acute phase 'acuut'"},
      {"    explanation: Niet over kinderen.", "    within_hours_of_acute: 5",
       "a forbid rule takes no within_hours_of_acute"},
      {"      retention_days: dossier", "      retention_days: dossiers", "retention_days must be"},
      {"    dossier_retention_days: 7300\n", "", "dossier_basis goes with dossier_retention_days"},
      {"    dossier_basis: Jeugdwet art. 7.3.8\n", "",
       "a partner with dossier_retention_days needs its dossier_basis"},
      {"to: jb\n    categories: [plan]", "to: [jb, politie]\n    categories: [plan]",
       "retention_days: dossier, but recipient 'politie' has no dossier_retention_days"},
      {"    allows_dossier_retention: true\n", "",
       "legal basis 'taak' does not allow the recipient's dossier term (allows_dossier_retention: true)"},
      {"      retention_from: closure\n  - id: R-VT-OPVANG", "      retention_from: sluiting\n  - id: R-VT-OPVANG",
       "retention_from must be delivery or closure"},
      {"requires: [weighing, source_approval]", "requires: [afweging]", "unknown condition 'afweging'"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.to));
    const std::string text = With(c.from, c.to);
    ASSERT_EQ(text.find("test error"), std::string::npos) << text;
    const std::vector<std::string> errors = Lint(text);
    if (c.message.empty()) {
      // The never category in a basis is fine; a permit covering it is not.
      EXPECT_THAT(errors, IsEmpty());
      continue;
    }
    ASSERT_FALSE(errors.empty());
    bool found = false;
    for (const auto& e : errors) found |= e.find(c.message) != std::string::npos;
    EXPECT_TRUE(found) << ::testing::PrintToString(errors);
  }
}

TEST(PolicyLanguageLintTest, APermitCoveringANeverCategoryIsAnError) {
  std::string text = With("categories: [opvang, plan]", "categories: [opvang, plan, melder]");
  text.replace(text.find("    categories: [opvang]\n    purposes: [plan]\n    legal_basis: taak"), 24,
               "    categories: [opvang, melder]");
  text.replace(text.find("        opvang: [verblijf]\n"), 27, "        opvang: [verblijf]\n        melder: [naam]\n");
  const auto errors = Lint(text);
  ASSERT_EQ(errors.size(), 1u) << ::testing::PrintToString(errors);
  EXPECT_THAT(errors[0], HasSubstr("rule 'R-VT-OPVANG' covers category 'melder', which never_shared entry "
                                   "'N-MELDER-01' says is never shared"));
}

// --- test tables -----------------------------------------------------------

TEST_F(PolicyLanguageTest, ATestTableStatesSubjectsJustificationAndTime) {
  auto table = ParseTestTable(R"(tests:
  - name: a 13-year-old with the parents
    request:
      from: ggz
      to: vt/regisseur
      categories: [in-zorg]
      purpose: plan
      phase: acuut
      member: true
      subjects:
        - role: child
          age: 13
          consent: [subject, parents]
          consent_days_ago: 30
    expect:
      effect: permit
      rules: [R-GGZ]
      retention_from: delivery
      needs_source_approval: false
  - name: the weighing waits for the source
    request:
      from: ggz
      to: vt/regisseur
      categories: [in-zorg]
      purpose: plan
      phase: acuut
      justification: weighing
      subjects:
        - role: victim
    expect:
      effect: permit
      rules: [R-GGZ-CVP]
      needs_source_approval: true
      retention_from: closure
  - name: a source's consent
    request:
      from: ggz
      to: vt/regisseur
      categories: [in-zorg]
      purpose: plan
      phase: stabiel
      subjects:
        - role: victim
          consent: subject
          consent_by_source: true
    expect:
      effect: permit
      rules: [R-GGZ-BRON]
  - name: the acute hours are over
    request:
      from: politie
      to: vt/regisseur
      categories: [incidenten]
      purpose: plan
      phase: acuut
      acute_hours_ago: 73
      now: 2026-03-01T10:00:00Z
      subjects:
        - role: victim
    expect:
      effect: deny
      rules: [R-POL-ACUUT]
      reason_contains: "began 73 hours ago"
  - name: a placeholder is no justification (old form)
    request:
      from: ggz
      to: vt/regisseur
      categories: [in-zorg]
      purpose: plan
      phase: acuut
      consent: false
      justification: "n.v.t."
    expect:
      effect: deny
      rules: [R-GGZ]
)",
                              "t.yaml");
  ASSERT_THAT(table, IsOk());
  ASSERT_EQ(table->cases.size(), 5u);
  EXPECT_EQ(table->cases[3].now_ms, 1772359200000);
  TestReport report = RunTestTable(*policy_, *table);
  for (const auto& r : report.results) EXPECT_THAT(r.mismatches, IsEmpty()) << r.test->name;
  EXPECT_EQ(report.failures, 0);
}

TEST_F(PolicyLanguageTest, ATestTableNamesTheNewMismatches) {
  auto table = ParseTestTable(R"(tests:
  - name: wrong expectations
    request:
      from: ggz
      to: vt/regisseur
      categories: [in-zorg]
      purpose: plan
      phase: acuut
      justification: weighing
      subjects:
        - role: victim
    expect:
      effect: permit
      rules: [R-GGZ-CVP]
      needs_source_approval: false
      retention_from: delivery
)",
                              "t.yaml");
  ASSERT_THAT(table, IsOk());
  TestReport report = RunTestTable(*policy_, *table);
  ASSERT_EQ(report.failures, 1);
  EXPECT_THAT(report.results[0].mismatches, ElementsAre("needs_source_approval: expected false, got true",
                                                        "retention_from: expected delivery, got closure"));
}

TEST(PolicyLanguageTableTest, BadSubjectsAndTimesAreNamed) {
  const std::string head = R"(tests:
  - name: t
    request:
      from: ggz
      to: vt
      categories: [in-zorg]
      purpose: plan
      phase: acuut
)";
  const std::string tail = "    expect:\n      effect: deny\n      rules: []\n";
  struct Case {
    std::string request, message;
  };
  const Case cases[] = {
      {"      subjects:\n        - role: kind\n", "unknown subject role 'kind'"},
      {"      subjects:\n        - age: 3\n", "each subject needs a role"},
      {"      subjects:\n        - role: child\n          age: -1\n", "expected a whole number from 0 to 150"},
      {"      subjects:\n        - role: child\n          consent: [ouders]\n", "unknown consent giver 'ouders'"},
      {"      subjects:\n        - role: child\n          leeftijd: 3\n", "unknown subject key 'leeftijd'"},
      {"      consent: true\n      subjects:\n        - role: child\n", "consent: and subjects: cannot be combined"},
      {"      now: 1 maart\n", "now must be a UTC date or moment"},
      {"      acute_hours_ago: veel\n", "expected a whole number"},
  };
  for (const Case& c : cases) {
    auto table = ParseTestTable(head + c.request + tail, "t.yaml");
    EXPECT_THAT(table, ::kp::testing::StatusIs(StatusCode::kInvalidArgument, c.message)) << c.request;
  }
}

TEST(PolicyLanguageTableTest, SubjectSpecsAndTimes) {
  auto s = ParseSubjectSpec("child,age=13,consent=subject+parents,consent-days-ago=30,by-source");
  ASSERT_THAT(s, IsOk());
  EXPECT_EQ(s->role, "child");
  EXPECT_EQ(s->age_years, 13);
  EXPECT_EQ(s->consent_givers, kGiverSubject | kGiverParents);
  EXPECT_EQ(s->consent_days_ago, 30);
  EXPECT_TRUE(s->consent_by_source);
  EXPECT_FALSE(ParseSubjectSpec("kind").ok());
  EXPECT_FALSE(ParseSubjectSpec("child,age=oud").ok());
  EXPECT_FALSE(ParseSubjectSpec("child,consent=ouders").ok());
  EXPECT_FALSE(ParseSubjectSpec("child,").ok());
  EXPECT_EQ(*ParseTestTime("2026-01-01"), kDefaultTestNowMs);
  EXPECT_EQ(*ParseTestTime("1970-01-01T00:00:01Z"), 1000);
  EXPECT_EQ(*ParseTestTime("2024-02-29T23:59:59Z"), 1709251199000);
  EXPECT_FALSE(ParseTestTime("2026-13-01").ok());
  EXPECT_FALSE(ParseTestTime("2026-01-01T10:00:00").ok());
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::policy
