#include "policy/policy_test_table.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <exception>
#include <set>

namespace kp::policy {
namespace {

class TableParser {
 public:
  explicit TableParser(std::string_view source_name) : file_(source_name) {}

  Result<TestTable> Run(std::string_view text) {
    TestTable table;
    table.source_name = file_;
    try {
      YAML::Node root = YAML::Load(std::string(text));
      YAML::Node tests;
      if (root.IsMap()) {
        for (auto it = root.begin(); it != root.end(); ++it) {
          if (it->first.IsScalar() && it->first.Scalar() == "tests") {
            tests = it->second;
          } else {
            Error(it->first, "unknown key (expected 'tests')");
          }
        }
      }
      if (!tests.IsSequence()) {
        Error(root, "a test table must be a mapping with a list under 'tests'");
      } else {
        for (const YAML::Node& item : tests) ReadCase(item, table);
      }
      if (errors_.empty() && table.cases.empty()) Error(root, "the test table has no tests");
    } catch (const YAML::Exception& e) {
      Error(e.mark, "not valid YAML: " + e.msg);
    } catch (const std::exception& e) {
      errors_ += file_ + ": error: " + e.what() + "\n";
    }
    if (!errors_.empty()) {
      errors_.pop_back();
      return InvalidArgumentError(errors_);
    }
    return table;
  }

 private:
  void Error(const YAML::Mark& mark, const std::string& message) {
    errors_ += file_;
    if (mark.line >= 0)
      errors_ += ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
    errors_ += ": error: " + message + "\n";
  }
  void Error(const YAML::Node& node, const std::string& message) { Error(node.Mark(), message); }

  bool Text(const YAML::Node& node, std::string& out) {
    if (!node.IsScalar()) {
      Error(node, "expected text");
      return false;
    }
    out = node.Scalar();
    return true;
  }
  bool Bool(const YAML::Node& node, bool& out) {
    if (node.IsScalar() && (node.Scalar() == "true" || node.Scalar() == "false")) {
      out = node.Scalar() == "true";
      return true;
    }
    Error(node, "expected true or false");
    return false;
  }
  bool List(const YAML::Node& node, std::vector<std::string>& out) {
    out.clear();
    if (node.IsScalar()) {
      out.push_back(node.Scalar());
      return true;
    }
    if (!node.IsSequence()) {
      Error(node, "expected a list of names");
      return false;
    }
    for (const YAML::Node& item : node) {
      if (!item.IsScalar()) {
        Error(item, "expected a name");
        return false;
      }
      out.push_back(item.Scalar());
    }
    return true;
  }

  void ReadRequest(const YAML::Node& node, TestCase& t) {
    if (!node.IsMap()) return Error(node, "request must be a mapping");
    bool has_categories = false;
    for (auto it = node.begin(); it != node.end(); ++it) {
      const std::string key = it->first.IsScalar() ? it->first.Scalar() : "";
      const YAML::Node v = it->second;  // a copy: it->second is a temporary
      if (key == "from") {
        Text(v, t.from);
      } else if (key == "to") {
        std::string to;
        if (Text(v, to)) {
          auto slash = to.find('/');
          t.to = to.substr(0, slash);
          if (slash != std::string::npos) t.to_role = to.substr(slash + 1);
        }
      } else if (key == "categories") {
        has_categories = List(v, t.categories);
      } else if (key == "purpose") {
        Text(v, t.purpose);
      } else if (key == "phase") {
        Text(v, t.phase);
      } else if (key == "member") {
        Bool(v, t.member);
      } else if (key == "consent") {
        Bool(v, t.consent);
      } else if (key == "gatekeeper") {
        Bool(v, t.gatekeeper);
      } else if (key == "justification") {
        Text(v, t.justification);
      } else {
        Error(it->first, "unknown request key '" + key +
                             "' (expected from, to, categories, purpose, phase, member, consent, gatekeeper, "
                             "justification)");
      }
    }
    if (t.from.empty() || t.to.empty() || !has_categories || t.purpose.empty() || t.phase.empty()) {
      Error(node, "request needs from, to, categories, purpose and phase");
    }
  }

  void ReadExpect(const YAML::Node& node, TestCase& t) {
    if (!node.IsMap()) return Error(node, "expect must be a mapping");
    bool has_effect = false, has_rules = false;
    for (auto it = node.begin(); it != node.end(); ++it) {
      const std::string key = it->first.IsScalar() ? it->first.Scalar() : "";
      const YAML::Node v = it->second;  // a copy: it->second is a temporary
      if (key == "effect") {
        std::string e;
        if (Text(v, e)) {
          if (e == "permit" || e == "deny") {
            t.effect = e == "permit" ? Effect::kPermit : Effect::kDeny;
            has_effect = true;
          } else {
            Error(v, "effect must be permit or deny");
          }
        }
      } else if (key == "rules") {
        if (v.IsSequence() && v.size() == 0) {
          has_rules = true;
        } else if (List(v, t.rule_ids)) {
          has_rules = true;
        }
        std::sort(t.rule_ids.begin(), t.rule_ids.end());
      } else if (key == "legal_bases") {
        std::vector<std::string> bases;
        if (List(v, bases)) {
          std::sort(bases.begin(), bases.end());
          t.legal_bases = bases;
        }
      } else if (key == "retention_days") {
        int days = 0;
        const std::string s = v.IsScalar() ? v.Scalar() : "";
        auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), days);
        if (ec != std::errc() || ptr != s.data() + s.size()) {
          Error(v, "retention_days must be a whole number");
        } else {
          t.retention_days = days;
        }
      } else if (key == "fields") {
        if (!v.IsMap()) {
          Error(v, "fields must map categories to field lists");
          continue;
        }
        std::vector<std::pair<std::string, std::vector<std::string>>> fields;
        for (auto f = v.begin(); f != v.end(); ++f) {
          std::vector<std::string> names;
          if (f->first.IsScalar() && List(f->second, names)) fields.emplace_back(f->first.Scalar(), names);
        }
        std::sort(fields.begin(), fields.end());
        t.fields = fields;
      } else if (key == "reason_contains") {
        std::string s;
        if (Text(v, s)) t.reason_contains = s;
      } else {
        Error(it->first,
              "unknown expect key '" + key +
                  "' (expected effect, rules, legal_bases, retention_days, fields, reason_contains)");
      }
    }
    if (!has_effect || !has_rules) Error(node, "expect needs effect and rules ([] for none)");
  }

  void ReadCase(const YAML::Node& item, TestTable& table) {
    if (!item.IsMap()) return Error(item, "each test must be a mapping with name, request, expect");
    TestCase t;
    t.location = {item.Mark().line + 1, item.Mark().column + 1};
    bool has_request = false, has_expect = false;
    for (auto it = item.begin(); it != item.end(); ++it) {
      const std::string key = it->first.IsScalar() ? it->first.Scalar() : "";
      if (key == "name") {
        Text(it->second, t.name);
      } else if (key == "request") {
        ReadRequest(it->second, t);
        has_request = true;
      } else if (key == "expect") {
        ReadExpect(it->second, t);
        has_expect = true;
      } else {
        Error(it->first, "unknown test key '" + key + "' (expected name, request, expect)");
      }
    }
    if (t.name.empty() || !has_request || !has_expect) {
      return Error(item, "each test needs name, request and expect");
    }
    table.cases.push_back(std::move(t));
  }

  std::string file_;
  std::string errors_;
};

template <typename A, typename B>
std::string Join(const A& items, const B& sep) {
  std::string out;
  for (const auto& i : items) {
    if (!out.empty()) out += sep;
    out += std::string(i);
  }
  return "[" + out + "]";
}

}  // namespace

Request TestCase::AsRequest() const {
  Request r;
  r.from = from;
  r.to = to;
  r.to_role = to_role;
  for (const auto& c : categories) r.categories.push_back(c);
  r.purpose = purpose;
  r.phase = phase;
  r.requester_is_member = member;
  r.gatekeeper_approved = gatekeeper;
  r.justification_level = AssessJustification(justification, nullptr);
  SubjectFacts subject;
  if (consent) subject.consent_givers = kGiverSubject;
  r.subjects.push_back(subject);
  return r;
}

Result<TestTable> ParseTestTable(std::string_view text, std::string_view source_name) {
  return TableParser(source_name).Run(text);
}

TestReport RunTestTable(const Policy& policy, const TestTable& table) {
  TestReport report;
  std::set<std::string, std::less<>> reached;
  for (const TestCase& t : table.cases) {
    TestCaseResult r;
    r.test = &t;
    r.decision = policy.Decide(t.AsRequest());
    const Decision& d = r.decision;
    for (auto id : d.rule_ids) reached.emplace(id);
    if (d.effect != t.effect) {
      r.mismatches.push_back("effect: expected " + std::string(EffectName(t.effect)) + ", got " +
                             std::string(EffectName(d.effect)) + " (" + d.reason + ")");
    }
    std::vector<std::string> got(d.rule_ids.begin(), d.rule_ids.end());
    if (got != t.rule_ids) {
      r.mismatches.push_back("rules: expected " + Join(t.rule_ids, ", ") + ", got " + Join(got, ", "));
    }
    if (t.legal_bases) {
      std::vector<std::string> bases(d.legal_bases.begin(), d.legal_bases.end());
      if (bases != *t.legal_bases) {
        r.mismatches.push_back("legal_bases: expected " + Join(*t.legal_bases, ", ") + ", got " +
                               Join(bases, ", "));
      }
    }
    if (t.retention_days && *t.retention_days != d.obligations.retention_days) {
      r.mismatches.push_back("retention_days: expected " + std::to_string(*t.retention_days) + ", got " +
                             std::to_string(d.obligations.retention_days));
    }
    if (t.fields) {
      std::vector<std::pair<std::string, std::vector<std::string>>> fields;
      for (const auto& cf : d.obligations.fields) {
        std::vector<std::string> names(cf.fields.begin(), cf.fields.end());
        std::sort(names.begin(), names.end());
        fields.emplace_back(std::string(cf.category), std::move(names));
      }
      auto expected = *t.fields;
      for (auto& [c, names] : expected) std::sort(names.begin(), names.end());
      if (fields != expected) {
        std::string e, g;
        for (const auto& [c, n] : expected) e += (e.empty() ? "" : " ") + c + ":" + Join(n, ",");
        for (const auto& [c, n] : fields) g += (g.empty() ? "" : " ") + c + ":" + Join(n, ",");
        r.mismatches.push_back("fields: expected {" + e + "}, got {" + g + "}");
      }
    }
    if (t.reason_contains && d.reason.find(*t.reason_contains) == std::string::npos) {
      r.mismatches.push_back("reason: expected it to contain \"" + *t.reason_contains + "\", got \"" +
                             d.reason + "\"");
    }
    if (!r.mismatches.empty()) ++report.failures;
    report.results.push_back(std::move(r));
  }
  for (const auto& rule : policy.rules()) {
    if (!reached.count(rule.id)) report.unreached_rules.push_back(rule.id);
  }
  return report;
}

}  // namespace kp::policy
