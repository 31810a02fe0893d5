// Policies are tested like code: a table of requests with the decision and
// rule ids each must get (DESIGN.md §5). `ketenpoort policy test` and ctest
// run the tables; the format is in docs/policy-language.md ("Policy tests").
//
// Parsing is as defensive as the policy loader (the table is a file a person
// wrote): every problem becomes an InvalidArgument naming file:line:column.
// Thread-compatible; a TestTable is a plain value.
#ifndef KETENPOORT_POLICY_POLICY_TEST_TABLE_H_
#define KETENPOORT_POLICY_POLICY_TEST_TABLE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/base/status.h"
#include "policy/policy_engine.h"

namespace kp::policy {

// One subject of a test's request (`subjects:`), owning its role.
struct TestSubject {
  std::string role;
  int age_years = -1;
  uint8_t consent_givers = 0;  // ConsentGiverBit; 0: no consent
  int consent_days_ago = 0;
  bool consent_by_source = false;
};

// The default moment of a test (2026-01-01T00:00:00Z), when it gives no `now`.
inline constexpr int64_t kDefaultTestNowMs = 1767225600000;

struct TestCase {
  std::string name;
  Location location;
  // The request, owning its strings (`AsRequest` borrows them).
  std::string from, to, to_role, purpose, phase, justification;
  std::vector<std::string> categories;
  bool member = false, consent = false, gatekeeper = false;
  // `justification: none|text|weighing` states the level; other text is assessed.
  std::optional<Justification> justification_level;
  // Empty: one subject of no stated role (with a consent by the subject when `consent`).
  std::vector<TestSubject> subjects;
  int64_t now_ms = kDefaultTestNowMs;
  std::optional<int> acute_hours_ago;
  // Expectations; the optional ones are checked only when given.
  Effect effect = Effect::kDeny;
  std::vector<std::string> rule_ids;  // sorted
  std::optional<std::vector<std::string>> legal_bases;
  std::optional<int> retention_days;
  std::optional<std::vector<std::pair<std::string, std::vector<std::string>>>> fields;
  std::optional<std::string> reason_contains;
  std::optional<bool> needs_source_approval;
  std::optional<bool> retention_from_closure;  // `retention_from: closure|delivery`

  Request AsRequest() const;  // valid while this TestCase lives
};

// "child,age=13,consent=subject+parents,consent-days-ago=30,by-source": the
// `--subject` form of `ketenpoort policy explain`. InvalidArgument on a typo.
Result<TestSubject> ParseSubjectSpec(std::string_view spec);
// The subjects of a request as the engine sees them at `now_ms`.
std::vector<SubjectFacts> SubjectsAt(const std::vector<TestSubject>& subjects, int64_t now_ms);
// "2026-03-01" or "2026-03-01T10:00:00Z" as milliseconds since the epoch.
Result<int64_t> ParseTestTime(std::string_view text);

struct TestTable {
  std::string source_name;
  std::vector<TestCase> cases;
};

Result<TestTable> ParseTestTable(std::string_view text, std::string_view source_name);

struct TestCaseResult {
  const TestCase* test = nullptr;       // into the TestTable passed to RunTestTable
  std::vector<std::string> mismatches;  // empty when the case passed
  Decision decision;
};

struct TestReport {
  std::vector<TestCaseResult> results;
  int failures = 0;
  // Rules no case's decision named, sorted by id.
  std::vector<std::string> unreached_rules;
};

// `table` and `policy` must outlive the report (it points into both).
TestReport RunTestTable(const Policy& policy, const TestTable& table);

}  // namespace kp::policy

#endif  // KETENPOORT_POLICY_POLICY_TEST_TABLE_H_
