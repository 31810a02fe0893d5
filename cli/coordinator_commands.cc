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
#include "case/consent.h"
#include "case/subject_role.h"
#include "cli/cli_context.h"
#include "client/coordinator.h"
#include "client/read_log.h"
#include "core/base/encoding.h"
#include "core/base/file_util.h"
#include "core/base/time_format.h"
#include "core/crypto/secret_bytes.h"
#include "core/identity/passphrase_prompt.h"

namespace kp::cli {
namespace {

namespace v1 = ketenpoort::v1;
using client::Coordinator;
using client::Outcome;

constexpr size_t kMaxSubjectFileBytes = 64 * 1024;

// ----------------------------------------------------------------- helpers

std::string RoleName(v1::SubjectRole role) {
  const std::string_view id = cases::SubjectRoleId(role);
  return id.empty() ? "unknown" : std::string(id);
}

// A role's id, or its Dutch word (slachtoffer, kind, pleger, huisgenoot, ouder).
Result<v1::SubjectRole> ParseRole(const std::string& s) {
  static const std::map<std::string, v1::SubjectRole> kDutch = {
      {"slachtoffer", v1::SUBJECT_ROLE_VICTIM},
      {"kind", v1::SUBJECT_ROLE_CHILD},
      {"pleger", v1::SUBJECT_ROLE_SUSPECTED_PERPETRATOR},
      {"huisgenoot", v1::SUBJECT_ROLE_HOUSEMATE},
      {"ouder", v1::SUBJECT_ROLE_PARENT},
  };
  const v1::SubjectRole role = cases::SubjectRoleFromId(s);
  if (role != v1::SUBJECT_ROLE_UNSPECIFIED) return role;
  auto it = kDutch.find(s);
  if (it == kDutch.end()) {
    return InvalidArgumentError("unknown subject role '" + s +
                                "' (use victim, child, suspected-perpetrator, housemate or parent)");
  }
  return it->second;
}

// One subject's map (bsn, name, date_of_birth, ref; and role when `role`
// is unspecified) from `path`. Error messages name the file and the key,
// never a value.
Result<v1::Subject> SubjectFromNode(const std::string& path, const YAML::Node& root, v1::SubjectRole role) {
  v1::Subject s;
  s.set_role(role);
  if (!root.IsMap()) return InvalidArgumentError(path + ": expected bsn, name and date_of_birth");
  for (const auto& kv : root) {
    const std::string key = kv.first.Scalar();
    if (!kv.second.IsScalar()) return InvalidArgumentError(path + ": " + key + " must be a single value");
    const std::string v = kv.second.Scalar();
    if (key == "bsn") s.set_bsn(v);
    else if (key == "name") s.set_name(v);
    else if (key == "date_of_birth") s.set_date_of_birth(v);
    else if (key == "ref") s.set_ref(v);
    else if (key == "role" && role == v1::SUBJECT_ROLE_UNSPECIFIED) {
      KP_ASSIGN_OR_RETURN(v1::SubjectRole r, ParseRole(v));
      s.set_role(r);
    } else {
      // The key is shown only when it looks like a key: a misplaced value
      // (a BSN, a name) must not end up in an error message.
      const bool plain = !key.empty() && key.size() <= 32 &&
                         std::all_of(key.begin(), key.end(), [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; });
      return InvalidArgumentError(path + ": " + (plain ? "unknown key '" + key + "'" : std::string("a key that is not known")) +
                                  " (the keys are " + (role == v1::SUBJECT_ROLE_UNSPECIFIED ? "role, " : "") +
                                  "bsn, name, date_of_birth, ref)");
    }
  }
  if (s.role() == v1::SUBJECT_ROLE_UNSPECIFIED) {
    return InvalidArgumentError(path + ": every subject needs a role (victim, child, suspected-perpetrator, housemate, parent)");
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

Result<YAML::Node> LoadYaml(const std::string& path) {
  KP_ASSIGN_OR_RETURN(std::string text, ReadFileBounded(path, kMaxSubjectFileBytes));
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError(path + ":" + std::to_string(e.mark.line + 1) + ": not valid YAML or JSON");
  }
}

// ROLE:FILE, the file holding bsn, name and date_of_birth (YAML or JSON).
Result<v1::Subject> LoadSubject(const std::string& arg) {
  const size_t colon = arg.find(':');
  if (colon == std::string::npos) return InvalidArgumentError("--subject takes ROLE:FILE, e.g. victim:s1.yaml");
  KP_ASSIGN_OR_RETURN(v1::SubjectRole role, ParseRole(arg.substr(0, colon)));
  const std::string path = arg.substr(colon + 1);
  KP_ASSIGN_OR_RETURN(YAML::Node root, LoadYaml(path));
  return SubjectFromNode(path, root, role);
}

// The subjects of --subject ROLE:FILE (repeated) and --subjects FILE (a
// list of maps, each with a role).
Result<std::vector<v1::Subject>> LoadSubjects(const std::vector<std::string>& each, const std::string& list_file) {
  std::vector<v1::Subject> out;
  for (const auto& arg : each) {
    KP_ASSIGN_OR_RETURN(v1::Subject s, LoadSubject(arg));
    out.push_back(std::move(s));
  }
  if (!list_file.empty()) {
    KP_ASSIGN_OR_RETURN(YAML::Node root, LoadYaml(list_file));
    if (!root.IsSequence()) {
      return InvalidArgumentError(list_file + ": expected a list of subjects, each with role, bsn, name, date_of_birth");
    }
    for (const auto& node : root) {
      KP_ASSIGN_OR_RETURN(v1::Subject s, SubjectFromNode(list_file, node, v1::SUBJECT_ROLE_UNSPECIFIED));
      out.push_back(std::move(s));
    }
  }
  return out;
}

void PrintResult(CliContext& ctx, const std::string& what, const v1::CaseResult& r) {
  ctx.out << what << " (phase " << r.phase() << ", audit #" << r.audit_index() << ")\n";
}

// Prints one fragment as a table per category: a column per field.
void PrintFragment(std::ostream& out, const Outcome& o) {
  out << "fragment from " << o.signer << ", signed " << FormatUtcMillis(o.signed_ms) << ", case " << o.case_id
      << ", keep until " << client::RetentionText(o.retain_until_ms, o.retain_after_closure_ms) << "\n";
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
      j["retain_until"] = client::RetentionText(o.retain_until_ms, o.retain_after_closure_ms);
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

// The content of `shown` goes to the screen only once the coordinator's
// read log holds a record of its showing (NEN 7513, client/read_log.h);
// else an error that says so, and the caller prints no content.
Status LogShowing(Coordinator& c, const std::vector<const Outcome*>& shown, const std::string& how) {
  Status s = client::RecordShown(c, shown, how);
  if (s.ok()) return s;
  return Status(s.code(), s.message() +
                              "; the answer is kept in your store: show it with `ketenpoort case show CASE "
                              "--content` once the read log records again");
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
  std::string code;          // a reason code that must be given (handover, cancel, remove)
  std::string subjects_file;
  std::string to;
  int offer_days = 7;
  bool content = false;
  bool withdraw = false;
  std::string given_by = "subject";  // consent: subject, parents, or subject,parents
};

std::string GivenByText(uint8_t givers) {
  if (givers == (policy::kGiverSubject | policy::kGiverParents)) return "the subject and the parents";
  return givers == policy::kGiverParents ? "the parents" : "the subject";
}

void AddSubjectOptions(CLI::App* cmd, std::vector<std::string>& each, std::string& file) {
  cmd->add_option("--subject", each,
                  "ROLE:FILE, once per subject; ROLE is victim, child, suspected-perpetrator or housemate; "
                  "FILE (YAML/JSON) holds bsn, name, date_of_birth");
  cmd->add_option("--subjects", file,
                  "FILE (YAML/JSON): a list of subjects, each with role, bsn, name, date_of_birth (and ref)");
}

// "3 days", "5 hours": what is left until `until_ms`.
std::string Left(int64_t until_ms, int64_t now_ms) {
  const int64_t left = until_ms - now_ms;
  constexpr int64_t kHour = 3600 * 1000, kDay = 24 * kHour;
  if (left >= 4 * kDay) return std::to_string(left / kDay) + " days left";
  if (left >= 0) return std::to_string(left / kHour) + " hours left";
  return "ENDED";
}

void RegisterCase(CLI::App& app, CliContext& ctx) {
  auto a = std::make_shared<CaseArgs>();
  CLI::App* group = app.add_subcommand("case", "Open and manage cases (as their coordinator)");
  group->require_subcommand(1);

  CLI::App* open = group->add_subcommand("open", "Open a case; subject data stays on this machine");
  AddConfig(open, a->config);
  open->add_option("--purpose", a->purpose, "Purpose id from the policy, e.g. plan-van-aanpak")->required();
  AddSubjectOptions(open, a->subjects, a->subjects_file);
  open->callback(Guard(ctx, [a, &ctx]() -> Status {
    KP_ASSIGN_OR_RETURN(std::vector<v1::Subject> subjects, LoadSubjects(a->subjects, a->subjects_file));
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
    std::string ref;
    KP_ASSIGN_OR_RETURN(v1::CaseResult r, c->AddSubject(a->case_id, std::move(s), &ref));
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
  consent->add_option("--given-by", a->given_by,
                      "Who gave the consent: subject, parents, or subject,parents (default subject); the subject's "
                      "age is computed from its date of birth on this machine and stated with it");
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
    KP_ASSIGN_OR_RETURN(uint8_t givers, cases::ParseGivenBy(a->given_by));
    KP_ASSIGN_OR_RETURN(auto c, OpenCoordinator(a->config, true));
    KP_ASSIGN_OR_RETURN(v1::CaseResult r, c->RecordConsent(a->case_id, a->subject_ref, a->purpose, until, givers));
    PrintResult(ctx, "consent of " + a->subject_ref + " for " + a->purpose + ", given by " + GivenByText(givers) +
                         ", recorded until " + a->until, r);
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

  CLI::App* handover = group->add_subcommand(
      "handover", "Offer the case to another coordinator (a marked moment); its data goes along, sealed to them");
  AddConfig(handover, a->config);
  handover->add_option("case", a->case_id, "Case id")->required();
  handover->add_option("--to", a->to, "Participant id of the next coordinator")->required();
  handover->add_option("--reason", a->code, "Reason code, e.g. naar-wijkteam (no free text)")->required();
  handover->add_option("--until", a->until,
                       "A stand-in (waarneming): the case comes back to you by itself after this day (YYYY-MM-DD)");
  handover->add_option("--offer-days", a->offer_days, "Days the offer stays open (default 7, at most 30)");
  handover->callback(Guard(ctx, [a, &ctx]() -> Status {
    if (a->offer_days < 1 || a->offer_days > 30) return InvalidArgumentError("--offer-days must be 1 to 30");
    int64_t stand_in = 0;
    if (!a->until.empty()) {
      KP_ASSIGN_OR_RETURN(stand_in, ParseDateEndOfDayUtc(a->until));
    }
    KP_ASSIGN_OR_RETURN(auto c, OpenCoordinator(a->config, true));
    const int64_t expires = SystemClock::Get().NowMillis() + int64_t{a->offer_days} * 24 * 3600 * 1000;
    KP_ASSIGN_OR_RETURN(client::HandoverSent h, c->OfferHandover(a->case_id, a->to, a->code, expires, stand_in));
    PrintResult(ctx, a->case_id + " offered to " + a->to + (stand_in ? " as a stand-in until " + a->until : std::string()) +
                         "; the offer lapses " + FormatUtcMillis(expires),
                h.result);
    ctx.out << "  hand-over data sent in " << h.parts << " part(s): " << h.subjects << " subject(s), " << h.fragments
            << " fragment(s), sealed to " << a->to << "; the gateway holds it until " << a->to
            << " accepts, then lets over only the fragments the policy gives " << a->to << "'s role\n";
    for (const auto& l : h.left_out) ctx.out << "  not handed over: " << l << "\n";
    ctx.out << (stand_in ? "  you keep your copies: the case comes back to you on " + a->until + "\n"
                         : "  once accepted, your copies of its subject data and fragments are deleted\n");
    return OkStatus();
  }));

  CLI::App* take = group->add_subcommand("accept-handover", "Take over a case offered to you, with its data");
  AddConfig(take, a->config);
  take->add_option("case", a->case_id, "Case id")->required();
  take->callback(Guard(ctx, [a, &ctx]() -> Status {
    KP_ASSIGN_OR_RETURN(auto c, OpenCoordinator(a->config, true));
    KP_ASSIGN_OR_RETURN(client::HandoverTaken t, c->AcceptHandover(a->case_id));
    PrintResult(ctx, "you now coordinate " + a->case_id, t.result);
    ctx.out << "  received " << t.parts_received << " of " << t.parts << " part(s) of the hand-over data; kept: "
            << t.subjects << " subject(s), " << t.fragments << " fragment(s), every signature checked\n";
    const client::News news = c->TakeNews();
    for (const auto& n : news.notices) {
      if (n.kind() == v1::NOTICE_KIND_HANDOVER_DATA_WITHHELD && n.case_id() == a->case_id) {
        ctx.out << "  " << client::NoticeText(n, c->identity().id()) << "\n";
      }
    }
    if (t.parts == 0 || t.parts_received + t.withheld < t.parts) {
      ctx.out << "  more may follow: fetch it with `ketenpoort inbox`\n";
    }
    for (const auto& p : news.problems) ctx.err << "warning: " << p.message() << "\n";
    return OkStatus();
  }));

  CLI::App* cancel = group->add_subcommand("cancel-handover", "Take back a pending handover offer");
  AddConfig(cancel, a->config);
  cancel->add_option("case", a->case_id, "Case id")->required();
  cancel->add_option("--reason", a->code, "Reason code (no free text)")->required();
  cancel->callback(Guard(ctx, [a, &ctx]() -> Status {
    KP_ASSIGN_OR_RETURN(auto c, OpenCoordinator(a->config, true));
    KP_ASSIGN_OR_RETURN(v1::CaseResult r, c->CancelHandover(a->case_id, a->code));
    PrintResult(ctx, "the handover offer of " + a->case_id + " is cancelled; the case stays with you", r);
    return OkStatus();
  }));

  CLI::App* remove = group->add_subcommand("remove-partner", "A partner leaves the case: it is no longer asked");
  AddConfig(remove, a->config);
  remove->add_option("case", a->case_id, "Case id")->required();
  remove->add_option("partner", a->partner, "Partner id")->required();
  remove->add_option("--reason", a->code, "Reason code (no free text)")->required();
  remove->callback(Guard(ctx, [a, &ctx]() -> Status {
    KP_ASSIGN_OR_RETURN(auto c, OpenCoordinator(a->config, true));
    KP_ASSIGN_OR_RETURN(v1::CaseResult r, c->RemovePartner(a->case_id, a->partner, a->code));
    PrintResult(ctx, a->partner + " removed from " + a->case_id, r);
    return OkStatus();
  }));

  CLI::App* sync = group->add_subcommand(
      "sync", "Fetch a case's signed history from the gateway and check it (done by itself when unsure)");
  AddConfig(sync, a->config);
  sync->add_option("case", a->case_id, "Case id")->required();
  sync->callback(Guard(ctx, [a, &ctx]() -> Status {
    KP_ASSIGN_OR_RETURN(auto c, OpenCoordinator(a->config, true));
    KP_ASSIGN_OR_RETURN(cases::CaseFacts f, c->SyncCase(a->case_id));
    ctx.out << "case " << a->case_id << ": " << f.length << " command(s), each signed by the coordinator of its "
            << "moment and in order; coordinated by " << f.CoordinatorAt(SystemClock::Get().NowMillis()) << "; head " << HexEncode(f.head).substr(0, 16) << (f.closed ? "  [closed]" : "") << "\n";
    return OkStatus();
  }));

  CLI::App* list = group->add_subcommand("list", "List the cases in this coordinator's store");
  AddConfig(list, a->config);
  list->callback(Guard(ctx, [a, &ctx]() -> Status {
    KP_ASSIGN_OR_RETURN(auto c, OpenCoordinator(a->config, false));
    KP_ASSIGN_OR_RETURN(auto cases, c->store().ListCases());
    if (cases.empty()) ctx.out << "no cases\n";
    const int64_t now = SystemClock::Get().NowMillis();
    constexpr int64_t kDay = 24 * 3600 * 1000;
    for (const auto& k : cases) {
      KP_ASSIGN_OR_RETURN(auto reqs, c->store().Requests(k.id));
      KP_ASSIGN_OR_RETURN(auto fragments, c->store().Fragments(k.id));
      KP_ASSIGN_OR_RETURN(auto known, c->store().GetStatus(k.id));
      const v1::CaseStatus st = known.has_value() ? known->status : v1::CaseStatus();
      const std::string phase_now = st.phase().empty() ? k.phase : st.phase();
      ctx.out << std::left << std::setw(14) << k.id << "  " << std::setw(20) << phase_now << "  " << std::setw(22)
              << k.purpose << "  open " << (now - k.opened_ms) / kDay << " day(s)";
      if (!st.coordinator().empty()) {
        ctx.out << "  coordinator " << (st.coordinator() == c->identity().id() ? "you" : st.coordinator());
      }
      auto facts = c->LocalFacts(k.id);
      const bool unknown_acute = facts.ok() && facts->acute && st.members().empty();
      ctx.out << "  " << (st.members().empty() ? k.partners.size() : static_cast<size_t>(st.members_size()))
              << " partner(s)" << (unknown_acute ? " + the acute partners" : "") << ", " << reqs.size() << " request(s)"
              << (k.closed ? "  [closed]" : "") << "\n";
      if (k.closed) continue;
      if (st.acute_until_ms() > 0) {
        ctx.out << "      acute window ends " << FormatUtcMillis(st.acute_until_ms()) << " ("
                << Left(st.acute_until_ms(), now) << ")\n";
      }
      if (st.coordination_ends_ms() > 0) {
        ctx.out << "      coordination ends " << FormatUtcDate(st.coordination_ends_ms()) << " ("
                << Left(st.coordination_ends_ms(), now) << ")\n";
      }
      if (!st.pending_handover_to().empty()) {
        ctx.out << "      handover to " << st.pending_handover_to() << " pending, offer lapses "
                << FormatUtcMillis(st.pending_handover_expires_ms()) << "\n";
      }
      size_t soon = 0;
      for (auto& f : fragments) {
        if (f.retain_after_closure_ms <= 0 && f.retain_until_ms < now + 14 * kDay) ++soon;  // else: from closure
        SecureWipe(f.content.data(), f.content.size());
      }
      if (soon > 0) ctx.out << "      " << soon << " fragment(s) to delete within 14 days\n";
    }
    if (!cases.empty()) ctx.out << "(phase, coordinator and deadlines as the gateway last said; `case sync CASE` asks again)\n";
    return OkStatus();
  }));

  CLI::App* show = group->add_subcommand("show", "Show a case: partners, subjects, requests, fragments");
  AddConfig(show, a->config);
  show->add_option("case", a->case_id, "Case id")->required();
  show->add_flag("--content", a->content, "Also print the content of every fragment kept");
  show->callback(Guard(ctx, [a, &ctx]() -> Status {
    KP_ASSIGN_OR_RETURN(auto c, OpenCoordinator(a->config, false));
    KP_ASSIGN_OR_RETURN(client::CaseInfo k, c->store().GetCase(a->case_id));
    const int64_t now = SystemClock::Get().NowMillis();
    KP_ASSIGN_OR_RETURN(auto known, c->store().GetStatus(k.id));
    auto facts = c->LocalFacts(k.id);
    ctx.out << "case " << k.id << (k.closed ? " (closed)" : "") << "\n  purpose  " << k.purpose << "\n  phase    "
            << (known.has_value() && !known->status.phase().empty() ? known->status.phase() : k.phase)
            << "\n  opened   " << FormatUtcMillis(k.opened_ms) << "\n  partners ";
    // The gateway's word on who is admitted now (an acute case's partners
    // come from the policy, which this client does not hold).
    if (known.has_value() && !known->status.members().empty()) {
      for (int i = 0; i < known->status.members_size(); ++i) ctx.out << (i ? " " : "") << known->status.members(i);
    } else {
      for (size_t i = 0; i < k.partners.size(); ++i) ctx.out << (i ? " " : "") << k.partners[i];
      if (facts.ok() && facts->acute) ctx.out << (k.partners.empty() ? "" : " ") << "(and the policy's acute partners)";
    }
    ctx.out << "\n";
    if (facts.ok()) {
      const cases::CaseFacts& f = *facts;
      const std::string& by = f.CoordinatorAt(now);
      ctx.out << "  coordinator " << by << (by == c->identity().id() ? " (you)" : "") << ", since "
              << FormatUtcMillis(f.CoordinatorSinceAt(now)) << "\n";
      if (!f.stand_in_for.empty() && by != f.stand_in_for) {
        ctx.out << "  stand-in for " << f.stand_in_for << " until " << FormatUtcDate(f.stand_in_until_ms) << "\n";
      }
      if (!f.referral_id.empty()) {
        ctx.out << "  referral  " << f.referral_reference << " from " << f.referred_by << " (referral "
                << HexEncode(f.referral_id).substr(0, 12) << ")\n";
      }
      if (f.acute) {
        // The window comes from the policy: the gateway's status says it.
        const int64_t until = known.has_value() ? known->status.acute_until_ms() : 0;
        ctx.out << "  acute     "
                << (until > 0 ? "window ends " + FormatUtcMillis(until) + " (" + Left(until, now) + ")"
                              : std::string("handed over, or closed: no longer acute"))
                << "\n";
      }
      if (known.has_value() && known->status.coordination_ends_ms() > 0 && !k.closed) {
        ctx.out << "  coordination ends " << FormatUtcDate(known->status.coordination_ends_ms()) << " ("
                << Left(known->status.coordination_ends_ms(), now) << ")\n";
      }
      if (const cases::HandoverOffer* o = f.PendingOfferAt(now)) {
        ctx.out << "  pending handover to " << o->to << " (reason " << o->reason << "), offered "
                << FormatUtcMillis(o->offered_ms) << ", lapses " << FormatUtcMillis(o->expires_ms)
                << (o->stand_in_until_ms ? ", stand-in until " + FormatUtcDate(o->stand_in_until_ms) : std::string())
                << "\n";
      }
      if (!f.handovers.empty()) {
        ctx.out << "  handovers (marked moments)\n";
        for (const auto& m : f.handovers) {
          ctx.out << "    " << FormatUtcMillis(m.accepted_ms) << "  from " << m.from << " to " << m.to << "  reason "
                  << m.reason << "  (offered " << FormatUtcMillis(m.offered_ms) << ")"
                  << (m.stand_in_until_ms ? "  stand-in until " + FormatUtcDate(m.stand_in_until_ms) : std::string())
                  << "\n";
        }
      }
      if (!f.phases.empty()) {
        // The client folds without the policy: a phase's name comes from the
        // command that set it; the opening phase from the gateway's answer.
        KP_ASSIGN_OR_RETURN(auto chain, c->store().Chain(k.id));
        std::map<int64_t, std::string> set_at;
        for (const auto& e : chain) {
          auto cmd = cases::ParseVerifiedCommand(e);
          if (cmd.ok() && cmd->command.has_change_phase()) set_at[cmd->signed_ms] = cmd->command.change_phase().phase();
        }
        ctx.out << "  phases\n";
        for (size_t i = 0; i < f.phases.size(); ++i) {
          std::string name = f.phases[i].phase;
          if (name.empty() && set_at.count(f.phases[i].since_ms)) name = set_at[f.phases[i].since_ms];
          if (name.empty() && f.phases.size() == 1) name = k.phase;
          if (name.empty()) name = i == 0 ? "(opening phase)" : "?";
          ctx.out << "    " << FormatUtcMillis(f.phases[i].since_ms) << "  " << name << "\n";
        }
      }
      for (const auto& [partner, when] : f.removed) {
        ctx.out << "  removed   " << partner << " on " << FormatUtcMillis(when) << "\n";
      }
    }
    ctx.out << "  subjects\n";
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
              << std::setw(44) << cases::CommandSummary(cmd->command) + "  " << cmd->signer << "  "
              << HexEncode(cmd->hash).substr(0, 12) << "\n";
    }
    KP_ASSIGN_OR_RETURN(auto reqs, c->store().Requests(k.id));
    ctx.out << "  requests\n";
    for (const auto& r : reqs) {
      ctx.out << "    " << HexEncode(r.request_id).substr(0, 12) << "  " << FormatUtcMillis(r.sent_ms) << "  "
              << std::setw(18) << r.partner << std::setw(11) << client::RequestStateName(r.state);
      for (size_t i = 0; i < r.categories.size(); ++i) ctx.out << (i ? "," : "") << r.categories[i];
      if (!r.refusal.empty()) ctx.out << "  (" << r.refusal << ")";
      if (r.state == client::RequestState::kPending) {
        KP_ASSIGN_OR_RETURN(int64_t until, c->store().ApprovalWaitUntil(r.request_id));
        if (until > 0) ctx.out << "  (waits for the source's approval until " << FormatUtcMillis(until) << ")";
      }
      ctx.out << "\n";
    }
    KP_ASSIGN_OR_RETURN(auto fragments, c->store().Fragments(k.id));
    ctx.out << "  fragments kept: " << fragments.size() << "\n";
    std::vector<Result<Outcome>> opened;
    for (const auto& f : fragments) opened.push_back(c->ReadFragment(f));
    Status logged = OkStatus();
    if (a->content) {
      std::vector<const Outcome*> shown;
      for (const auto& o : opened) {
        if (o.ok()) shown.push_back(&*o);
      }
      logged = LogShowing(*c, shown, "cli: ketenpoort case show --content");
    }
    for (size_t i = 0; i < fragments.size(); ++i) {
      const client::StoredFragment& f = fragments[i];
      const Result<Outcome>& o = opened[i];
      if (!o.ok()) {
        ctx.out << "    " << HexEncode(f.request_id).substr(0, 12) << "  DOES NOT VERIFY: " << o.status().message()
                << "\n";
        ctx.exit_code = kExitVerification;
        continue;
      }
      ctx.out << "    " << HexEncode(f.request_id).substr(0, 12) << "  from " << f.source << ", keep until "
              << client::RetentionText(f.retain_until_ms, f.retain_after_closure_ms,
                                       c->store().ClosedAt(k.id).value_or(std::nullopt))
              << (f.handed_by.empty() ? std::string() : ", handed over (first sealed to " + f.handed_by + ")") << "\n";
      if (a->content && logged.ok()) PrintFragment(ctx.out, *o);
    }
    return logged;
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
  std::string weighing_file;
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
  if (client::ShowsContent(*o)) KP_RETURN_IF_ERROR(LogShowing(c, {&*o}, "cli: ketenpoort request"));
  ctx.exit_code = Report(ctx, *o, json);
  return OkStatus();
}

// The weighing of --weighing-file: its six answers, each one line or more
// of text. Refused unless it counts as a weighing (policy::AssessJustification):
// the agent would refuse it anyway. Messages name the file and keys, never
// an answer.
Result<v1::Weighing> LoadWeighing(const std::string& path) {
  KP_ASSIGN_OR_RETURN(YAML::Node root, LoadYaml(path));
  if (!root.IsMap()) {
    return InvalidArgumentError(path + ": expected the keys consent, harm, no_other_way, effect, minimum, approver");
  }
  v1::Weighing w;
  for (const auto& kv : root) {
    const std::string key = kv.first.Scalar();
    if (!kv.second.IsScalar()) return InvalidArgumentError(path + ": " + key.substr(0, 32) + " must be text");
    std::string* to = key == "consent"        ? w.mutable_consent()
                      : key == "harm"         ? w.mutable_harm()
                      : key == "no_other_way" ? w.mutable_no_other_way()
                      : key == "effect"       ? w.mutable_effect()
                      : key == "minimum"      ? w.mutable_minimum()
                      : key == "approver"     ? w.mutable_approver()
                                              : nullptr;
    if (to == nullptr) {
      return InvalidArgumentError(path + ": a key that is not known (the keys are consent, harm, no_other_way, "
                                         "effect, minimum, approver)");
    }
    *to = kv.second.Scalar();
  }
  const policy::WeighingAnswers answers{w.consent(), w.harm(), w.no_other_way(), w.effect(), w.minimum(),
                                        w.approver()};
  if (policy::AssessJustification("", &answers) != policy::Justification::kWeighing) {
    client::WipeWeighing(&w);
    return InvalidArgumentError(
        path + ": the weighing is not complete: each of consent, harm, no_other_way, effect and minimum must "
               "answer its question in words (not '.', '-', 'n.v.t.', 'geen', 'zie dossier') and approver must name "
               "who weighed it; the partner's agent refuses it otherwise");
  }
  return w;
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
  cmd->add_option("--weighing-file", a->weighing_file,
                  "The conflict-of-duties weighing (YAML/JSON: consent, harm, no_other_way, effect, minimum, "
                  "approver), sealed to the partner; for rules that require it");
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
    client::RequestSpec spec{a->case_id, a->from, a->categories, a->purpose, a->subjects, a->justification, {}};
    if (!a->weighing_file.empty()) {
      KP_ASSIGN_OR_RETURN(spec.weighing, LoadWeighing(a->weighing_file));
    }
    auto sent = c->SendRequest(spec);
    if (spec.weighing.has_value()) client::WipeWeighing(&*spec.weighing);
    KP_ASSIGN_OR_RETURN(std::string id, std::move(sent));
    ctx.err << "request " << HexEncode(id) << " sent to " << a->from << "\n";
    if (a->wait_s <= 0) {
      ctx.out << HexEncode(id) << "\n";
      return OkStatus();
    }
    return AwaitAndReport(ctx, *c, id, a->wait_s, a->json);
  }));
}

bool PrintNews(CliContext& ctx, const client::News& news, const std::string& me);

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
    const bool news = PrintNews(ctx, c->TakeNews(), c->identity().id());
    if (outcomes.empty() && !news && !a->json) ctx.out << "nothing new\n";
    int worst = kExitOk;
    std::vector<const Outcome*> shown;
    for (const auto& o : outcomes) shown.push_back(&o);
    const Status logged = LogShowing(*c, shown, "cli: ketenpoort inbox");
    for (const auto& o : outcomes) {
      if (!logged.ok() && client::ShowsContent(o)) {
        if (!a->json) {
          ctx.out << "request " << HexEncode(o.request_id) << ": answered; content not shown (see below)\n";
        }
        continue;
      }
      if (!a->json) ctx.out << "request " << HexEncode(o.request_id) << ":\n";
      int rc = Report(ctx, o, a->json);
      // A refusal is news, not a failure of this command; a bad answer is.
      if (rc != kExitOk && rc != kExitRefused) worst = rc;
    }
    ctx.exit_code = worst;
    return logged;
  }));
}

// Prints what came in besides answers (notices in words, referral states,
// referrals received, hand-over data taken in); returns whether anything did.
bool PrintNews(CliContext& ctx, const client::News& news, const std::string& me) {
  for (const auto& n : news.notices) ctx.out << "notice: " << client::NoticeText(n, me) << "\n";
  for (const auto& st : news.referral_statuses) {
    ctx.out << "referral " << HexEncode(st.referral_id()).substr(0, 12) << " (" << st.reference() << ") "
            << client::ReferralStateName(st.state());
    if (!st.case_id().empty()) ctx.out << ": case " << st.case_id();
    if (!st.decided_by().empty()) ctx.out << " by " << st.decided_by();
    if (!st.reason_code().empty()) ctx.out << ", reason " << st.reason_code();
    ctx.out << "\n";
  }
  for (const auto& id : news.referrals) {
    ctx.out << "referral " << HexEncode(id).substr(0, 12) << " received: see `ketenpoort referral list`\n";
  }
  for (const auto& h : news.handovers) ctx.out << "hand-over data taken in: case " << h << "\n";
  for (const auto& f : news.forgotten) {
    ctx.out << "case " << f << " was handed over for good: your copies of its subject data and fragments are deleted\n";
  }
  for (const auto& a : news.approvals_pending) {
    ctx.out << "request " << HexEncode(a.request_id()).substr(0, 12) << " of case " << a.case_id()
            << " waits for the approval of the source's professional (until " << FormatUtcMillis(a.decide_by_ms())
            << "); the answer or the refusal follows\n";
  }
  for (const auto& r : news.resent_after_restore) {
    ctx.out << "request " << HexEncode(r.request_id).substr(0, 12) << " of case " << r.case_id
            << " was sent again: the gateway, restored from a backup, had lost it; its answer follows\n";
  }
  for (const auto& r : news.expired_after_restore) {
    ctx.out << "request " << HexEncode(r.request_id).substr(0, 12) << " of case " << r.case_id
            << " expired: the gateway, restored from a backup, had lost it and refused it again; ask again\n";
  }
  for (const auto& p : news.problems) ctx.err << "warning: not taken in: " << p.message() << "\n";
  return !(news.notices.empty() && news.referral_statuses.empty() && news.referrals.empty() &&
           news.handovers.empty() && news.forgotten.empty() && news.approvals_pending.empty() &&
           news.resent_after_restore.empty() && news.expired_after_restore.empty());
}

// ---------------------------------------------------------------- referral

struct ReferralArgs {
  std::string config;
  std::string reference;
  std::string to;
  std::string purpose;
  std::vector<std::string> reasons;
  std::vector<std::string> subjects;
  std::string subjects_file;
  std::string id;
  std::string reason;
  bool show_identifiers = false;
  bool offline = false;
};

void RegisterReferral(CLI::App& app, CliContext& ctx) {
  auto a = std::make_shared<ReferralArgs>();
  CLI::App* group = app.add_subcommand("referral", "Refer a family (Veilig Thuis), or accept or decline a referral");
  group->require_subcommand(1);

  CLI::App* send = group->add_subcommand("send", "Refer a family to the coordinators of a partner");
  AddConfig(send, a->config);
  send->add_option("--reference", a->reference, "Your own reference number, e.g. VT-MB-2026-0815")->required();
  send->add_option("--to", a->to, "The partner whose coordinators are asked, e.g. veiligheidsteam")->required();
  send->add_option("--purpose", a->purpose, "The purpose the case would open with")->required();
  send->add_option("--reason", a->reasons, "Reason code from the policy (repeat, 1-8)")->required();
  AddSubjectOptions(send, a->subjects, a->subjects_file);
  send->callback(Guard(ctx, [a, &ctx]() -> Status {
    KP_ASSIGN_OR_RETURN(std::vector<v1::Subject> subjects, LoadSubjects(a->subjects, a->subjects_file));
    KP_ASSIGN_OR_RETURN(auto c, OpenCoordinator(a->config, true));
    KP_ASSIGN_OR_RETURN(v1::ReferralStatus st,
                        c->SendReferral({a->reference, a->to, a->purpose, a->reasons}, std::move(subjects)));
    ctx.out << "referral " << HexEncode(st.referral_id()) << " (" << a->reference << ") sent to the coordinators of "
            << a->to << ": " << client::ReferralStateName(st.state()) << " (audit #" << st.audit_index() << ")\n";
    return OkStatus();
  }));

  CLI::App* list = group->add_subcommand("list", "Referrals: those you sent with their state, or those waiting for you");
  AddConfig(list, a->config);
  list->add_flag("--show-identifiers", a->show_identifiers,
                 "Also show the names and dates of birth of the subjects of referrals waiting for you");
  list->add_flag("--offline", a->offline, "Do not fetch the inbox first; show what this machine holds");
  list->callback(Guard(ctx, [a, &ctx]() -> Status {
    KP_ASSIGN_OR_RETURN(auto c, OpenCoordinator(a->config, !a->offline));
    if (!a->offline) {
      KP_RETURN_IF_ERROR(c->FetchInbox("").status());
      for (const auto& p : c->TakeNews().problems) ctx.err << "warning: not taken in: " << p.message() << "\n";
    }
    KP_ASSIGN_OR_RETURN(auto all, c->store().Referrals());
    if (all.empty()) ctx.out << "no referrals\n";
    for (const auto& r : all) {
      const auto& b = r.body;
      ctx.out << HexEncode(r.id).substr(0, 12) << "  " << std::left << std::setw(18) << b.reference()
              << (r.received ? "  from " + r.sender : "  to " + b.to_partner()) << "  "
              << (r.received ? "received " : "sent ") << FormatUtcMillis(r.at_ms) << "  "
              << client::ReferralStateName(r.state);
      if (!r.case_id.empty()) ctx.out << ": case " << r.case_id;
      if (!r.decided_by.empty() && r.state != v1::REFERRAL_STATE_WAITING) ctx.out << " by " << r.decided_by;
      if (!r.reason_code.empty()) ctx.out << ", reason " << r.reason_code;
      ctx.out << "\n    purpose " << b.purpose() << "; reasons";
      for (const auto& code : b.reason_codes()) ctx.out << " " << code;
      ctx.out << "\n    subjects";
      for (const auto& sr : b.subjects()) ctx.out << " " << sr.ref() << " (" << RoleName(sr.role()) << ")";
      ctx.out << "\n";
      if (a->show_identifiers && r.received && r.state == v1::REFERRAL_STATE_WAITING) {
        KP_ASSIGN_OR_RETURN(auto subjects, c->store().ReferralSubjects(r.id));
        for (auto& s : subjects) {
          ctx.out << "      " << s.ref() << "  " << s.name() << "  " << s.date_of_birth() << "\n";
          client::WipeSubject(&s);
        }
      }
    }
    return OkStatus();
  }));

  CLI::App* accept = group->add_subcommand("accept", "Open the case on a referral waiting for you");
  AddConfig(accept, a->config);
  accept->add_option("id", a->id, "Referral id (or its first characters, as listed)")->required();
  accept->callback(Guard(ctx, [a, &ctx]() -> Status {
    KP_ASSIGN_OR_RETURN(auto c, OpenCoordinator(a->config, true));
    KP_ASSIGN_OR_RETURN(client::ReferralInfo r, c->FindReferral(a->id));
    KP_ASSIGN_OR_RETURN(v1::CaseResult res, c->AcceptReferral(r.id));
    PrintResult(ctx, "referral " + r.body.reference() + " accepted: case " + res.case_id() + " opened", res);
    for (const auto& sr : r.body.subjects()) ctx.out << "  " << sr.ref() << "  " << RoleName(sr.role()) << "\n";
    ctx.out << res.case_id() << "\n";
    return OkStatus();
  }));

  CLI::App* decline = group->add_subcommand("decline", "Decline a referral waiting for you, with a reason code");
  AddConfig(decline, a->config);
  decline->add_option("id", a->id, "Referral id (or its first characters, as listed)")->required();
  decline->add_option("--reason", a->reason, "Reason code from the policy's decline reasons")->required();
  decline->callback(Guard(ctx, [a, &ctx]() -> Status {
    KP_ASSIGN_OR_RETURN(auto c, OpenCoordinator(a->config, true));
    KP_ASSIGN_OR_RETURN(client::ReferralInfo r, c->FindReferral(a->id));
    KP_ASSIGN_OR_RETURN(v1::ReferralStatus st, c->DeclineReferral(r.id, a->reason));
    ctx.out << "referral " << r.body.reference() << " declined (reason " << a->reason << ", audit #"
            << st.audit_index() << "); " << r.sender << " is told\n";
    return OkStatus();
  }));
}

// ------------------------------------------------------------------- acute

void RegisterAcute(CLI::App& app, CliContext& ctx) {
  auto a = std::make_shared<CaseArgs>();
  CLI::App* group = app.add_subcommand("acute", "Samen op in Acuut: an acute case, opened on the spot");
  group->require_subcommand(1);
  CLI::App* open = group->add_subcommand("open", "Open an acute case: the acute partners are admitted and told at once");
  AddConfig(open, a->config);
  open->add_option("--purpose", a->purpose, "Purpose id from the policy")->required();
  AddSubjectOptions(open, a->subjects, a->subjects_file);
  open->callback(Guard(ctx, [a, &ctx]() -> Status {
    KP_ASSIGN_OR_RETURN(std::vector<v1::Subject> subjects, LoadSubjects(a->subjects, a->subjects_file));
    KP_ASSIGN_OR_RETURN(auto c, OpenCoordinator(a->config, true));
    KP_ASSIGN_OR_RETURN(v1::CaseResult r, c->OpenAcuteCase(a->purpose, std::move(subjects)));
    PrintResult(ctx, "acute case " + r.case_id() + " opened", r);
    if (r.status().acute_until_ms() > 0) {
      ctx.out << "  acute window ends " << FormatUtcMillis(r.status().acute_until_ms())
              << ": hand it over (ketenpoort case handover) or close it before then\n";
    }
    KP_ASSIGN_OR_RETURN(auto stored, c->store().Subjects(r.case_id()));
    for (auto& s : stored) {
      ctx.out << "  " << s.ref() << "  " << RoleName(s.role()) << "\n";
      client::WipeSubject(&s);
    }
    ctx.out << r.case_id() << "\n";
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
  RegisterReferral(app, ctx);
  RegisterAcute(app, ctx);
  RegisterPurge(app, ctx);
}

}  // namespace kp::cli
