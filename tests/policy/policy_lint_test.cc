// One bad policy per lint: each test changes one thing in the small clean
// policy of test_policy.h and expects exactly that error, at that place.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/base/file_util.h"
#include "policy/policy_loader.h"
#include "tests/policy/test_policy.h"
#include "tests/testing/status_matchers.h"

namespace kp::policy {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

using ::kp::policy::testing::kFakeSha256;
using ::kp::policy::testing::kSmallPolicy;
using ::kp::policy::testing::SmallPolicyWith;
using ::kp::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::vector<std::string> Lint(std::string_view text) {
  CompileOutput out = CompilePolicy(text, "bad.yaml", kFakeSha256);
  EXPECT_EQ(out.policy == nullptr, !out.diagnostics.empty());
  std::vector<std::string> lines;
  for (const auto& d : out.diagnostics) lines.push_back(d.ToString());
  return lines;
}

TEST(PolicyLintTest, TheSmallPolicyIsClean) { EXPECT_THAT(Lint(kSmallPolicy), IsEmpty()); }

TEST(PolicyLintTest, UnknownPartner) {
  EXPECT_THAT(Lint(SmallPolicyWith("from: politie", "from: politi")),
              ElementsAre("bad.yaml:58:11: error: unknown partner 'politi'"));
}

TEST(PolicyLintTest, UnknownCategoryInAFieldList) {
  EXPECT_THAT(
      Lint(SmallPolicyWith("categories: [in-zorg]\n    purposes", "categories: [inzorg]\n    purposes")),
      ElementsAre("bad.yaml:72:18: error: unknown category 'inzorg'"));
}

TEST(PolicyLintTest, UnknownKeyIsATypoNotSilence) {
  EXPECT_THAT(
      Lint(SmallPolicyWith("    conditions: [member]\n", "    condition: [member]\n")),
      ElementsAre("bad.yaml:63:5: error: unknown key 'condition' in a rule (expected one of: id, effect, "
                  "from, to, categories, purposes, phases, legal_basis, conditions, obligations, "
                  "explanation, subject_roles, within_hours_of_acute)"));
}

TEST(PolicyLintTest, UnknownCondition) {
  EXPECT_THAT(Lint(SmallPolicyWith("conditions: [member]", "conditions: [lid]")),
              ElementsAre("bad.yaml:63:18: error: unknown condition 'lid' (expected member, consent, "
                          "gatekeeper, justification, weighing, source_approval)"));
}

TEST(PolicyLintTest, DuplicatePartnerId) {
  EXPECT_THAT(Lint(SmallPolicyWith("  - id: ggz\n", "  - id: ggz\n  - id: politie\n")),
              ElementsAre("bad.yaml:6:9: error: duplicate partner id 'politie' (first defined at line 4)"));
}

TEST(PolicyLintTest, DuplicateRuleId) {
  EXPECT_THAT(Lint(SmallPolicyWith("id: F-DOSSIER", "id: R-POL")),
              ElementsAre("bad.yaml:82:9: error: duplicate rule id 'R-POL' (first defined at line 56)"));
}

TEST(PolicyLintTest, LegalBasisDoesNotCoverTheSender) {
  EXPECT_THAT(Lint(SmallPolicyWith("senders: [politie]", "senders: [ggz]")),
              ElementsAre("bad.yaml:58:11: error: legal basis 'wpg-20' does not cover sender 'politie'"));
}

TEST(PolicyLintTest, LegalBasisDoesNotCoverTheCategory) {
  EXPECT_THAT(
      Lint(SmallPolicyWith("    categories: [incidenten]\n    max", "    categories: [dossier]\n    max")),
      ElementsAre("bad.yaml:60:18: error: legal basis 'wpg-20' does not cover category 'incidenten'"));
}

TEST(PolicyLintTest, Art9CategoryWithoutArt9Ground) {
  EXPECT_THAT(
      Lint(SmallPolicyWith("requires: [consent]\n    art9_ground: true", "requires: [consent]\n")),
      ElementsAre("bad.yaml:72:18: error: category 'in-zorg' is AVG art. 9 special category data, but "
                  "legal basis 'toestemming' is no art. 9 ground"));
}

TEST(PolicyLintTest, Art10DataWithoutArt10Ground) {
  EXPECT_THAT(
      Lint(SmallPolicyWith("art10_ground: true", "art10_ground: false")),
      ElementsAre("bad.yaml:60:18: error: category 'incidenten' is AVG art. 10 criminal data, but legal "
                  "basis 'wpg-20' is no art. 10 ground"));
}

TEST(PolicyLintTest, PoliceDataOutsideItsRegime) {
  EXPECT_THAT(
      Lint(SmallPolicyWith("    regime: wpg\n  - id: toestemming", "    regime: avg\n  - id: toestemming")),
      ElementsAre("bad.yaml:60:18: error: category 'incidenten' falls under the Wpg regime, but legal "
                  "basis 'wpg-20' belongs to the AVG regime"));
}

TEST(PolicyLintTest, RetentionAboveTheBasisMaximum) {
  EXPECT_THAT(
      Lint(SmallPolicyWith("      retention_days: 180", "      retention_days: 400")),
      ElementsAre("bad.yaml:67:23: error: retention of 400 days exceeds the maximum of 365 days of legal "
                  "basis 'wpg-20'"));
}

TEST(PolicyLintTest, ObligationNamesAFieldTheCategoryDoesNotHave) {
  EXPECT_THAT(Lint(SmallPolicyWith("incidenten: [datum, soort]", "incidenten: [datum, naam]")),
              ElementsAre("bad.yaml:66:29: error: category 'incidenten' has no field 'naam'"));
}

TEST(PolicyLintTest, PermitWithoutFieldsForACategory) {
  EXPECT_THAT(Lint(SmallPolicyWith("      fields:\n        in-zorg: [in-zorg, contactpersoon]\n",
                                   "      fields: [in-zorg]\n")),
              ElementsAre("bad.yaml:78:15: error: obligations.fields must map each category to its allowed "
                          "fields"));
  EXPECT_THAT(
      Lint(SmallPolicyWith("      fields:\n        in-zorg: [in-zorg, contactpersoon]\n",
                           "      fields: {}\n")),
      ElementsAre("bad.yaml:72:18: error: the rule gives no allowed fields for category 'in-zorg' (data "
                  "minimisation: list them under obligations.fields)"));
}

TEST(PolicyLintTest, RuleShadowedByAForbidIsUnreachable) {
  EXPECT_THAT(
      Lint(SmallPolicyWith("categories: [dossier]\n    explanation",
                           "categories: [dossier, in-zorg]\n"
                           "    explanation")),
      ElementsAre("bad.yaml:68:9: error: no request can reach rule 'R-GGZ': every request it matches is "
                  "forbidden by F-DOSSIER"));
}

TEST(PolicyLintTest, RuleOnlyInAClosedPhaseIsUnreachable) {
  EXPECT_THAT(
      Lint(SmallPolicyWith("phases: [stabiel]", "phases: [gesloten]")),
      ElementsAre("bad.yaml:74:14: error: no request can reach this: phase 'gesloten' is closed, and a "
                  "closed case refuses every request"));
}

TEST(PolicyLintTest, RoleOfAnotherPartnerIsUnreachable) {
  EXPECT_THAT(Lint(SmallPolicyWith("to: vt/casusregisseur", "to: ggz/casusregisseur")),
              ElementsAre("bad.yaml:59:9: error: no request can reach this: role 'casusregisseur' belongs to "
                          "partner 'vt', not 'ggz'"));
}

TEST(PolicyLintTest, SenderThatDoesNotHoldTheCategoryIsUnreachable) {
  EXPECT_THAT(
      Lint(SmallPolicyWith("    owner: politie\n", "    owner: ggz\n")),
      ::testing::Contains("bad.yaml:58:11: error: partner 'politie' does not hold category 'incidenten' "
                          "(held by 'ggz'); no request can reach this"));
}

TEST(PolicyLintTest, ForbidRulesTakeNoLegalBasis) {
  EXPECT_THAT(
      Lint(SmallPolicyWith("    explanation: Nooit", "    legal_basis: wpg-20\n    explanation: Nooit")),
      ElementsAre("bad.yaml:85:18: error: a forbid rule takes no legal_basis"));
}

TEST(PolicyLintTest, PermitMustNamePurposes) {
  EXPECT_THAT(
      Lint(SmallPolicyWith("    purposes: [plan]\n    legal_basis: wpg-20\n", "    legal_basis: wpg-20\n")),
      ElementsAre("bad.yaml:56:5: error: a permit rule must name its purposes (doelbinding)"));
}

TEST(PolicyLintTest, WrongTypeIsReportedNotThrown) {
  EXPECT_THAT(Lint(SmallPolicyWith("      retention_days: 180", "      retention_days: [180]")),
              ElementsAre("bad.yaml:67:23: error: retention_days must be a whole number from 1 to 36500"));
  EXPECT_THAT(Lint(SmallPolicyWith("art9: true", "art9: ja")),
              ElementsAre("bad.yaml:28:11: error: art9 must be true or false"));
}

TEST(PolicyLintTest, EveryProblemIsReportedAtOnceInFileOrder) {
  std::string text = SmallPolicyWith("from: politie", "from: politi");
  text.replace(text.find("phases: [stabiel]"), 17, "phases: [stabil]");
  text.replace(text.find("in-zorg: [in-zorg, contactpersoon]"), 34, "in-zorg: [in-zorg, adres]");
  EXPECT_THAT(Lint(text), ElementsAre("bad.yaml:58:11: error: unknown partner 'politi'",
                                      "bad.yaml:74:14: error: unknown phase 'stabil'",
                                      "bad.yaml:79:28: error: category 'in-zorg' has no field 'adres'"));
}

TEST(PolicyLintTest, InvalidYamlHasAPosition) {
  EXPECT_THAT(Lint("policy:\n  id: [unclosed\n"),
              ElementsAre(HasSubstr("bad.yaml:3:1: error: not valid YAML")));
}

TEST(PolicyLintTest, NotAMapping) {
  EXPECT_THAT(Lint("- just\n- a list\n"),
              ElementsAre(HasSubstr("bad.yaml:1:1: error: a policy must be a mapping")));
  EXPECT_THAT(Lint(""), ElementsAre(HasSubstr("error: a policy must be a mapping")));
}

TEST(PolicyLintTest, DeepNestingIsADiagnosticNotACrash) {
  std::string deep = "policy: " + std::string(100000, '[') + std::string(100000, ']') + "\n";
  EXPECT_THAT(Lint(deep), ElementsAre(HasSubstr("error: not valid YAML")));
}

TEST(PolicyLintTest, AliasesAndMergeKeysAreNotAWayAround) {
  std::string text(kSmallPolicy);
  text.replace(text.find("  - id: F-DOSSIER"), 0, "  - &r {id: R-X, effect: forbid, categories: [dossier]}\n  - *r\n");
  EXPECT_THAT(Lint(text), ::testing::Contains(HasSubstr("duplicate rule id 'R-X'")));
}

TEST(PolicyLintTest, LoadPolicyFileHashesTheExactText) {
  ::kp::testing::TempDir dir;
  const std::string path = dir.File("p.yaml");
  ASSERT_OK(WriteFileDurable(path, kSmallPolicy, 0644, WriteMode::kCreateExclusive));
  std::string hashed;
  auto loaded = LoadPolicyFile(path, [&hashed](std::string_view text) {
    hashed = std::string(text);
    return std::string(64, 'a');
  });
  ASSERT_THAT(loaded, ::kp::testing::IsOk());
  EXPECT_EQ(hashed, kSmallPolicy);
  EXPECT_EQ((*loaded)->sha256_hex(), std::string(64, 'a'));
  EXPECT_THAT(LoadPolicyFile(dir.File("missing.yaml"), [](std::string_view) { return std::string(64, 'a'); }),
              StatusIs(StatusCode::kNotFound));
}

TEST(PolicyLintTest, LoadPolicyRefusesWithEveryDiagnostic) {
  auto loaded = LoadPolicy(SmallPolicyWith("from: politie", "from: politi"), "bad.yaml", kFakeSha256);
  EXPECT_THAT(loaded,
              StatusIs(StatusCode::kInvalidArgument, "bad.yaml:58:11: error: unknown partner 'politi'"));
}

TEST(PolicyLintTest, DigestMustBeHex) {
  EXPECT_THAT(LoadPolicy(kSmallPolicy, "p.yaml", "not-a-digest"),
              StatusIs(StatusCode::kInvalidArgument, "SHA-256 must be 64 lowercase hex digits"));
}

TEST(PolicyLintTest, TooLargeIsRefused) {
  std::string big(kMaxPolicyBytes + 1, '#');
  EXPECT_THAT(Lint(big), ElementsAre(HasSubstr("policy is larger than")));
}

// --- roles that refer, open acute cases, coordinate for a while (issue 14) ---

constexpr std::string_view kRoles = R"(roles:
  - id: casusregisseur
    partner: vt
    coordinates: true
  - id: melder
    partner: ggz
    refers_to: [vt]
  - id: acuut
    partner: politie
    acute: true
    coordination_max_days: 3
)";

constexpr std::string_view kBlocks = R"(acute:
  phase: acuut
  window_hours: 72
  partners: [politie, ggz]
  hand_over_to: [vt]
referrals:
  reasons:
    - id: herhaald-geweld
      name: Herhaald geweld
  decline_reasons:
    - id: geen-hoog-risico
      name: Geen hoog risico
  expire_days: 10
)";

std::string WithRolesAndBlocks(std::string_view roles = kRoles, std::string_view blocks = kBlocks) {
  std::string text = SmallPolicyWith("roles:\n  - id: casusregisseur\n    partner: vt\n", roles);
  return text + std::string(blocks);
}

TEST(PolicyLintTest, AcuteReferralAndDurationElementsLoad) {
  CompileOutput out = CompilePolicy(WithRolesAndBlocks(), "p.yaml", kFakeSha256);
  ASSERT_EQ(FormatDiagnostics(out.diagnostics), "");
  const Policy& p = *out.policy;
  EXPECT_TRUE(p.MayRefer("melder", "ggz", "vt"));
  EXPECT_FALSE(p.MayRefer("melder", "ggz", "politie"));
  EXPECT_FALSE(p.MayRefer("melder", "politie", "vt"));  // the role belongs to ggz
  EXPECT_FALSE(p.MayRefer("casusregisseur", "vt", "vt"));
  EXPECT_TRUE(p.MayOpenAcute("acuut", "politie"));
  EXPECT_FALSE(p.MayOpenAcute("casusregisseur", "vt"));
  EXPECT_FALSE(p.MayCoordinate("acuut", "politie"));
  EXPECT_EQ(p.CoordinationMaxDays("acuut"), 3);
  EXPECT_EQ(p.CoordinationMaxDays("casusregisseur"), 0);
  EXPECT_TRUE(p.acute().defined);
  EXPECT_EQ(p.acute().phase, "acuut");
  EXPECT_EQ(p.acute().window_ms, 72 * 3600 * 1000);
  EXPECT_EQ(p.acute().partners, 0b011u);      // politie, ggz
  EXPECT_EQ(p.acute().hand_over_to, 0b100u);  // vt
  ASSERT_EQ(p.referrals().reasons.size(), 1u);
  EXPECT_TRUE(Policy::HasCode(p.referrals().reasons, "herhaald-geweld"));
  EXPECT_FALSE(Policy::HasCode(p.referrals().reasons, "geen-hoog-risico"));
  EXPECT_TRUE(Policy::HasCode(p.referrals().decline_reasons, "geen-hoog-risico"));
  EXPECT_EQ(p.referrals().expire_days, 10);
}

TEST(PolicyLintTest, AnAcuteRoleNeedsTheAcuteBlock) {
  std::string blocks(kBlocks);
  blocks = blocks.substr(blocks.find("referrals:"));
  EXPECT_THAT(Lint(WithRolesAndBlocks(kRoles, blocks)),
              ElementsAre(HasSubstr("role 'acuut' may open acute cases, but the policy has no acute block")));
}

TEST(PolicyLintTest, AReferringRoleNeedsReferralReasons) {
  std::string blocks(kBlocks);
  blocks = blocks.substr(0, blocks.find("referrals:"));
  EXPECT_THAT(Lint(WithRolesAndBlocks(kRoles, blocks)),
              ElementsAre(HasSubstr("role 'melder' may refer, but the policy has no referrals block with reasons")));
}

TEST(PolicyLintTest, AnAcuteCaseCannotStartClosedOrAdmitNobody) {
  std::string closed(kBlocks);
  closed.replace(closed.find("phase: acuut"), 12, "phase: gesloten");
  EXPECT_THAT(Lint(WithRolesAndBlocks(kRoles, closed)),
              ElementsAre(HasSubstr("an acute case cannot start in the closed phase 'gesloten'")));
  std::string unknown(kBlocks);
  unknown.replace(unknown.find("[politie, ggz]"), 14, "[politie, cit]");
  EXPECT_THAT(Lint(WithRolesAndBlocks(kRoles, unknown)), ElementsAre(HasSubstr("unknown partner 'cit'")));
  std::string too_long(kBlocks);
  too_long.replace(too_long.find("window_hours: 72"), 16, "window_hours: 9000");
  EXPECT_THAT(Lint(WithRolesAndBlocks(kRoles, too_long)), ElementsAre(HasSubstr("window_hours")));
}

TEST(PolicyLintTest, ADurationIsForACoordinatingRole) {
  std::string roles(kRoles);
  roles.replace(roles.find("    refers_to: [vt]\n"), 20, "    refers_to: [vt]\n    coordination_max_days: 9\n");
  EXPECT_THAT(Lint(WithRolesAndBlocks(roles)),
              ElementsAre(HasSubstr("coordination_max_days is for a role that coordinates")));
}

TEST(PolicyLintTest, ReasonCodesAreUniqueIds) {
  std::string dup(kBlocks);
  dup.replace(dup.find("  expire_days"), 0, "    - id: geen-hoog-risico\n      name: Dubbel\n");
  EXPECT_THAT(Lint(WithRolesAndBlocks(kRoles, dup)),
              ElementsAre(HasSubstr("duplicate code 'geen-hoog-risico' in decline_reasons")));
  std::string bad(kBlocks);
  bad.replace(bad.find("id: herhaald-geweld"), 19, "id: 'herhaald geweld'");
  EXPECT_THAT(Lint(WithRolesAndBlocks(kRoles, bad)), ElementsAre(HasSubstr("code")));
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::policy
