// The coordinator's commands (docs/cli.md, "Coordinator"):
//   ketenpoort case open|admit|phase|consent|gatekeeper|close|list|show
//   ketenpoort request CASE --from PARTNER --category C ... --purpose P
//   ketenpoort inbox [--case CASE]
//   ketenpoort purge
// Each finds its client configuration through --config or KETENPOORT_CONFIG,
// removes expired fragments from the local store, and exits with the codes
// of cli_context.h: 3 when policy refused, 4 when the gateway could not be
// reached or did not answer in time (a request then says whether the gateway
// accepted it), 5 when an answer did not verify.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <iomanip>
#include <map>
#include <nlohmann/json.hpp>

#include "case/case_chain.h"
#include "cli/cli_context.h"
#include "client/coordinator.h"
#include "core/base/encoding.h"
#include "core/base/file_util.h"
#include "core/base/time_format.h"

namespace kp::cli {
namespace {

namespace v1 = ketenpoort::v1;
using client::Coordinator;
using client::Outcome;

constexpr size_t kMaxSubjectFileBytes = 64 * 1024;

// ----------------------------------------------------------------- helpers

Result<std::unique_ptr<Coordinator>> OpenCoordinator(const std::string& config_flag, bool connect) {
  KP_ASSIGN_OR_RETURN(client::ClientConfig config, client::LoadClientConfig(config_flag));
  KP_ASSIGN_OR_RETURN(auto c, Coordinator::Open(config, SystemClock::Get()));
  if (connect) KP_RETURN_IF_ERROR(c->Connect());
  return c;
}

std::string RoleName(v1::SubjectRole role) {
  switch (role) {
    case v1::SUBJECT_ROLE_VICTIM: return "victim";
    case v1::SUBJECT_ROLE_CHILD: return "child";
    case v1::SUBJECT_ROLE_SUSPECTED_PERPETRATOR: return "suspected-perpetrator";
    case v1::SUBJECT_ROLE_HOUSEMATE: return "housemate";
    default: return "unknown";
  }
}

Result<v1::SubjectRole> ParseRole(const std::string& s) {
  static const std::map<std::string, v1::SubjectRole> kRoles = {
      {"victim", v1::SUBJECT_ROLE_VICTIM},
      {"slachtoffer", v1::SUBJECT_ROLE_VICTIM},
      {"child", v1::SUBJECT_ROLE_CHILD},
      {"kind", v1::SUBJECT_ROLE_CHILD},
      {"suspected-perpetrator", v1::SUBJECT_ROLE_SUSPECTED_PERPETRATOR},
      {"pleger", v1::SUBJECT_ROLE_SUSPECTED_PERPETRATOR},
      {"housemate", v1::SUBJECT_ROLE_HOUSEMATE},
      {"huisgenoot", v1::SUBJECT_ROLE_HOUSEMATE},
  };
  auto it = kRoles.find(s);
  if (it == kRoles.end()) {
    return InvalidArgumentError("unknown subject role '" + s +
                                "' (use victim, child, suspected-perpetrator or housemate)");
  }
  return it->second;
}

// ROLE:FILE, the file holding bsn, name and date_of_birth (YAML or JSON).
// Error messages name the file and the key, never a value.
Result<v1::Subject> LoadSubject(const std::string& arg) {
  const size_t colon = arg.find(':');
  if (colon == std::string::npos) return InvalidArgumentError("--subject takes ROLE:FILE, e.g. victim:s1.yaml");
  KP_ASSIGN_OR_RETURN(v1::SubjectRole role, ParseRole(arg.substr(0, colon)));
  const std::string path = arg.substr(colon + 1);
  KP_ASSIGN_OR_RETURN(std::string text, ReadFileBounded(path, kMaxSubjectFileBytes));
  v1::Subject s;
  s.set_role(role);
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError(path + ":" + std::to_string(e.mark.line + 1) + ": not valid YAML or JSON");
  }
  if (!root.IsMap()) return InvalidArgumentError(path + ": expected bsn, name and date_of_birth");
  for (const auto& kv : root) {
    const std::string key = kv.first.Scalar();
    if (!kv.second.IsScalar()) return InvalidArgumentError(path + ": " + key + " must be a single value");
    const std::string v = kv.second.Scalar();
    if (key == "bsn") s.set_bsn(v);
    else if (key == "name") s.set_name(v);
    else if (key == "date_of_birth") s.set_date_of_birth(v);
    else if (key == "ref") s.set_ref(v);
    else {
      // The key is shown only when it looks like a key: a misplaced value
      // (a BSN, a name) must not end up in an error message.
      const bool plain = !key.empty() && key.size() <= 32 &&
                         std::all_of(key.begin(), key.end(), [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; });
      return InvalidArgumentError(path + ": " + (plain ? "unknown key '" + key + "'" : std::string("a key that is not known")) +
                                  " (the keys are bsn, name, date_of_birth, ref)");
    }
  }
  if (s.bsn().empty() && s.name().empty()) return InvalidArgumentError(path + ": give at least a bsn or a name");
  if (!s.bsn().empty() &&
      (s.bsn().size() != 9 || !std::all_of(s.bsn().begin(), s.bsn().end(), [](char c) { return c >= '0' && c <= '9'; }))) {
    return InvalidArgumentError(path + ": bsn must be 9 digits");
  }
  if (!s.date_of_birth().empty() && !ParseDateEndOfDayUtc(s.date_of_birth()).ok()) {
    return InvalidArgumentError(path + ": date_of_birth must be YYYY-MM-DD");
  }
  return s;
}

void PrintResult(CliContext& ctx, const std::string& what, const v1::CaseResult& r) {
  ctx.out << what << " (phase " << r.phase() << ", audit #" << r.audit_index() << ")\n";
}

// Prints one fragment as a table per category: a column per field.
void PrintFragment(std::ostream& out, const Outcome& o) {
  out << "fragment from " << o.signer << ", signed " << FormatUtcMillis(o.signed_ms) << ", case " << o.case_id
      << ", keep until " << FormatUtcDate(o.retain_until_ms) << "\n";
  for (const auto& cat : o.content.categories()) {
    out << "  " << cat.category() << ": " << cat.records_size() << " record(s)\n";
    if (cat.records().empty()) continue;
    std::vector<std::string> columns = {"subject"};
    for (const auto& rec : cat.records()) {
      for (const auto& fv : rec.values()) {
        if (std::find(columns.begin(), columns.end(), fv.field()) == columns.end()) columns.push_back(fv.field());
      }
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& rec : cat.records()) {
      std::vector<std::string> row(columns.size(), "-");
      row[0] = rec.subject_ref();
      for (const auto& fv : rec.values()) {
        auto at = std::find(columns.begin(), columns.end(), fv.field()) - columns.begin();
        row[static_cast<size_t>(at)] = fv.value();
      }
      rows.push_back(std::move(row));
    }
    std::vector<size_t> width(columns.size());
    for (size_t i = 0; i < columns.size(); ++i) {
      width[i] = columns[i].size();
      for (const auto& row : rows) width[i] = std::max(width[i], row[i].size());
    }
    auto line = [&](const std::vector<std::string>& cells) {
      out << "    ";
      for (size_t i = 0; i < cells.size(); ++i) {
        if (i + 1 < cells.size()) out << std::left << std::setw(static_cast<int>(width[i] + 2)) << cells[i];
        else out << cells[i];
      }
      out << "\n";
    };
    line(columns);
    for (const auto& row : rows) line(row);
  }
}

nlohmann::json OutcomeJson(const Outcome& o) {
  nlohmann::json j;
  j["request_id"] = HexEncode(o.request_id);
  j["case_id"] = o.case_id;
  j["signed_by"] = o.signer;
  j["signed_at"] = FormatUtcMillis(o.signed_ms);
  switch (o.kind) {
    case Outcome::Kind::kDelivered: {
      j["result"] = "delivered";
      j["retain_until"] = FormatUtcDate(o.retain_until_ms);
      nlohmann::json cats = nlohmann::json::object();
      for (const auto& cat : o.content.categories()) {
        nlohmann::json records = nlohmann::json::array();
        for (const auto& rec : cat.records()) {
          nlohmann::json r;
          r["subject"] = rec.subject_ref();
          for (const auto& fv : rec.values()) r[fv.field()] = fv.value();
          records.push_back(r);
        }
        cats[cat.category()] = records;
      }
      j["categories"] = cats;
      break;
    }
    case Outcome::Kind::kRefused:
      j["result"] = "refused";
      j["refused_by"] = o.refusal.refused_by() == v1::REFUSED_BY_AGENT ? "agent" : "gateway";
      j["reason"] = o.refusal.reason();
      j["rules"] = std::vector<std::string>(o.refusal.rule_ids().begin(), o.refusal.rule_ids().end());
      break;
    case Outcome::Kind::kError:
      j["result"] = "error";
      j["error"] = o.error.message();
      break;
  }
  return j;
}

// Prints an outcome; returns the exit code it stands for.
int Report(CliContext& ctx, const Outcome& o, bool json) {
  if (json) {
    ctx.out << OutcomeJson(o).dump(2) << "\n";
  } else if (o.kind == Outcome::Kind::kDelivered) {
    PrintFragment(ctx.out, o);
  } else if (o.kind == Outcome::Kind::kRefused) {
    ctx.out << "refused by " << (o.refusal.refused_by() == v1::REFUSED_BY_AGENT ? "the partner's agent " : "")
            << o.signer << ": " << o.refusal.reason();
    if (!o.refusal.rule_ids().empty()) {
      ctx.out << " (rules:";
      for (const auto& r : o.refusal.rule_ids()) ctx.out << " " << r;
      ctx.out << ")";
    }
    ctx.out << "\n";
  }
  if (o.kind == Outcome::Kind::kRefused) return kExitRefused;
  if (o.kind == Outcome::Kind::kError) {
    CliContext quiet{ctx.out, ctx.err};
    quiet.Fail(o.error);
    return quiet.exit_code;
  }
  return kExitOk;
}

// Runs `body`; a failed Status becomes an error message and exit code.
template <typename F>
std::function<void()> Guard(CliContext& ctx, F body) {
  return [&ctx, body] {
    Status s = body();
    if (!s.ok()) ctx.Fail(s);
  };
}

// ------------------------------------------------------------------- case

struct CaseArgs {
  std::string config;
  std::string case_id;
  std::string purpose;
  std::vector<std::string> subjects;
  std::vector<std::string> partners;
  std::string phase;
  std::string subject_ref;
  std::string until;
  std::string partner;
  std::vector<std::string> categories;
  std::string reason = "afgerond";
  bool content = false;
  bool withdraw = false;
};

void AddConfig(CLI::App* cmd, std::string& config) {
  cmd->add_option("--config", config, "Client configuration file (default: $KETENPOORT_CONFIG)");
}

void RegisterCase(CLI::App& app, CliContext& ctx) {
  auto a = std::make_shared<CaseArgs>();
  CLI::App* group = app.add_subcommand("case", "Open and manage cases (as their coordinator)");
  group->require_subcommand(1);

  CLI::App* open = group->add_subcommand("open", "Open a case; subject data stays on this machine");
  AddConfig(open, a->config);
  open->add_option("--purpose", a->purpose, "Purpose id from the policy, e.g. plan-van-aanpak")->required();
  open->add_option("--subject", a->subjects,
                   "ROLE:FILE, once per subject; ROLE is victim, child, suspected-perpetrator or housemate; "
                   "FILE (YAML/JSON) holds bsn, name, date_of_birth");
  open->callback(Guard(ctx, [a, &ctx]() -> Status {
    std::vector<v1::Subject> subjects;
    for (const auto& arg : a->subjects) {
      KP_ASSIGN_OR_RETURN(v1::Subject s, LoadSubject(arg));
      subjects.push_back(std::move(s));
    }
    KP_ASSIGN_OR_RETURN(auto c, OpenCoordinator(a->config, true));
    KP_ASSIGN_OR_RETURN(v1::CaseResult r, c->OpenCase(a->purpose, subjects));
    PrintResult(ctx, "case " + r.case_id() + " opened", r);
    KP_ASSIGN_OR_RETURN(auto stored, c->store().Subjects(r.case_id()));
    for (const auto& s : stored) ctx.out << "  " << s.ref() << "  " << RoleName(s.role()) << "\n";
    ctx.out << r.case_id() << "\n";
    return OkStatus();
  }));

  CLI::App* admit = group->add_subcommand("admit", "Admit partners to a case");
  AddConfig(admit, a->config);
  admit->add_option("case", a->case_id, "Case id")->required();
  admit->add_option("partners", a->partners, "Partner ids from the policy")->required();
  admit->callback(Guard(ctx, [a, &ctx]() -> Status {
    KP_ASSIGN_OR_RETURN(auto c, OpenCoordinator(a->config, true));
    for (const auto& p : a->partners) {
      KP_ASSIGN_OR_RETURN(v1::CaseResult r, c->Admit(a->case_id, p));
      PrintResult(ctx, p + " admitted to " + a->case_id, r);
    }
    return OkStatus();
  }));

  CLI::App* phase = group->add_subcommand("phase", "Move a case to another phase");
  AddConfig(phase, a->config);
  phase->add_option("case", a->case_id, "Case id")->required();
  phase->add_option("phase", a->phase, "Phase id from the policy")->required();
  phase->callback(Guard(ctx, [a, &ctx]() -> Status {
    KP_ASSIGN_OR_RETURN(auto c, OpenCoordinator(a->config, true));
    KP_ASSIGN_OR_RETURN(v1::CaseResult r, c->ChangePhase(a->case_id, a->phase));
    PrintResult(ctx, a->case_id + " is now in phase " + r.phase(), r);
    return OkStatus();
  }));

  CLI::App* add = group->add_subcommand("add-subject", "Add a subject to a case; its data stays on this machine");
  AddConfig(add, a->config);
  add->add_option("case", a->case_id, "Case id")->required();
  add->add_option("--subject", a->subjects,
                  "ROLE:FILE; ROLE is victim, child, suspected-perpetrator or housemate; FILE (YAML/JSON) holds bsn, "
                  "name, date_of_birth")
      ->required()
      ->expected(1);
  add->callback(Guard(ctx, [a, &ctx]() -> Status {
    KP_ASSIGN_OR_RETURN(v1::Subject s, LoadSubject(a->subjects.front()));
    const v1::SubjectRole role = s.role();
    KP_ASSIGN_OR_RETURN(auto c, OpenCoordinator(a->config, true));
    KP_ASSIGN_OR_RETURN(auto before, c->store().Subjects(a->case_id));
    KP_ASSIGN_OR_RETURN(v1::CaseResult r, c->AddSubject(a->case_id, std::move(s)));
    KP_ASSIGN_OR_RETURN(auto after, c->store().Subjects(a->case_id));
    const std::string ref = after.size() > before.size() ? after.back().ref() : std::string("?");
    for (auto* list : {&before, &after}) {
      for (auto& k : *list) client::WipeSubject(&k);
    }
    PrintResult(ctx, "subject " + ref + " (" + RoleName(role) + ") added to " + a->case_id, r);
    return OkStatus();
  }));

  CLI::App* consent = group->add_subcommand("consent", "Record a subject's explicit consent for a purpose, or its withdrawal");
  AddConfig(consent, a->config);
  consent->add_option("case", a->case_id, "Case id")->required();
  consent->add_option("--subject", a->subject_ref, "Subject reference, e.g. S1")->required();
  consent->add_option("--purpose", a->purpose, "Purpose id")->required();
  consent->add_option("--until", a->until, "Last day the consent holds (YYYY-MM-DD)");
  consent->add_flag("--withdraw", a->withdraw, "The subject withdraws the consent given for this purpose");
  consent->callback(Guard(ctx, [a, &ctx]() -> Status {
    if (a->withdraw) {
      if (!a->until.empty()) return InvalidArgumentError("--withdraw takes no --until");
      KP_ASSIGN_OR_RETURN(auto c, OpenCoordinator(a->config, true));
      KP_ASSIGN_OR_RETURN(v1::CaseResult r, c->WithdrawConsent(a->case_id, a->subject_ref, a->purpose));
      PrintResult(ctx, "consent of " + a->subject_ref + " for " + a->purpose + " withdrawn", r);
      return OkStatus();
    }
    if (a->until.empty()) return InvalidArgumentError("give --until YYYY-MM-DD (or --withdraw)");
    KP_ASSIGN_OR_RETURN(int64_t until, ParseDateEndOfDayUtc(a->until));
    KP_ASSIGN_OR_RETURN(auto c, OpenCoordinator(a->config, true));
    KP_ASSIGN_OR_RETURN(v1::CaseResult r, c->RecordConsent(a->case_id, a->subject_ref, a->purpose, until));
    PrintResult(ctx, "consent of " + a->subject_ref + " for " + a->purpose + " recorded until " + a->until, r);
    return OkStatus();
  }));

  CLI::App* gate = group->add_subcommand("gatekeeper", "Record a gatekeeper's approval (conflict of duties)");
  AddConfig(gate, a->config);
  gate->add_option("case", a->case_id, "Case id")->required();
  gate->add_option("--partner", a->partner, "Source partner")->required();
  gate->add_option("--category", a->categories, "Data category (repeat)")->required();
  gate->add_option("--purpose", a->purpose, "Purpose id")->required();
  gate->add_option("--until", a->until, "Last day the approval holds (YYYY-MM-DD)")->required();
  gate->callback(Guard(ctx, [a, &ctx]() -> Status {
    KP_ASSIGN_OR_RETURN(int64_t until, ParseDateEndOfDayUtc(a->until));
    KP_ASSIGN_OR_RETURN(auto c, OpenCoordinator(a->config, true));
    KP_ASSIGN_OR_RETURN(v1::CaseResult r,
                        c->RecordGatekeeperApproval(a->case_id, a->partner, a->categories, a->purpose, until));
    PrintResult(ctx, "gatekeeper approval for " + a->partner + " recorded until " + a->until, r);
    return OkStatus();
  }));

  CLI::App* close = group->add_subcommand("close", "Close a case: no further requests are permitted");
  AddConfig(close, a->config);
  close->add_option("case", a->case_id, "Case id")->required();
  close->add_option("--reason", a->reason, "Reason code, no free text (default: afgerond)");
  close->callback(Guard(ctx, [a, &ctx]() -> Status {
    KP_ASSIGN_OR_RETURN(auto c, OpenCoordinator(a->config, true));
    KP_ASSIGN_OR_RETURN(v1::CaseResult r, c->Close(a->case_id, a->reason));
    PrintResult(ctx, a->case_id + " closed", r);
    return OkStatus();
  }));

  CLI::App* sync = group->add_subcommand(
      "sync", "Fetch a case's signed history from the gateway and check it (done by itself when unsure)");
  AddConfig(sync, a->config);
  sync->add_option("case", a->case_id, "Case id")->required();
  sync->callback(Guard(ctx, [a, &ctx]() -> Status {
    KP_ASSIGN_OR_RETURN(auto c, OpenCoordinator(a->config, true));
    KP_ASSIGN_OR_RETURN(cases::CaseFacts f, c->SyncCase(a->case_id));
    ctx.out << "case " << a->case_id << ": " << f.length << " command(s), every one signed by " << f.coordinator
            << " and in order; head " << HexEncode(f.head).substr(0, 16) << (f.closed ? "  [closed]" : "") << "\n";
    return OkStatus();
  }));

  CLI::App* list = group->add_subcommand("list", "List the cases in this coordinator's store");
  AddConfig(list, a->config);
  list->callback(Guard(ctx, [a, &ctx]() -> Status {
    KP_ASSIGN_OR_RETURN(auto c, OpenCoordinator(a->config, false));
    KP_ASSIGN_OR_RETURN(auto cases, c->store().ListCases());
    if (cases.empty()) ctx.out << "no cases\n";
    for (const auto& k : cases) {
      KP_ASSIGN_OR_RETURN(auto reqs, c->store().Requests(k.id));
      ctx.out << std::left << std::setw(14) << k.id << "  " << std::setw(20) << k.phase << "  " << std::setw(22)
              << k.purpose << "  opened " << FormatUtcDate(k.opened_ms) << "  " << k.partners.size()
              << " partner(s), " << reqs.size() << " request(s)" << (k.closed ? "  [closed]" : "") << "\n";
    }
    return OkStatus();
  }));

  CLI::App* show = group->add_subcommand("show", "Show a case: partners, subjects, requests, fragments");
  AddConfig(show, a->config);
  show->add_option("case", a->case_id, "Case id")->required();
  show->add_flag("--content", a->content, "Also print the content of every fragment kept");
  show->callback(Guard(ctx, [a, &ctx]() -> Status {
    KP_ASSIGN_OR_RETURN(auto c, OpenCoordinator(a->config, false));
    KP_ASSIGN_OR_RETURN(client::CaseInfo k, c->store().GetCase(a->case_id));
    ctx.out << "case " << k.id << (k.closed ? " (closed)" : "") << "\n  purpose  " << k.purpose << "\n  phase    "
            << k.phase << "\n  opened   " << FormatUtcMillis(k.opened_ms) << "\n  partners ";
    for (size_t i = 0; i < k.partners.size(); ++i) ctx.out << (i ? " " : "") << k.partners[i];
    ctx.out << "\n  subjects\n";
    KP_ASSIGN_OR_RETURN(auto subjects, c->store().Subjects(k.id));
    for (const auto& s : subjects) {
      ctx.out << "    " << s.ref() << "  " << std::left << std::setw(22) << RoleName(s.role()) << s.name() << "\n";
    }
    KP_ASSIGN_OR_RETURN(auto chain, c->store().Chain(k.id));
    KP_ASSIGN_OR_RETURN(auto head, c->store().ChainHead(k.id));
    ctx.out << "  history (signed commands" << (head.unsure ? "; not yet checked against the gateway" : "") << ")\n";
    for (const auto& e : chain) {
      auto cmd = cases::ParseVerifiedCommand(e);
      if (!cmd.ok()) continue;
      ctx.out << "    " << std::right << std::setw(3) << cmd->command.sequence() << std::left << "  "
              << FormatUtcMillis(cmd->signed_ms) << "  " << std::setw(17) << cases::CommandName(cmd->command)
              << std::setw(44) << cases::CommandSummary(cmd->command) << cmd->signer << "  "
              << HexEncode(cmd->hash).substr(0, 12) << "\n";
    }
    KP_ASSIGN_OR_RETURN(auto reqs, c->store().Requests(k.id));
    ctx.out << "  requests\n";
    for (const auto& r : reqs) {
      ctx.out << "    " << HexEncode(r.request_id).substr(0, 12) << "  " << FormatUtcMillis(r.sent_ms) << "  "
              << std::setw(18) << r.partner << std::setw(11) << client::RequestStateName(r.state);
      for (size_t i = 0; i < r.categories.size(); ++i) ctx.out << (i ? "," : "") << r.categories[i];
      if (!r.refusal.empty()) ctx.out << "  (" << r.refusal << ")";
      ctx.out << "\n";
    }
    KP_ASSIGN_OR_RETURN(auto fragments, c->store().Fragments(k.id));
    ctx.out << "  fragments kept: " << fragments.size() << "\n";
    for (const auto& f : fragments) {
      auto o = c->ReadFragment(f);
      if (!o.ok()) {
        ctx.out << "    " << HexEncode(f.request_id).substr(0, 12) << "  DOES NOT VERIFY: " << o.status().message()
                << "\n";
        ctx.exit_code = kExitVerification;
        continue;
      }
      ctx.out << "    " << HexEncode(f.request_id).substr(0, 12) << "  from " << f.source << ", keep until "
              << FormatUtcDate(f.retain_until_ms) << "\n";
      if (a->content) PrintFragment(ctx.out, *o);
    }
    return OkStatus();
  }));
}

// ----------------------------------------------------------------- request

struct RequestArgs {
  std::string config;
  std::string case_id;
  std::string from;
  std::vector<std::string> categories;
  std::string purpose;
  std::vector<std::string> subjects;
  std::string justification;
  std::string resend;
  int wait_s = 30;
  bool json = false;
};

// After the wait for an answer ran out, or the gateway could not take the
// request: says truthfully whether the gateway holds it (then its answer
// comes to the inbox) or not (then it must be sent again). Exit code 4.
void ReportNoAnswer(CliContext& ctx, Coordinator& c, const std::string& id, const std::string& why) {
  auto request = c.store().GetRequest(id);
  const bool accepted = request.ok() && request->has_value() && (*request)->accepted;
  ctx.err << "request " << HexEncode(id) << ": ";
  if (accepted) {
    ctx.err << "accepted by the gateway; no answer yet. The answer will come to your inbox: fetch it with "
               "`ketenpoort inbox`.\n";
  } else {
    ctx.err << "NOT accepted by the gateway (" << why << "). Send it again with "
            << "`ketenpoort request --resend " << HexEncode(id) << "`.\n";
  }
  ctx.exit_code = kExitUnavailable;
}

Status AwaitAndReport(CliContext& ctx, Coordinator& c, const std::string& id, int wait_s, bool json) {
  auto o = c.AwaitOutcome(id, wait_s * 1000);
  if (!o.ok()) {
    if (o.status().code() != StatusCode::kDeadlineExceeded) return o.status();
    ReportNoAnswer(ctx, c, id, "no confirmation came within " + std::to_string(wait_s) + " s");
    return OkStatus();
  }
  if (o->kind == Outcome::Kind::kError &&
      (o->error.code() == StatusCode::kUnavailable || o->error.code() == StatusCode::kResourceExhausted)) {
    ReportNoAnswer(ctx, c, id, o->error.message());  // the gateway could not take it now: nothing was done
    return OkStatus();
  }
  ctx.exit_code = Report(ctx, *o, json);
  return OkStatus();
}

void RegisterRequest(CLI::App& app, CliContext& ctx) {
  auto a = std::make_shared<RequestArgs>();
  CLI::App* cmd = app.add_subcommand("request", "Ask a partner for a case fragment and wait for the answer");
  AddConfig(cmd, a->config);
  cmd->add_option("case", a->case_id, "Case id");
  cmd->add_option("--from", a->from, "Partner asked, e.g. politie");
  cmd->add_option("--category", a->categories, "Data category (repeat)");
  cmd->add_option("--purpose", a->purpose, "Purpose id");
  cmd->add_option("--resend", a->resend,
                  "Send a waiting request again (its id, as printed): for one the gateway did not accept");
  cmd->add_option("--subject", a->subjects, "Subject reference (repeat; default: every subject of the case)");
  cmd->add_option("--justification", a->justification,
                  "Written grounds, sealed to the partner (required by some rules, e.g. acute danger)");
  cmd->add_option("--wait", a->wait_s, "Seconds to wait for the answer (default 30; 0: do not wait)");
  cmd->add_flag("--json", a->json, "Print the answer as JSON");
  cmd->callback(Guard(ctx, [a, &ctx]() -> Status {
    if (!a->resend.empty()) {
      auto id = HexDecode(a->resend);
      if (!id.ok() || id->size() != 16) {
        return InvalidArgumentError("--resend takes a request id: 32 hexadecimal characters");
      }
      KP_ASSIGN_OR_RETURN(auto c, OpenCoordinator(a->config, true));
      KP_RETURN_IF_ERROR(c->Resend(*id));
      ctx.err << "request " << a->resend << " sent again\n";
      return AwaitAndReport(ctx, *c, *id, std::max(a->wait_s, 1), a->json);
    }
    if (a->case_id.empty() || a->from.empty() || a->categories.empty() || a->purpose.empty()) {
      return InvalidArgumentError("a request needs a case, --from, --category and --purpose (or --resend ID)");
    }
    KP_ASSIGN_OR_RETURN(auto c, OpenCoordinator(a->config, true));
    client::RequestSpec spec{a->case_id, a->from, a->categories, a->purpose, a->subjects, a->justification};
    KP_ASSIGN_OR_RETURN(std::string id, c->SendRequest(spec));
    ctx.err << "request " << HexEncode(id) << " sent to " << a->from << "\n";
    if (a->wait_s <= 0) {
      ctx.out << HexEncode(id) << "\n";
      return OkStatus();
    }
    return AwaitAndReport(ctx, *c, id, a->wait_s, a->json);
  }));
}

struct InboxArgs {
  std::string config;
  std::string case_id;
  bool json = false;
};

void RegisterInbox(CLI::App& app, CliContext& ctx) {
  auto a = std::make_shared<InboxArgs>();
  CLI::App* cmd = app.add_subcommand("inbox", "Fetch the answers that arrived while you were away");
  AddConfig(cmd, a->config);
  cmd->add_option("--case", a->case_id, "Only this case");
  cmd->add_flag("--json", a->json, "Print the answers as JSON");
  cmd->callback(Guard(ctx, [a, &ctx]() -> Status {
    KP_ASSIGN_OR_RETURN(auto c, OpenCoordinator(a->config, true));
    KP_ASSIGN_OR_RETURN(auto outcomes, c->FetchInbox(a->case_id));
    if (outcomes.empty() && !a->json) ctx.out << "nothing new\n";
    int worst = kExitOk;
    for (const auto& o : outcomes) {
      if (!a->json) ctx.out << "request " << HexEncode(o.request_id) << ":\n";
      int rc = Report(ctx, o, a->json);
      // A refusal is news, not a failure of this command; a bad answer is.
      if (rc != kExitOk && rc != kExitRefused) worst = rc;
    }
    ctx.exit_code = worst;
    return OkStatus();
  }));
}

void RegisterPurge(CLI::App& app, CliContext& ctx) {
  auto config = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("purge", "Remove fragments whose retention date has passed");
  AddConfig(cmd, *config);
  cmd->callback(Guard(ctx, [config, &ctx]() -> Status {
    KP_ASSIGN_OR_RETURN(client::ClientConfig cc, client::LoadClientConfig(*config));
    // Open() already purges; report what that removed.
    KP_ASSIGN_OR_RETURN(auto c, Coordinator::Open(cc, SystemClock::Get()));
    KP_ASSIGN_OR_RETURN(auto fragments, c->store().Fragments(""));
    ctx.out << "expired fragments removed; " << fragments.size() << " fragment(s) kept\n";
    return OkStatus();
  }));
}

}  // namespace

void RegisterCoordinatorCommands(CLI::App& app, CliContext& ctx) {
  RegisterCase(app, ctx);
  RegisterRequest(app, ctx);
  RegisterInbox(app, ctx);
  RegisterPurge(app, ctx);
}

}  // namespace kp::cli
