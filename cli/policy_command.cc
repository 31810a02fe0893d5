// `ketenpoort policy check|explain|test|register`: for the privacy officer who
// writes and signs off the sharing policy (docs/policy-language.md), and the
// register of processing activities made from it (cli/policy_register.h).
//
// Exit codes: 0 ok (clean policy, a decision explained, all tests pass);
// 1 a lint error, a test mismatch or any other error; 2 usage.
//
// The SHA-256 of the policy text is computed here (kp_crypto), because the
// policy library itself includes no crypto.
#include <filesystem>

#include <nlohmann/json.hpp>

#include "cli/cli_context.h"
#include "cli/policy_register.h"
#include "core/base/clock.h"
#include "core/base/encoding.h"
#include "core/base/file_util.h"
#include "core/crypto/sha256.h"
#include "policy/policy_loader.h"
#include "policy/policy_test_table.h"

namespace kp::cli {
namespace {

using policy::Decision;

struct PolicyArgs {
  std::string file;
  std::string tests;
  std::string from, to;
  std::vector<std::string> categories;
  std::string purpose, phase, justification, justification_level;
  std::vector<std::string> subjects;  // --subject ROLE[,age=N][,consent=...]...
  int acute_hours_ago = -1;
  bool member = false, consent = false, gatekeeper = false, json = false;
  std::string out, partner;  // register: --out, --partner
  bool draft = false;        // register: --draft
};

std::string Sha256Hex(std::string_view text) { return HexEncode(Sha256String(text)); }

// Loads and lints; on lint errors prints every one and fails.
Result<std::shared_ptr<const policy::Policy>> LoadForCli(const std::string& path, CliContext& ctx) {
  KP_ASSIGN_OR_RETURN(std::string text, ReadFileBounded(path, policy::kMaxPolicyBytes));
  policy::CompileOutput out = policy::CompilePolicy(text, path, Sha256Hex(text));
  if (!out.diagnostics.empty()) {
    ctx.err << policy::FormatDiagnostics(out.diagnostics);
    return InvalidArgumentError(path + ": " + std::to_string(out.diagnostics.size()) +
                                " error(s); the policy is not used");
  }
  return out.policy;
}

nlohmann::json DecisionJson(const Decision& d) {
  nlohmann::json j;
  j["effect"] = std::string(policy::EffectName(d.effect));
  j["rules"] = nlohmann::json::array();
  for (auto id : d.rule_ids) j["rules"].push_back(std::string(id));
  j["legal_bases"] = nlohmann::json::array();
  for (auto id : d.legal_bases) j["legal_bases"].push_back(std::string(id));
  j["reason"] = d.reason;
  j["policy_sha256"] = std::string(d.policy_sha256);
  j["needs_source_approval"] = d.needs_source_approval;
  if (d.effect == policy::Effect::kPermit) {
    nlohmann::json ob;
    ob["fields"] = nlohmann::json::object();
    for (const auto& cf : d.obligations.fields) {
      auto& list = ob["fields"][std::string(cf.category)] = nlohmann::json::array();
      for (auto f : cf.fields) list.push_back(std::string(f));
    }
    ob["retention_days"] = d.obligations.retention_days;
    ob["retention_from"] = d.obligations.retention_from_closure ? "closure" : "delivery";
    ob["no_onward_sharing"] = d.obligations.no_onward_sharing;
    ob["notify_privacy_officer"] = d.obligations.notify_privacy_officer;
    j["obligations"] = ob;
  }
  return j;
}

void PrintDecision(const Decision& d, const policy::Policy& p, std::ostream& out) {
  out << "decision: " << policy::EffectName(d.effect) << "\n";
  out << "reason: " << d.reason << "\n";
  out << "rules:";
  for (auto id : d.rule_ids) out << " " << id;
  out << (d.rule_ids.empty() ? " (none)\n" : "\n");
  if (d.effect == policy::Effect::kPermit) {
    for (auto id : d.legal_bases) {
      for (const auto& b : p.legal_bases()) {
        if (b.id == id) out << "legal basis: " << id << " - " << b.citation << "\n";
      }
    }
    out << "obligations:\n";
    for (const auto& cf : d.obligations.fields) {
      out << "  fields of " << cf.category << ":";
      for (auto f : cf.fields) out << " " << f;
      out << "\n";
    }
    out << "  retention: " << d.obligations.retention_days << " days from "
        << (d.obligations.retention_from_closure ? "the case's closure" : "delivery") << "\n";
    if (d.needs_source_approval) {
      out << "  source approval: the source partner's professional must approve it first (the agent holds it)\n";
    }
    out << "  no onward sharing: " << (d.obligations.no_onward_sharing ? "yes" : "no") << "\n";
    out << "  notify privacy officer: " << (d.obligations.notify_privacy_officer ? "yes" : "no") << "\n";
  }
  out << "policy sha256: " << d.policy_sha256 << "\n";
}

Status RunCheck(const PolicyArgs& a, CliContext& ctx) {
  KP_ASSIGN_OR_RETURN(auto p, LoadForCli(a.file, ctx));
  ctx.out << a.file << ": OK (" << p->rules().size() << " rules, policy sha256 " << p->sha256_hex() << ")\n";
  return OkStatus();
}

// Unknown names are a usage mistake here, not a decision: say so plainly.
Status CheckNames(const policy::Policy& p, const policy::Request& r) {
  auto check = [](int index, std::string_view kind, std::string_view name) -> Status {
    if (index >= 0) return OkStatus();
    return InvalidArgumentError("the policy has no " + std::string(kind) + " '" + std::string(name) + "'");
  };
  KP_RETURN_IF_ERROR(check(p.PartnerIndex(r.from), "partner", r.from));
  KP_RETURN_IF_ERROR(check(p.PartnerIndex(r.to), "partner", r.to));
  if (!r.to_role.empty()) KP_RETURN_IF_ERROR(check(p.RoleIndex(r.to_role), "role", r.to_role));
  for (auto c : r.categories) KP_RETURN_IF_ERROR(check(p.CategoryIndex(c), "category", c));
  KP_RETURN_IF_ERROR(check(p.PurposeIndex(r.purpose), "purpose", r.purpose));
  return check(p.PhaseIndex(r.phase), "phase", r.phase);
}

Status RunExplain(const PolicyArgs& a, CliContext& ctx) {
  KP_ASSIGN_OR_RETURN(auto p, LoadForCli(a.file, ctx));
  policy::Request r;
  r.from = a.from;
  auto slash = a.to.find('/');
  std::string_view to = a.to;
  r.to = to.substr(0, slash);
  if (slash != std::string::npos) r.to_role = to.substr(slash + 1);
  for (const auto& c : a.categories) r.categories.push_back(c);
  r.purpose = a.purpose;
  r.phase = a.phase;
  r.requester_is_member = a.member;
  r.gatekeeper_approved = a.gatekeeper;
  r.now_ms = policy::kDefaultTestNowMs;
  if (a.justification_level.empty()) {
    r.justification_level = policy::AssessJustification(a.justification, nullptr);
  } else if (a.justification_level == "none" || a.justification_level == "text" ||
             a.justification_level == "weighing") {
    r.justification_level = a.justification_level == "weighing" ? policy::Justification::kWeighing
                            : a.justification_level == "text"   ? policy::Justification::kText
                                                                : policy::Justification::kNone;
  } else {
    return InvalidArgumentError("--justification-level must be none, text or weighing");
  }
  r.acute_phase_since_ms = r.now_ms - int64_t{std::max(a.acute_hours_ago, 0)} * 3'600'000;
  std::vector<policy::TestSubject> subjects;
  for (const auto& spec : a.subjects) {
    KP_ASSIGN_OR_RETURN(policy::TestSubject s, policy::ParseSubjectSpec(spec));
    if (a.consent && s.consent_givers == 0) s.consent_givers = policy::kGiverSubject;
    subjects.push_back(std::move(s));
  }
  if (subjects.empty()) {
    policy::SubjectFacts subject;
    if (a.consent) {
      subject.consent_givers = policy::kGiverSubject;
      subject.consent_recorded_ms = r.now_ms;
    }
    r.subjects.push_back(subject);
  } else {
    r.subjects = policy::SubjectsAt(subjects, r.now_ms);
  }
  KP_RETURN_IF_ERROR(CheckNames(*p, r));
  Decision d = p->Decide(r);
  if (a.json) {
    ctx.out << DecisionJson(d).dump(2) << "\n";
  } else {
    PrintDecision(d, *p, ctx.out);
  }
  return OkStatus();
}

Status RunTest(const PolicyArgs& a, CliContext& ctx) {
  KP_ASSIGN_OR_RETURN(auto p, LoadForCli(a.file, ctx));
  KP_ASSIGN_OR_RETURN(std::string text, ReadFileBounded(a.tests, policy::kMaxPolicyBytes));
  KP_ASSIGN_OR_RETURN(policy::TestTable table, policy::ParseTestTable(text, a.tests));
  policy::TestReport report = policy::RunTestTable(*p, table);
  for (const auto& r : report.results) {
    if (r.mismatches.empty()) {
      ctx.out << "PASS " << r.test->name << "\n";
      continue;
    }
    ctx.out << "FAIL " << r.test->name << " (" << a.tests << ":" << r.test->location.line << ":"
            << r.test->location.column << ")\n";
    for (const auto& m : r.mismatches) ctx.out << "  " << m << "\n";
  }
  ctx.out << report.results.size() - static_cast<size_t>(report.failures) << " passed, " << report.failures
          << " failed\n";
  if (report.unreached_rules.empty()) {
    ctx.out << "every rule is reached by a test\n";
  } else {
    ctx.out << "rules no test reaches:";
    for (const auto& id : report.unreached_rules) ctx.out << " " << id;
    ctx.out << "\n";
  }
  if (report.failures > 0) {
    return InvalidArgumentError(std::to_string(report.failures) + " policy test(s) failed");
  }
  return OkStatus();
}

// The register of processing activities (cli/policy_register.h), written
// whole or not at all: a policy that does not load, an unknown partner or a
// partner without its controller writes no file.
Status RunRegister(const PolicyArgs& a, CliContext& ctx) {
  KP_ASSIGN_OR_RETURN(auto p, LoadForCli(a.file, ctx));
  RegisterOptions options;
  options.generated_at_millis = SystemClock::Get().NowMillis();
  options.partner = a.partner;
  options.draft = a.draft;
  KP_ASSIGN_OR_RETURN(std::string html, RenderPolicyRegister(*p, options));
  std::error_code same_error;
  if (std::filesystem::equivalent(a.out, a.file, same_error)) {
    return InvalidArgumentError("--out " + a.out + " is the policy file itself; name another file");
  }
  KP_RETURN_IF_ERROR(WriteFileDurable(a.out, html, 0644, WriteMode::kReplace));
  const auto missing = PartnersWithoutController(*p, a.partner);
  if (!missing.empty()) {
    ctx.err << "warning: a DRAFT, marked incomplete: no controller for";
    for (const auto& m : missing) ctx.err << " " << m;
    ctx.err << "\n";
  }
  ctx.out << "wrote " << a.out << ": register of processing activities of policy " << p->id() << " (sha256 "
          << p->sha256_hex() << ")" << (a.partner.empty() ? "" : ", partner " + a.partner)
          << (missing.empty() ? "" : ", DRAFT") << "\n";
  return OkStatus();
}

}  // namespace

void RegisterPolicyBundleCommands(CLI::App& group, CliContext& ctx);  // policy_bundle_command.cc

void RegisterPolicyCommand(CLI::App& app, CliContext& ctx) {
  CLI::App* group = app.add_subcommand("policy", "Check, explain and test a sharing policy");
  group->require_subcommand(1);
  auto add = [&](const std::string& name, const std::string& help,
                 Status (*run)(const PolicyArgs&, CliContext&)) {
    auto a = std::make_shared<PolicyArgs>();
    CLI::App* cmd = group->add_subcommand(name, help);
    cmd->add_option("file", a->file, "Policy file (YAML)")->required();
    cmd->callback([a, &ctx, run] {
      Status s = run(*a, ctx);
      if (!s.ok()) {
        ctx.Fail(s);
        ctx.exit_code = kExitError;  // this command uses only 0, 1 and 2
      }
    });
    return std::make_pair(cmd, a);
  };
  add("check", "Lint a policy; list every error with file:line:column", RunCheck);
  {
    auto [cmd, a] = add("explain", "Decide one request and explain the decision", RunExplain);
    cmd->add_option("--from", a->from, "Sending partner")->required();
    cmd->add_option("--to", a->to, "Receiving partner, optionally PARTNER/ROLE")->required();
    cmd->add_option("--category", a->categories, "Data category (repeatable)")->required();
    cmd->add_option("--purpose", a->purpose, "Purpose of the request")->required();
    cmd->add_option("--phase", a->phase, "Current phase of the case")->required();
    cmd->add_flag("--member", a->member, "The recipient is a member of the case");
    cmd->add_flag("--consent", a->consent, "Consent is recorded for the subject and purpose");
    cmd->add_flag("--gatekeeper", a->gatekeeper, "A gatekeeper's approval is recorded");
    cmd->add_option("--justification", a->justification, "The written justification (assessed as the agent does)");
    cmd->add_option("--justification-level", a->justification_level,
                    "The justification's level instead: none, text or weighing (a complete weighing)");
    cmd->add_option("--subject", a->subjects,
                    "A subject of the request (repeatable): ROLE[,age=N][,consent=subject+parents]"
                    "[,consent-days-ago=N][,by-source]");
    cmd->add_option("--acute-hours-ago", a->acute_hours_ago,
                    "The case's current acute phase began this many hours ago (within_hours_of_acute)");
    cmd->add_flag("--json", a->json, "Print the decision as JSON");
  }
  {
    auto [cmd, a] = add("test", "Run a policy's test table; list rules no test reaches", RunTest);
    cmd->add_option("tests", a->tests, "Test table (YAML)")->required();
  }
  {
    auto [cmd, a] = add("register", "Write the register of processing activities (AVG art. 30) as HTML", RunRegister);
    cmd->add_option("--out", a->out, "The HTML file to write (replaced whole)")->required();
    cmd->add_option("--partner", a->partner, "Only this partner's part: what it discloses and receives");
    cmd->add_flag("--draft", a->draft, "Write it even when a partner has no controller, marked as an incomplete draft");
  }
  RegisterPolicyBundleCommands(*group, ctx);  // sign, show-bundle (policy_bundle_command.cc)
}

}  // namespace kp::cli
