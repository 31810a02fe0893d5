// Policies are tested like code: a table of requests with the decision and
// rule ids each must get (DESIGN.md §5). `ketenpoort policy test` and ctest
// run the tables; the format is in docs/policy-language.md ("Policy tests").
//
// Parsing is as defensive as the policy loader (the table is a file a person
// wrote): every problem becomes an InvalidArgument naming file:line:column.
// Thread-compatible; a TestTable is a plain value.
#ifndef KETENPOORT_POLICY_POLICY_TEST_TABLE_H_
#define KETENPOORT_POLICY_POLICY_TEST_TABLE_H_

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/base/status.h"
#include "policy/policy_engine.h"

namespace kp::policy {

struct TestCase {
  std::string name;
  Location location;
  // The request, owning its strings (`AsRequest` borrows them).
  std::string from, to, to_role, purpose, phase, justification;
  std::vector<std::string> categories;
  bool member = false, consent = false, gatekeeper = false;
  // Expectations; the optional ones are checked only when given.
  Effect effect = Effect::kDeny;
  std::vector<std::string> rule_ids;  // sorted
  std::optional<std::vector<std::string>> legal_bases;
  std::optional<int> retention_days;
  std::optional<std::vector<std::pair<std::string, std::vector<std::string>>>> fields;
  std::optional<std::string> reason_contains;

  Request AsRequest() const;  // valid while this TestCase lives
};

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
