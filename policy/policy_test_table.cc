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

  bool Int(const YAML::Node& node, int min, int max, int& out) {
    const std::string v = node.IsScalar() ? node.Scalar() : "";
    int n = 0;
    auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (v.empty() || ec != std::errc() || ptr != v.data() + v.size() || n < min || n > max) {
      Error(node, "expected a whole number from " + std::to_string(min) + " to " + std::to_string(max));
      return false;
    }
    out = n;
    return true;
  }
  bool Givers(const YAML::Node& node, uint8_t& out) {
    std::vector<std::string> names;
    if (!List(node, names)) return false;
    out = 0;
    for (const auto& n : names) {
      if (n == "subject") {
        out |= kGiverSubject;
      } else if (n == "parents") {
        out |= kGiverParents;
      } else {
        Error(node, "unknown consent giver '" + n + "' (expected subject, parents)");
        return false;
      }
    }
    return true;
  }

  void ReadSubjects(const YAML::Node& node, TestCase& t) {
    if (!node.IsSequence() || node.size() == 0) {
      return Error(node, "subjects must be a list of subjects, each with a role");
    }
    for (const YAML::Node& item : node) {
      if (!item.IsMap()) {
        Error(item, "each subject must be a mapping with role (and age, consent, ...)");
        continue;
      }
      TestSubject subject;
      bool has_role = false;
      for (auto it = item.begin(); it != item.end(); ++it) {
        const std::string key = it->first.IsScalar() ? it->first.Scalar() : "";
        const YAML::Node v = it->second;
        if (key == "role") {
          if (Text(v, subject.role)) {
            has_role = true;
            if (SubjectRoleIndex(subject.role) < 0) {
              Error(v, "unknown subject role '" + subject.role +
                           "' (expected victim, child, suspected-perpetrator, housemate, parent)");
            }
          }
        } else if (key == "age") {
          Int(v, 0, 150, subject.age_years);
        } else if (key == "consent") {
          Givers(v, subject.consent_givers);
        } else if (key == "consent_days_ago") {
          Int(v, 0, 36500, subject.consent_days_ago);
        } else if (key == "consent_by_source") {
          Bool(v, subject.consent_by_source);
        } else {
          Error(it->first, "unknown subject key '" + key +
                               "' (expected role, age, consent, consent_days_ago, consent_by_source)");
        }
      }
      if (!has_role) Error(item, "each subject needs a role");
      t.subjects.push_back(std::move(subject));
    }
  }

  void ReadRequest(const YAML::Node& node, TestCase& t) {
    if (!node.IsMap()) return Error(node, "request must be a mapping");
    bool has_categories = false, has_consent = false;
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
        has_consent = Bool(v, t.consent);
      } else if (key == "gatekeeper") {
        Bool(v, t.gatekeeper);
      } else if (key == "justification") {
        if (Text(v, t.justification)) {
          if (t.justification == "none") t.justification_level = Justification::kNone;
          if (t.justification == "text") t.justification_level = Justification::kText;
          if (t.justification == "weighing") t.justification_level = Justification::kWeighing;
        }
      } else if (key == "subjects") {
        ReadSubjects(v, t);
      } else if (key == "acute_hours_ago") {
        int hours = 0;
        if (Int(v, 0, 24 * 3650, hours)) t.acute_hours_ago = hours;
      } else if (key == "now") {
        std::string text;
        if (Text(v, text)) {
          auto ms = ParseTestTime(text);
          if (ms.ok()) {
            t.now_ms = *ms;
          } else {
            Error(v, ms.status().message());
          }
        }
      } else {
        Error(it->first, "unknown request key '" + key +
                             "' (expected from, to, categories, purpose, phase, member, consent, gatekeeper, "
                             "justification, subjects, acute_hours_ago, now)");
      }
    }
    if (has_consent && !t.subjects.empty()) {
      Error(node, "consent: and subjects: cannot be combined; give each subject its consent: [subject, parents]");
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
      } else if (key == "needs_source_approval") {
        bool b = false;
        if (Bool(v, b)) t.needs_source_approval = b;
      } else if (key == "retention_from") {
        std::string s;
        if (Text(v, s)) {
          if (s == "closure" || s == "delivery") {
            t.retention_from_closure = s == "closure";
          } else {
            Error(v, "retention_from must be delivery or closure");
          }
        }
      } else {
        Error(it->first, "unknown expect key '" + key +
                             "' (expected effect, rules, legal_bases, retention_days, fields, reason_contains, "
                             "needs_source_approval, retention_from)");
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

Result<int64_t> ParseTestTime(std::string_view text) {
  // YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, UTC.
  auto num = [&](size_t at, size_t len, int& out) {
    if (at + len > text.size()) return false;
    auto [ptr, ec] = std::from_chars(text.data() + at, text.data() + at + len, out);
    return ec == std::errc() && ptr == text.data() + at + len;
  };
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, se = 0;
  const bool date = (text.size() == 10 || text.size() == 20) && num(0, 4, y) && text[4] == '-' && num(5, 2, mo) &&
                    text[7] == '-' && num(8, 2, d);
  const bool time = text.size() == 10 || (date && text[10] == 'T' && num(11, 2, h) && text[13] == ':' &&
                                          num(14, 2, mi) && text[16] == ':' && num(17, 2, se) && text[19] == 'Z');
  if (!date || !time || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 59) {
    return InvalidArgumentError("now must be a UTC date or moment: 2026-03-01 or 2026-03-01T10:00:00Z");
  }
  // Days from the civil date (H. Hinnant's algorithm).
  const int yy = y - (mo <= 2 ? 1 : 0);
  const int era = yy / 400;
  const int yoe = yy - era * 400;
  const int doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  const int64_t days = int64_t{era} * 146097 + doe - 719468;
  return ((days * 24 + h) * 60 + mi) * 60000 + int64_t{se} * 1000;
}

Result<TestSubject> ParseSubjectSpec(std::string_view spec) {
  TestSubject s;
  size_t start = 0;
  bool first = true;
  while (start <= spec.size()) {
    size_t comma = spec.find(',', start);
    if (comma == std::string_view::npos) comma = spec.size();
    const std::string_view part = spec.substr(start, comma - start);
    start = comma + 1;
    if (first) {
      first = false;
      s.role = std::string(part);
      if (SubjectRoleIndex(s.role) < 0) {
        return InvalidArgumentError("unknown subject role '" + s.role +
                                    "' (expected victim, child, suspected-perpetrator, housemate, parent)");
      }
      continue;
    }
    const size_t eq = part.find('=');
    const std::string_view key = part.substr(0, eq);
    const std::string_view value = eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1);
    auto number = [&](int max, int& out) {
      auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), out);
      return !value.empty() && ec == std::errc() && ptr == value.data() + value.size() && out >= 0 && out <= max;
    };
    if (key == "by-source" && eq == std::string_view::npos) {
      s.consent_by_source = true;
    } else if (key == "age" && number(150, s.age_years)) {
    } else if (key == "consent-days-ago" && number(36500, s.consent_days_ago)) {
    } else if (key == "consent" && !value.empty()) {
      size_t p = 0;
      while (p <= value.size()) {
        size_t plus = value.find('+', p);
        if (plus == std::string_view::npos) plus = value.size();
        const std::string_view giver = value.substr(p, plus - p);
        p = plus + 1;
        if (giver == "subject") {
          s.consent_givers |= kGiverSubject;
        } else if (giver == "parents") {
          s.consent_givers |= kGiverParents;
        } else {
          return InvalidArgumentError("unknown consent giver '" + std::string(giver) + "' (expected subject, parents)");
        }
      }
    } else {
      return InvalidArgumentError("cannot read '" + std::string(part) + "' in --subject " + std::string(spec) +
                                  " (expected ROLE[,age=N][,consent=subject+parents][,consent-days-ago=N][,by-source])");
    }
  }
  return s;
}

std::vector<SubjectFacts> SubjectsAt(const std::vector<TestSubject>& subjects, int64_t now_ms) {
  std::vector<SubjectFacts> out;
  for (const TestSubject& t : subjects) {
    SubjectFacts f;
    f.role = t.role;
    f.age_years = t.age_years;
    f.consent_givers = t.consent_givers;
    f.consent_recorded_ms = now_ms - int64_t{t.consent_days_ago} * 86'400'000;
    f.consent_by_source = t.consent_by_source;
    out.push_back(f);
  }
  return out;
}

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
  r.justification_level = justification_level.value_or(AssessJustification(justification, nullptr));
  r.now_ms = now_ms;
  // The case's current phase began acute_hours_ago (default: just now).
  r.acute_phase_since_ms = now_ms - int64_t{acute_hours_ago.value_or(0)} * 3'600'000;
  if (subjects.empty()) {
    SubjectFacts subject;
    if (consent) {
      subject.consent_givers = kGiverSubject;
      subject.consent_recorded_ms = now_ms;
    }
    r.subjects.push_back(subject);
  } else {
    r.subjects = SubjectsAt(subjects, now_ms);
  }
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
    if (t.needs_source_approval && *t.needs_source_approval != d.needs_source_approval) {
      r.mismatches.push_back(std::string("needs_source_approval: expected ") +
                             (*t.needs_source_approval ? "true" : "false") + ", got " +
                             (d.needs_source_approval ? "true" : "false"));
    }
    if (t.retention_from_closure && *t.retention_from_closure != d.obligations.retention_from_closure) {
      r.mismatches.push_back(std::string("retention_from: expected ") +
                             (*t.retention_from_closure ? "closure" : "delivery") + ", got " +
                             (d.obligations.retention_from_closure ? "closure" : "delivery"));
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
