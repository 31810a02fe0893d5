// The policy test tables, and the example policy's own tests (which must all
// pass and reach every rule).
#include "policy/policy_test_table.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/base/file_util.h"
#include "policy/policy_loader.h"
#include "tests/policy/test_policy.h"
#include "tests/testing/status_matchers.h"

namespace kp::policy {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

using ::kp::policy::testing::kFakeSha256;
using ::kp::policy::testing::kSmallPolicy;
using ::kp::testing::IsOk;
using ::kp::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr std::string_view kTable = R"(tests:
  - name: police to the casusregisseur
    request:
      from: politie
      to: vt/casusregisseur
      categories: [incidenten]
      purpose: plan
      phase: stabiel
      member: true
    expect:
      effect: permit
      rules: [R-POL]
      retention_days: 180
      fields:
        incidenten: [soort, datum]
  - name: wrong on purpose
    request:
      from: ggz
      to: vt/casusregisseur
      categories: [in-zorg]
      purpose: plan
      phase: stabiel
      member: true
    expect:
      effect: permit
      rules: [R-GGZ]
      reason_contains: nothing like this
)";

TEST(PolicyTestTableTest, ReportsMismatchesAndUnreachedRules) {
  ASSERT_OK_AND_ASSIGN(auto policy, LoadPolicy(kSmallPolicy, "p.yaml", kFakeSha256));
  ASSERT_OK_AND_ASSIGN(TestTable table, ParseTestTable(kTable, "t.yaml"));
  ASSERT_EQ(table.cases.size(), 2u);
  EXPECT_EQ(table.cases[1].location.line, 16);
  TestReport report = RunTestTable(*policy, table);
  EXPECT_EQ(report.failures, 1);
  EXPECT_THAT(report.results[0].mismatches, IsEmpty());
  EXPECT_THAT(report.results[1].mismatches,
              ElementsAre(HasSubstr("effect: expected permit, got deny (no consent recorded"),
                          HasSubstr("reason: expected it to contain \"nothing like this\"")));
  // R-GGZ is named by the refusal, so it counts as reached; F-DOSSIER is not.
  EXPECT_THAT(report.unreached_rules, ElementsAre("F-DOSSIER"));
}

TEST(PolicyTestTableTest, RuleIdMismatchIsNamed) {
  ASSERT_OK_AND_ASSIGN(auto policy, LoadPolicy(kSmallPolicy, "p.yaml", kFakeSha256));
  std::string text(kTable.substr(0, kTable.find("  - name: wrong")));
  text.replace(text.find("rules: [R-POL]"), 14, "rules: [R-POL, R-X]");
  ASSERT_OK_AND_ASSIGN(TestTable table, ParseTestTable(text, "t.yaml"));
  TestReport report = RunTestTable(*policy, table);
  EXPECT_THAT(report.results[0].mismatches, ElementsAre("rules: expected [R-POL, R-X], got [R-POL]"));
}

TEST(PolicyTestTableTest, BadTablesAreErrorsWithPositions) {
  EXPECT_THAT(
      ParseTestTable("tests:\n  - name: x\n    request: {}\n", "t.yaml"),
      StatusIs(StatusCode::kInvalidArgument, "t.yaml:2:5: error: each test needs name, request and expect"));
  EXPECT_THAT(ParseTestTable("tests:\n  - name: x\n    requets: {}\n", "t.yaml"),
              StatusIs(StatusCode::kInvalidArgument, "t.yaml:3:5: error: unknown test key 'requets'"));
  EXPECT_THAT(ParseTestTable("tests: [", "t.yaml"), StatusIs(StatusCode::kInvalidArgument, "not valid YAML"));
  EXPECT_THAT(ParseTestTable("tests: []", "t.yaml"), StatusIs(StatusCode::kInvalidArgument, "has no tests"));
}

// The example policy of the Veiligheidsteam Hart van Brabant is clean, its
// own tests all pass, and every rule is reached by at least one test.
class ExamplePolicyTest : public ::testing::Test {
 protected:
  static std::string Path(const std::string& name) {
    return ::kp::testing::SourceDir() + "/policy/examples/" + name;
  }
};

TEST_F(ExamplePolicyTest, LintsClean) {
  ASSERT_OK_AND_ASSIGN(std::string text, ReadFileBounded(Path("veiligheidsteam-hvb.yaml"), kMaxPolicyBytes));
  CompileOutput out = CompilePolicy(text, "veiligheidsteam-hvb.yaml", kFakeSha256);
  EXPECT_EQ(FormatDiagnostics(out.diagnostics), "");
  ASSERT_NE(out.policy, nullptr);
  EXPECT_EQ(out.policy->partners().size(), 14u);  // with the CIT and the Spoedplein (issue 14), the burgemeester and Sterk Huis (issue 16)
  EXPECT_TRUE(out.policy->acute().defined);
  EXPECT_FALSE(out.policy->referrals().reasons.empty());
  EXPECT_EQ(out.policy->phases().size(), 5u);
}

TEST_F(ExamplePolicyTest, OwnTestsPassAndReachEveryRule) {
  auto policy = LoadPolicyFile(Path("veiligheidsteam-hvb.yaml"),
                               [](std::string_view) { return std::string(kFakeSha256); });
  ASSERT_THAT(policy, IsOk());
  ASSERT_OK_AND_ASSIGN(std::string text, ReadFileBounded(Path("veiligheidsteam-hvb.tests.yaml"), 1 << 20));
  ASSERT_OK_AND_ASSIGN(TestTable table, ParseTestTable(text, "veiligheidsteam-hvb.tests.yaml"));
  TestReport report = RunTestTable(**policy, table);
  for (const auto& r : report.results) {
    EXPECT_THAT(r.mismatches, IsEmpty()) << r.test->name;
  }
  EXPECT_EQ(report.failures, 0);
  EXPECT_THAT(report.unreached_rules, IsEmpty());
  EXPECT_GE(report.results.size(), 20u);
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::policy
