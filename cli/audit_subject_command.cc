// `ketenpoort audit subject`: one person's access request (AVG art. 15). The
// privacy officer gives the person's BSN and/or name and date of birth, every
// region pseudonym key they hold, and the log copies they have (the
// gateway's, agents' own); each log is verified first, then every record
// about the person is listed in a draft answer in Dutch (HTML, mode 0600).
//
// The identifiers become pseudonyms here (case/pseudonym.h) and are wiped;
// core/audit only sees lookup keys. Nothing identifying is printed.
// Exit codes: 0 written; 5 a log does not verify; 1 unknown person (or a
// wrong key: the two cannot be told apart), bad input; 2 usage.
#include <algorithm>
#include <iostream>
#include <unordered_set>

#include "case/pseudonym.h"
#include "cli/cli_context.h"
#include "core/audit/checkpoint.h"
#include "core/audit/subject_report.h"
#include "core/base/clock.h"
#include "core/base/file_util.h"
#include "core/crypto/secret_bytes.h"

namespace kp::cli {
namespace {

namespace v1 = ketenpoort::v1;

struct SubjectArgs {
  std::string bsn;
  std::string name;
  std::string birth_date;
  std::vector<std::string> key_files;
  std::vector<std::string> log_keys;  // DIR=KEY
  std::vector<std::string> dirs;
  std::string out;
  std::string controller;
};

// Wipes what identifies the person when the command is done with it.
struct SubjectWipe {
  std::string* text;
  ~SubjectWipe() { SecureWipe(text->data(), text->size()); }
};

Result<audit::NoteVerifierKey> SubjectLogVerifierKey(const std::string& text_or_file) {
  std::string text = text_or_file;
  if (text.find('+') == std::string::npos) {
    KP_ASSIGN_OR_RETURN(text, ReadFileBounded(text_or_file, 4096));
  }
  return audit::ParseVerifierKey(text);
}

Status RunAuditSubject(SubjectArgs& a, CliContext& ctx) {
  SubjectWipe wipe_bsn{&a.bsn};
  SubjectWipe wipe_name{&a.name};
  if (a.bsn == "-") {
    std::getline(std::cin, a.bsn);
  }
  const bool by_name = !a.name.empty() || !a.birth_date.empty();
  if (a.bsn.empty() && !by_name) {
    return InvalidArgumentError("give the person's --bsn, or --name and --birth-date, or both");
  }
  if (by_name && (a.name.empty() || a.birth_date.empty())) {
    return InvalidArgumentError("--name and --birth-date go together (the pseudonym is over both)");
  }
  std::vector<cases::PseudonymKey> keys;
  std::vector<std::string> key_ids;
  for (const std::string& file : a.key_files) {
    KP_ASSIGN_OR_RETURN(cases::PseudonymKey k, cases::LoadPseudonymKeyFile(file));
    if (std::find(key_ids.begin(), key_ids.end(), k.id) != key_ids.end()) {
      return InvalidArgumentError("pseudonym key " + k.id + " given twice (" + file + ")");
    }
    key_ids.push_back(k.id);
    keys.push_back(std::move(k));
  }
  audit::SubjectQuery query;
  query.key_ids = key_ids;
  if (!a.bsn.empty()) {
    auto canonical = cases::CanonicalBsn(a.bsn);
    if (!canonical.ok()) return InvalidArgumentError("--bsn: " + canonical.status().message());
    SubjectWipe wipe{&*canonical};
    for (const auto& k : keys) {
      query.lookup_keys.insert(cases::PseudonymLookupKey(cases::Pseudonym(k, v1::PSEUDONYM_BASIS_BSN, *canonical)));
    }
  }
  if (by_name) {
    auto canonical = cases::CanonicalNameAndBirthDate(a.name, a.birth_date);
    if (!canonical.ok()) return InvalidArgumentError("--name/--birth-date: " + canonical.status().message());
    SubjectWipe wipe{&*canonical};
    for (const auto& k : keys) {
      query.lookup_keys.insert(
          cases::PseudonymLookupKey(cases::Pseudonym(k, v1::PSEUDONYM_BASIS_NAME_AND_BIRTH_DATE, *canonical)));
    }
  }
  std::vector<audit::SubjectLog> logs;
  for (const std::string& dir : a.dirs) logs.push_back({dir, {}});
  for (const std::string& spec : a.log_keys) {
    size_t eq = spec.find('=');
    if (eq == std::string::npos || eq == 0) return InvalidArgumentError("--log-key is LOGDIR=KEY, not " + spec);
    std::string dir = spec.substr(0, eq);
    auto it = std::find_if(logs.begin(), logs.end(), [&](const audit::SubjectLog& l) { return l.dir == dir; });
    if (it == logs.end()) return InvalidArgumentError("--log-key names " + dir + ", which is not one of the logs given");
    KP_ASSIGN_OR_RETURN(audit::NoteVerifierKey key, SubjectLogVerifierKey(spec.substr(eq + 1)));
    it->verify.key = key;
  }
  KP_ASSIGN_OR_RETURN(audit::SubjectFindings found, audit::FindSubjectRecords(logs, query));
  audit::SubjectAnswerOptions opts;
  opts.generated_at_millis = SystemClock::Get().NowMillis();
  opts.controller = a.controller;
  std::string html = audit::RenderSubjectAnswer(found, opts);
  KP_RETURN_IF_ERROR(WriteFileDurable(a.out, html, 0600, WriteMode::kReplace));
  for (const auto& l : found.logs) {
    for (const auto& w : l.warnings) ctx.err << "warning: " << l.dir << ": " << w << "\n";
    if (l.key_from_folder) {
      ctx.err << "note: " << l.dir << " was verified with its own log.vkey; pin the key with --log-key "
              << l.dir << "=KEY for a check that does not trust the folder\n";
    }
  }
  ctx.out << "wrote " << a.out << " (draft answer, AVG art. 15): " << found.hits.size()
          << " record(s) about the person in " << found.logs.size() << " verified log(s)\n";
  for (const auto& l : found.logs) {
    ctx.out << "  " << l.dir << " (" << l.origin << "): " << l.matched << " of " << l.records << " records\n";
  }
  if (!found.other_key_ids.empty()) {
    std::string ids;
    for (const auto& id : found.other_key_ids) ids += (ids.empty() ? "" : ", ") + id;
    ctx.err << "warning: the logs also hold pseudonyms under key(s) " << ids
            << " that were not given; records under them are not in the draft\n";
  }
  return OkStatus();
}

}  // namespace

void RegisterAuditSubjectCommand(CLI::App& app, CliContext& ctx) {
  CLI::App* audit = app.get_subcommand("audit");
  auto a = std::make_shared<SubjectArgs>();
  CLI::App* cmd = audit->add_subcommand(
      "subject", "One person's access request (AVG art. 15): every record about them across verified logs, "
                 "and a draft answer in Dutch (HTML)");
  cmd->add_option("--bsn", a->bsn, "The person's BSN ('-' reads it from standard input, unseen by ps)");
  cmd->add_option("--name", a->name, "The person's name (with --birth-date)");
  cmd->add_option("--birth-date", a->birth_date, "The person's date of birth, YYYY-MM-DD (with --name)");
  cmd->add_option("--pseudonym-key", a->key_files,
                  "A region pseudonym key file you hold; repeat for every key (old keys find old records)")
      ->required()
      ->allow_extra_args(false);
  cmd->add_option("--out", a->out, "HTML file to write (mode 0600)")->required();
  cmd->add_option("--log-key", a->log_keys,
                  "LOGDIR=KEY: verify that log with this verifier key (text or file) instead of its own log.vkey")
      ->allow_extra_args(false);
  cmd->add_option("--controller", a->controller, "The controller answering, for the draft's heading");
  cmd->add_option("logs", a->dirs, "Audit log folders: the gateway's log copy and any agents' logs")->required();
  cmd->callback([a, &ctx] {
    Status s = RunAuditSubject(*a, ctx);
    if (!s.ok()) ctx.Fail(s);
  });
}

}  // namespace kp::cli
