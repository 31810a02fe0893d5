// Decision semantics (DESIGN.md §5): default deny, forbid wins, conditions,
// narrowest obligations, reasons, digest, rule order, thread safety.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "policy/policy_loader.h"
#include "tests/policy/test_policy.h"
#include "tests/testing/sanitizers.h"
#include "tests/testing/status_matchers.h"

namespace kp::policy {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

using ::kp::policy::testing::kFakeSha256;
using ::kp::policy::testing::kSmallPolicy;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// A permit for incidents that is narrower than R-POL in every obligation.
constexpr std::string_view kNarrowPoliceRule = R"(
  - id: R-POL-SMAL
    effect: permit
    from: politie
    to: vt/casusregisseur
    categories: [incidenten]
    purposes: [plan]
    legal_basis: wpg-20
    obligations:
      fields:
        incidenten: [datum, wapens]
      retention_days: 30
      no_onward_sharing: true
)";

constexpr std::string_view kAcuteForbid = R"(
  - id: F-POL-ACUUT
    effect: forbid
    from: politie
    to: vt
    categories: [incidenten]
    phases: [acuut]
    explanation: Niet in de acute fase.
)";

class PolicyEngineTest : public ::testing::Test {
 protected:
  void SetUp() override { policy_ = Load(std::string(kSmallPolicy)); }

  static std::shared_ptr<const Policy> Load(const std::string& text) {
    auto loaded = LoadPolicy(text, "test.yaml", kFakeSha256);
    EXPECT_THAT(loaded, ::kp::testing::IsOk());
    return loaded.ok() ? *loaded : nullptr;
  }

  // The police's usual request; tests change what they need.
  static Request PoliceRequest() {
    Request r;
    r.from = "politie";
    r.to = "vt";
    r.to_role = "casusregisseur";
    r.categories = {"incidenten"};
    r.purpose = "plan";
    r.phase = "stabiel";
    r.requester_is_member = true;
    r.subjects = {SubjectFacts{.role = "victim"}};
    return r;
  }
  static Request GgzRequest() {
    Request r = PoliceRequest();
    r.from = "ggz";
    r.categories = {"in-zorg"};
    return r;
  }

  std::shared_ptr<const Policy> policy_;
};

TEST_F(PolicyEngineTest, PermitCarriesRuleBasisObligationsAndDigest) {
  Decision d = policy_->Decide(PoliceRequest());
  EXPECT_EQ(d.effect, Effect::kPermit);
  EXPECT_THAT(d.rule_ids, ElementsAre("R-POL"));
  EXPECT_THAT(d.legal_bases, ElementsAre("wpg-20"));
  ASSERT_EQ(d.obligations.fields.size(), 1u);
  EXPECT_EQ(d.obligations.fields[0].category, "incidenten");
  EXPECT_THAT(d.obligations.fields[0].fields, ElementsAre("datum", "soort"));
  EXPECT_EQ(d.obligations.retention_days, 180);
  EXPECT_FALSE(d.obligations.no_onward_sharing);
  EXPECT_EQ(d.policy_sha256, kFakeSha256);
  EXPECT_EQ(d.reason, "permitted by rule R-POL under wpg-20");
}

TEST_F(PolicyEngineTest, DecisionStatusMapsDenyToPermissionDenied) {
  EXPECT_THAT(DecisionStatus(policy_->Decide(PoliceRequest())), ::kp::testing::IsOk());
  Request r = PoliceRequest();
  r.requester_is_member = false;
  EXPECT_THAT(DecisionStatus(policy_->Decide(r)),
              ::kp::testing::StatusIs(StatusCode::kPermissionDenied, "rule R-POL requires it"));
}

TEST_F(PolicyEngineTest, DefaultDenyWhenNoRuleMatches) {
  Request r = PoliceRequest();
  r.purpose = "acuut-gevaar";
  Decision d = policy_->Decide(r);
  EXPECT_EQ(d.effect, Effect::kDeny);
  EXPECT_THAT(d.rule_ids, IsEmpty());
  EXPECT_THAT(d.legal_bases, IsEmpty());
  EXPECT_THAT(d.obligations.fields, IsEmpty());
  EXPECT_EQ(d.reason,
            "no rule permits politie to share incidenten with vt/casusregisseur for purpose acuut-gevaar in "
            "phase stabiel; rule R-POL allows it only for purposes plan");
  EXPECT_EQ(d.policy_sha256, kFakeSha256);
}

TEST_F(PolicyEngineTest, DenyForTheWrongRecipientOrRole) {
  Request r = PoliceRequest();
  r.to_role = "";
  EXPECT_THAT(policy_->Decide(r).reason, HasSubstr("rule R-POL allows it only to roles casusregisseur"));
  r = PoliceRequest();
  r.to = "ggz";
  r.to_role = "";
  EXPECT_EQ(policy_->Decide(r).effect, Effect::kDeny);
}

TEST_F(PolicyEngineTest, ForbidWinsOverAMatchingPermit) {
  auto p = Load(std::string(kSmallPolicy) + std::string(kAcuteForbid));
  Request r = PoliceRequest();
  EXPECT_EQ(p->Decide(r).effect, Effect::kPermit);
  r.phase = "acuut";
  Decision d = p->Decide(r);
  EXPECT_EQ(d.effect, Effect::kDeny);
  EXPECT_THAT(d.rule_ids, ElementsAre("F-POL-ACUUT"));
  EXPECT_EQ(
      d.reason,
      "rule F-POL-ACUUT forbids sharing incidenten (Niet in de acute fase.); no request of this kind can be "
      "permitted");
}

TEST_F(PolicyEngineTest, ForbidOnOneCategoryRefusesTheWholeRequest) {
  Request r = GgzRequest();
  r.subjects[0].consent_givers = kGiverSubject;
  EXPECT_EQ(policy_->Decide(r).effect, Effect::kPermit);
  r.categories = {"in-zorg", "dossier"};
  Decision d = policy_->Decide(r);
  EXPECT_EQ(d.effect, Effect::kDeny);
  EXPECT_THAT(d.rule_ids, ElementsAre("F-DOSSIER"));
  EXPECT_THAT(d.reason, HasSubstr("dossier: rule F-DOSSIER forbids sharing dossier (Nooit het dossier.)"));
  EXPECT_THAT(d.obligations.fields, IsEmpty());
}

TEST_F(PolicyEngineTest, ObligationsAreCombinedToTheNarrowest) {
  auto p = Load(std::string(kSmallPolicy) + std::string(kNarrowPoliceRule));
  Decision d = p->Decide(PoliceRequest());
  EXPECT_EQ(d.effect, Effect::kPermit);
  EXPECT_THAT(d.rule_ids, ElementsAre("R-POL", "R-POL-SMAL"));
  EXPECT_THAT(d.legal_bases, ElementsAre("wpg-20"));
  ASSERT_EQ(d.obligations.fields.size(), 1u);
  EXPECT_THAT(d.obligations.fields[0].fields, ElementsAre("datum"));  // {datum,soort} ∩ {datum,wapens}
  EXPECT_EQ(d.obligations.retention_days, 30);
  EXPECT_TRUE(d.obligations.no_onward_sharing);
}

TEST_F(PolicyEngineTest, APermitWhoseConditionsFailDoesNotNarrowTheOthers) {
  // R-POL needs membership, R-POL-SMAL does not: without membership only
  // R-POL-SMAL decides, and its obligations alone apply.
  auto p = Load(std::string(kSmallPolicy) + std::string(kNarrowPoliceRule));
  Request r = PoliceRequest();
  r.requester_is_member = false;
  Decision d = p->Decide(r);
  EXPECT_EQ(d.effect, Effect::kPermit);
  EXPECT_THAT(d.rule_ids, ElementsAre("R-POL-SMAL"));
  EXPECT_THAT(d.obligations.fields[0].fields, ElementsAre("datum", "wapens"));
}

TEST_F(PolicyEngineTest, MembershipIsAConditionWithAReason) {
  Request r = PoliceRequest();
  r.requester_is_member = false;
  Decision d = policy_->Decide(r);
  EXPECT_EQ(d.effect, Effect::kDeny);
  EXPECT_THAT(d.rule_ids, ElementsAre("R-POL"));
  EXPECT_EQ(d.reason, "the recipient is not a member of this case; rule R-POL requires it");
}

TEST_F(PolicyEngineTest, ConsentRequiredByTheLegalBasis) {
  Request r = GgzRequest();
  Decision d = policy_->Decide(r);
  EXPECT_EQ(d.effect, Effect::kDeny);
  EXPECT_THAT(d.rule_ids, ElementsAre("R-GGZ"));
  EXPECT_EQ(
      d.reason,
      "no consent recorded for this subject and purpose; rule R-GGZ requires it (legal basis toestemming)");
  r.subjects[0].consent_givers = kGiverSubject;
  d = policy_->Decide(r);
  EXPECT_EQ(d.effect, Effect::kPermit);
  EXPECT_TRUE(d.obligations.notify_privacy_officer);
}

TEST_F(PolicyEngineTest, GatekeeperAndJustificationBothNeeded) {
  auto p = Load(std::string(kSmallPolicy) + R"(
  - id: R-GGZ-ACUUT
    effect: permit
    from: ggz
    to: vt/casusregisseur
    categories: [in-zorg]
    purposes: [acuut-gevaar]
    phases: [acuut]
    legal_basis: conflict-van-plichten
    obligations:
      fields:
        in-zorg: [in-zorg]
      retention_days: 30
)");
  Request r = GgzRequest();
  r.purpose = "acuut-gevaar";
  r.phase = "acuut";
  EXPECT_EQ(p->Decide(r).reason,
            "no gatekeeper approval recorded, and no written justification given; rule R-GGZ-ACUUT requires "
            "them (legal basis conflict-van-plichten)");
  r.gatekeeper_approved = true;
  r.justification_level = AssessJustification("  \t\n", nullptr);  // blank is no justification
  EXPECT_EQ(
      p->Decide(r).reason,
      "no written justification given; rule R-GGZ-ACUUT requires it (legal basis conflict-van-plichten)");
  r.justification_level = AssessJustification("acuut gevaar", nullptr);
  EXPECT_EQ(p->Decide(r).effect, Effect::kPermit);
  r.gatekeeper_approved = false;
  EXPECT_EQ(p->Decide(r).effect, Effect::kDeny);
}

TEST_F(PolicyEngineTest, CurrentPhaseLimitsTheRule) {
  Request r = GgzRequest();
  r.subjects[0].consent_givers = kGiverSubject;
  r.phase = "acuut";
  Decision d = policy_->Decide(r);
  EXPECT_EQ(d.effect, Effect::kDeny);
  EXPECT_THAT(d.reason, HasSubstr("rule R-GGZ allows it only in phases stabiel"));
}

TEST_F(PolicyEngineTest, ClosedCaseRefusesEverything) {
  Request r = PoliceRequest();
  r.phase = "gesloten";
  Decision d = policy_->Decide(r);
  EXPECT_EQ(d.effect, Effect::kDeny);
  EXPECT_EQ(d.reason, "the case is closed (phase gesloten); nothing may be shared any more");
}

TEST_F(PolicyEngineTest, UnknownNamesAndEmptyRequestsFailClosed) {
  for (auto change : std::vector<void (*)(Request&)>{
           [](Request& r) { r.from = "nobody"; }, [](Request& r) { r.to = "nobody"; },
           [](Request& r) { r.to_role = "nobody"; }, [](Request& r) { r.purpose = "nobody"; },
           [](Request& r) { r.phase = "nobody"; },
           [](Request& r) {
             r.categories = {"incidenten", "nobody"};
           },
           [](Request& r) { r.categories.clear(); }}) {
    Request r = PoliceRequest();
    change(r);
    Decision d = policy_->Decide(r);
    EXPECT_EQ(d.effect, Effect::kDeny);
    EXPECT_THAT(d.rule_ids, IsEmpty());
    EXPECT_FALSE(d.reason.empty());
  }
}

TEST_F(PolicyEngineTest, SeveralCategoriesAllNeedAPermit) {
  const auto& p = policy_;
  Request r = PoliceRequest();
  r.categories = {"incidenten", "in-zorg"};  // police does not hold in-zorg
  Decision d = p->Decide(r);
  EXPECT_EQ(d.effect, Effect::kDeny);
  EXPECT_THAT(d.reason, HasSubstr("in-zorg: no rule permits politie to share in-zorg"));
  r.categories = {"incidenten", "incidenten"};  // duplicates count once
  d = p->Decide(r);
  EXPECT_EQ(d.effect, Effect::kPermit);
  EXPECT_EQ(d.obligations.fields.size(), 1u);
}

TEST_F(PolicyEngineTest, DecisionsDoNotDependOnRequestCategoryOrder) {
  auto p = Load(std::string(kSmallPolicy) + std::string(kAcuteForbid));
  Request a = GgzRequest(), b = GgzRequest();
  a.categories = {"in-zorg", "dossier"};
  b.categories = {"dossier", "in-zorg"};
  EXPECT_EQ(p->Decide(a).reason, p->Decide(b).reason);
}

// ---- Rule order never matters -------------------------------------------

std::string Canonical(const Decision& d) {
  std::string s(EffectName(d.effect));
  s += "|" + d.reason + "|";
  for (auto id : d.rule_ids) s += std::string(id) + ",";
  s += "|";
  for (auto id : d.legal_bases) s += std::string(id) + ",";
  s += "|" + std::to_string(d.obligations.retention_days) + (d.obligations.no_onward_sharing ? "N" : "n") +
       (d.obligations.notify_privacy_officer ? "P" : "p");
  for (const auto& cf : d.obligations.fields) {
    s += "|" + std::string(cf.category) + ":";
    for (auto f : cf.fields) s += std::string(f) + ",";
  }
  return s;
}

// How thinly the order and thread tests sample the grid below. The example
// policy's grid has grown to about 600,000 requests (14 x 14 partners, two
// role choices, 21 categories, 3 purposes, 5 phases, 5 condition sets);
// deciding all of it five times took 23 s at -O0 and about four times that
// under AddressSanitizer. A stride that shares no factor with the innermost
// loop's 5 condition sets still spreads over every partner pair, category,
// phase and condition set, and the shuffles still have their permit count.
#ifdef KP_UNDER_ASAN  // GCC or clang (tests/testing/sanitizers.h)
constexpr size_t kOrderStride = 7, kOrderRounds = 1, kThreadStride = 11;
#else
constexpr size_t kOrderStride = 2, kOrderRounds = 3, kThreadStride = 3;
#endif

// Every single-category request over the policy's names, with a spread of
// condition combinations; with `stride` > 1 only every stride-th of them.
std::vector<std::string> DecideAll(const Policy& p, size_t stride = 1) {
  std::vector<std::string> out;
  size_t index = 0;
  const uint8_t facts[] = {0, 1, 3, 13, 15};
  for (const auto& from : p.partners()) {
    for (const auto& to : p.partners()) {
      for (int with_role = 0; with_role < 2; ++with_role) {
        for (const auto& cat : p.categories()) {
          for (const auto& purpose : p.purposes()) {
            for (const auto& phase : p.phases()) {
              for (uint8_t f : facts) {
                if (index++ % stride != 0) continue;
                Request r;
                r.from = from.id;
                r.to = to.id;
                r.to_role = with_role && !p.roles().empty() ? std::string_view(p.roles()[0].id) : "";
                r.categories = {cat.id};
                r.purpose = purpose.id;
                r.phase = phase.id;
                r.requester_is_member = f & 1;
                r.subjects = {SubjectFacts{.consent_givers = static_cast<uint8_t>((f & 2) ? kGiverSubject : 0)}};
                r.gatekeeper_approved = f & 4;
                r.justification_level = (f & 8) ? Justification::kText : Justification::kNone;
                out.push_back(Canonical(p.Decide(r)));
              }
            }
          }
        }
      }
    }
  }
  return out;
}

std::string ReadExample() {
  std::ifstream in(::kp::testing::SourceDir() + "/policy/examples/veiligheidsteam-hvb.yaml");
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(PolicyRuleOrderTest, ShufflingTheRulesChangesNoDecision) {
  const std::string text = ReadExample();
  ASSERT_FALSE(text.empty());
  auto original = LoadPolicy(text, "example.yaml", kFakeSha256);
  ASSERT_THAT(original, ::kp::testing::IsOk());
  const std::vector<std::string> expected = DecideAll(**original, kOrderStride);
  size_t permits = std::count_if(expected.begin(), expected.end(),
                                 [](const std::string& s) { return s.rfind("permit", 0) == 0; });
  ASSERT_GT(permits, 100u);  // the grid really exercises the permit rules

  std::mt19937 rng(20260042);
  for (size_t round = 0; round < kOrderRounds; ++round) {
    // Shuffle the rule blocks of the text itself (comments and all).
    const size_t rules_at = text.find("\nrules:\n");
    ASSERT_NE(rules_at, std::string::npos);
    const std::string head = text.substr(0, rules_at + 8);
    std::vector<std::string> blocks;
    for (size_t at = text.find("  - id:", rules_at); at != std::string::npos;) {
      size_t next = text.find("\n  - id:", at);
      blocks.push_back(text.substr(at, next == std::string::npos ? std::string::npos : next + 1 - at));
      at = next == std::string::npos ? next : next + 1;
    }
    ASSERT_GE(blocks.size(), 10u);
    for (auto& b : blocks) {
      if (b.back() != '\n') b += '\n';
    }
    std::shuffle(blocks.begin(), blocks.end(), rng);
    std::string shuffled = head;
    for (const auto& b : blocks) shuffled += b;
    ASSERT_NE(shuffled, text);
    auto p = LoadPolicy(shuffled, "shuffled.yaml", kFakeSha256);
    ASSERT_THAT(p, ::kp::testing::IsOk());
    EXPECT_NE(std::string((*p)->rules().front().id), "") << round;
    EXPECT_EQ(DecideAll(**p, kOrderStride), expected) << "round " << round;
  }
}

TEST(PolicyThreadTest, ConcurrentDecisionsOnOnePolicyAgree) {
  auto p = LoadPolicy(ReadExample(), "example.yaml", kFakeSha256);
  ASSERT_THAT(p, ::kp::testing::IsOk());
  const std::vector<std::string> expected = DecideAll(**p, kThreadStride);
  std::vector<std::vector<std::string>> got(4);
  std::vector<std::thread> threads;
  for (auto& g : got) threads.emplace_back([&g, &p] { g = DecideAll(**p, kThreadStride); });
  for (auto& t : threads) t.join();
  for (const auto& g : got) EXPECT_EQ(g, expected);
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::policy
