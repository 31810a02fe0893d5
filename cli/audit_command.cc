// `ketenpoort audit verify|show|prove|verify-proof|report|erase-expired`: the
// privacy officer's commands over an audit log folder
// (docs/audit-log-format.md). All of them read the folder only, except
// erase-expired, which rewrites the records file under the folder lock.
//
// Trust: by default `verify` and `report` check signatures with the folder's
// own DIR/log.vkey, which whoever controls the folder could replace. Pass
// --key (the verifier key you were given, or a file holding it) and/or
// --checkpoint (checkpoints you kept) for a check that does not trust the
// folder.
//
// Exit codes: 0 ok; 5 the log or a signature does not verify; 1 other errors;
// 2 usage. verify-proof: 0 valid, 1 invalid, 2 unreadable.
#include <algorithm>
#include <optional>

#include "cli/cli_context.h"
#include "core/audit/checkpoint.h"
#include "core/audit/log_eraser.h"
#include "core/audit/log_reader.h"
#include "core/audit/log_verifier.h"
#include "core/audit/proof_json.h"
#include "core/audit/record_text.h"
#include "core/audit/report.h"
#include "core/base/clock.h"
#include "core/base/encoding.h"
#include "core/base/file_util.h"

namespace kp::cli {
namespace {

using audit::LogEntry;
using audit::LogReader;
using ketenpoort::v1::AuditRecord;

struct AuditArgs {
  std::string dir;
  std::vector<std::string> checkpoints;
  std::string key;
  // show
  std::string case_id, partner, since, until, event, decision;
  bool json = false;
  // prove
  std::optional<uint64_t> index;
  std::optional<uint64_t> size;
  std::vector<uint64_t> consistency;
  // verify-proof
  std::string proof_file;
  // report
  std::string out;
  std::string report_partner, from, to;
  // erase-expired
  std::string now;
};

Result<audit::VerifyOptions> VerifyOptionsFrom(const AuditArgs& args) {
  audit::VerifyOptions opts;
  if (!args.key.empty()) {
    std::string text = args.key;
    if (text.find('+') == std::string::npos) {
      KP_ASSIGN_OR_RETURN(text, ReadFileBounded(args.key, 4096));
    }
    KP_ASSIGN_OR_RETURN(audit::NoteVerifierKey key, audit::ParseVerifierKey(text));
    opts.key = key;
  }
  for (const std::string& path : args.checkpoints) {
    KP_ASSIGN_OR_RETURN(std::string note, ReadFileBounded(path, audit::kMaxNoteBytes));
    opts.pinned_checkpoints.push_back(std::move(note));
  }
  return opts;
}

Status RunAuditVerify(const AuditArgs& args, CliContext& ctx) {
  KP_ASSIGN_OR_RETURN(audit::VerifyOptions opts, VerifyOptionsFrom(args));
  audit::VerifyReport rep = audit::VerifyLog(args.dir, opts);
  for (const std::string& w : rep.warnings) ctx.err << "warning: " << w << "\n";
  if (!rep.status.ok()) {
    std::string where = rep.first_bad_index.has_value() ? " (first bad index " + std::to_string(*rep.first_bad_index) + ")" : "";
    return Status(rep.status.code(), "audit log " + args.dir + " does not verify: " + rep.status.message() + where);
  }
  ctx.out << "audit log " << args.dir << ": OK\n"
          << "  origin:      " << rep.origin << (rep.key_from_folder ? " (key from the folder's log.vkey)" : " (pinned key)")
          << "\n"
          << "  records:     " << rep.records << " (" << rep.tombstones << " erased, tombstones kept)\n"
          << "  checkpoints: " << rep.checkpoints << " signed by the log";
  if (rep.pinned_checkpoints > 0) ctx.out << ", " << rep.pinned_checkpoints << " witnessed checkpoint(s) consistent";
  ctx.out << "\n";
  if (rep.latest.has_value()) {
    ctx.out << "  latest:      size " << rep.latest->size << ", root " << HexEncode(rep.latest->root) << "\n";
  }
  if (rep.key_handovers > 0) {
    ctx.out << "  keys:        " << rep.key_handovers + 1 << " signing keys joined by " << rep.key_handovers
            << " key handover(s), each signed by both keys (key rotation)\n";
  }
  return OkStatus();
}

bool Matches(const AuditRecord& r, const AuditArgs& args, int64_t since, int64_t until,
             std::optional<ketenpoort::v1::AuditEvent> event) {
  if (!args.case_id.empty() && r.case_id() != args.case_id) return false;
  if (!args.partner.empty() && r.source_partner() != args.partner && r.recipient_partner() != args.partner &&
      r.actor().partner() != args.partner) {
    return false;
  }
  if (r.time_unix_millis() < since || r.time_unix_millis() > until) return false;
  if (event.has_value() && r.event() != *event) return false;
  if (!args.decision.empty() && audit::VerdictName(r.decision().verdict()) != args.decision) return false;
  return true;
}

// Left-aligns `s` in a column; a value wider than the column keeps one space.
std::string Pad(std::string s, size_t width) {
  s.append(s.size() < width ? width - s.size() : 1, ' ');
  return s;
}

Status RunAuditShow(const AuditArgs& args, CliContext& ctx) {
  int64_t since = INT64_MIN;
  int64_t until = INT64_MAX;
  if (!args.since.empty()) {
    KP_ASSIGN_OR_RETURN(since, ParseRfc3339Millis(args.since));
  }
  if (!args.until.empty()) {
    KP_ASSIGN_OR_RETURN(until, ParseRfc3339Millis(args.until));
  }
  std::optional<ketenpoort::v1::AuditEvent> event;
  if (!args.event.empty()) {
    KP_ASSIGN_OR_RETURN(event, audit::ParseEventName(args.event));
  }
  KP_ASSIGN_OR_RETURN(std::unique_ptr<LogReader> reader, LogReader::Open(args.dir));
  bool any_filter = !args.case_id.empty() || !args.partner.empty() || !args.since.empty() || !args.until.empty() ||
                    event.has_value() || !args.decision.empty();
  if (!args.json) {
    ctx.out << Pad("INDEX", 7) << Pad("TIME", 26) << Pad("EVENT", 20) << Pad("CASE", 14) << Pad("FROM -> TO", 34)
            << Pad("CATEGORIES", 34) << Pad("PURPOSE / BASIS", 34) << "DECISION\n";
  }
  uint64_t shown = 0;
  Status s = reader->ForEachEntry([&](const LogEntry& e) {
    if (e.erased) {
      if (any_filter) return OkStatus();  // an erased record's fields are gone
      ++shown;
      if (args.json) {
        ctx.out << "{\"index\":" << e.index << ",\"erased\":true,\"erased_at\":\""
                << FormatRfc3339Millis(e.erased_at_millis) << "\"}\n";
      } else {
        ctx.out << Pad(std::to_string(e.index), 7) << Pad(FormatRfc3339Millis(e.erased_at_millis), 26)
                << "(erased: retention ended)\n";
      }
      return OkStatus();
    }
    const AuditRecord& r = e.record;
    if (!Matches(r, args, since, until, event)) return OkStatus();
    ++shown;
    if (args.json) {
      ctx.out << audit::RecordJson(r) << "\n";
      return OkStatus();
    }
    std::string cats;
    for (const auto& c : r.categories()) cats += (cats.empty() ? "" : ",") + audit::CategoryText(c);
    std::string flow = r.source_partner().empty() && r.recipient_partner().empty()
                           ? r.actor().participant_id()
                           : r.source_partner() + " -> " + r.recipient_partner();
    std::string basis = r.purpose() + (r.legal_basis().empty() ? "" : " / " + r.legal_basis());
    std::string decision = audit::VerdictName(r.decision().verdict());
    if (!r.decision().rule_ids().empty()) {
      std::string rules;
      for (const auto& id : r.decision().rule_ids()) rules += (rules.empty() ? "" : ",") + id;
      decision += " [" + rules + "]";
    }
    std::string reason = r.reason().empty() ? r.decision().reason() : r.reason();
    if (!reason.empty() && (r.decision().verdict() == ketenpoort::v1::AUDIT_VERDICT_DENY ||
                            r.event() == ketenpoort::v1::AUDIT_EVENT_REFUSED)) {
      decision += " " + reason;
    }
    // Referrals, handovers, acute windows, removals: what the moment says.
    const std::string detail = audit::RecordDetail(r);
    if (!detail.empty()) decision += (decision.empty() ? "" : " ") + detail;
    ctx.out << Pad(std::to_string(r.index()), 7) << Pad(FormatRfc3339Millis(r.time_unix_millis()), 26)
            << Pad(audit::EventName(r.event()), 20) << Pad(r.case_id(), 14) << Pad(flow, 34) << Pad(cats, 34)
            << Pad(basis, 34) << decision << "\n";
    return OkStatus();
  });
  if (!args.json) ctx.err << shown << " record(s)\n";
  return s;
}

// The size of the latest checkpoint in the folder (not verified here: the
// proof is checked against a checkpoint by whoever receives it).
Result<uint64_t> LatestCheckpointSize(const LogReader& reader) {
  auto note = reader.LatestCheckpointNote();
  if (!note.ok()) return reader.TreeSize();
  KP_ASSIGN_OR_RETURN(audit::SignedNote parsed, audit::ParseSignedNote(*note));
  KP_ASSIGN_OR_RETURN(audit::Checkpoint cp, audit::ParseCheckpointBody(parsed.text));
  return cp.size;
}

Status RunProve(const AuditArgs& args, CliContext& ctx) {
  KP_ASSIGN_OR_RETURN(std::unique_ptr<LogReader> reader, LogReader::Open(args.dir));
  std::string origin;
  if (auto key = reader->FolderVerifierKey(); key.ok()) origin = key->name;
  if (!args.consistency.empty()) {
    if (args.consistency.size() != 2 || args.index.has_value()) {
      return InvalidArgumentError("use either --index N [--size M] or --consistency M N");
    }
    uint64_t m = args.consistency[0];
    uint64_t n = args.consistency[1];
    KP_ASSIGN_OR_RETURN(std::vector<std::string> proof, reader->ConsistencyProof(m, n));
    KP_ASSIGN_OR_RETURN(std::string r1, reader->RootAt(m));
    KP_ASSIGN_OR_RETURN(std::string r2, reader->RootAt(n));
    ctx.out << audit::FormatConsistencyProofJson(
        m, n, r1, r2, proof, "ketenpoort audit log " + origin + ": consistency " + std::to_string(m) + " -> " + std::to_string(n));
    return OkStatus();
  }
  if (!args.index.has_value()) return InvalidArgumentError("use either --index N [--size M] or --consistency M N");
  uint64_t size = 0;
  if (args.size.has_value()) {
    size = *args.size;
  } else {
    KP_ASSIGN_OR_RETURN(size, LatestCheckpointSize(*reader));
  }
  KP_ASSIGN_OR_RETURN(std::vector<std::string> proof, reader->InclusionProof(*args.index, size));
  KP_ASSIGN_OR_RETURN(std::string root, reader->RootAt(size));
  KP_ASSIGN_OR_RETURN(std::string leaf, reader->LeafHash(*args.index));
  ctx.out << audit::FormatInclusionProofJson(*args.index, size, root, leaf, proof,
                                             "ketenpoort audit log " + origin + ": record " +
                                                 std::to_string(*args.index) + " in tree of size " + std::to_string(size));
  return OkStatus();
}

void RunVerifyProof(const AuditArgs& args, CliContext& ctx) {
  auto text = ReadFileBounded(args.proof_file, 1 << 20);
  if (!text.ok()) {
    ctx.err << "error: " << text.status().message() << "\n";
    ctx.exit_code = kExitUsage;
    return;
  }
  audit::ProofCheck check = audit::CheckProofJson(*text);
  switch (check.verdict) {
    case audit::ProofVerdict::kValid:
      ctx.out << "valid " << check.kind << " proof\n";
      ctx.exit_code = kExitOk;
      return;
    case audit::ProofVerdict::kInvalid:
      ctx.out << "invalid " << check.kind << " proof: " << check.message << "\n";
      ctx.exit_code = kExitError;
      return;
    case audit::ProofVerdict::kUnreadable:
      ctx.err << "error: " << args.proof_file << " is not a proof file: " << check.message << "\n";
      ctx.exit_code = kExitUsage;
      return;
  }
}

Status RunReport(const AuditArgs& args, CliContext& ctx) {
  KP_ASSIGN_OR_RETURN(audit::VerifyOptions opts, VerifyOptionsFrom(args));
  audit::VerifyReport rep = audit::VerifyLog(args.dir, opts);
  KP_ASSIGN_OR_RETURN(std::unique_ptr<LogReader> reader, LogReader::Open(args.dir));
  audit::ReportOptions ropts;
  ropts.case_id = args.case_id;
  ropts.partner = args.report_partner;
  if (!args.from.empty()) {
    auto from = audit::ParseReportTime(args.from, false);
    if (!from.ok()) return InvalidArgumentError("--from: " + from.status().message());
    ropts.from_millis = *from;
  }
  if (!args.to.empty()) {
    auto to = audit::ParseReportTime(args.to, true);
    if (!to.ok()) return InvalidArgumentError("--to: " + to.status().message());
    ropts.to_millis = *to;
  }
  ropts.generated_at_millis = SystemClock::Get().NowMillis();
  KP_ASSIGN_OR_RETURN(std::string html, audit::RenderHtmlReport(*reader, rep, ropts));
  KP_RETURN_IF_ERROR(WriteFileDurable(args.out, html, 0600, WriteMode::kReplace));
  ctx.out << "wrote " << args.out << " (" << html.size() << " bytes; verification "
          << (rep.status.ok() ? "OK" : "FAILED") << ")\n";
  if (!rep.status.ok()) {
    return Status(rep.status.code(), "the log does not verify (the report says so on top): " + rep.status.message());
  }
  return OkStatus();
}

Status RunErase(const AuditArgs& args, CliContext& ctx) {
  int64_t now = SystemClock::Get().NowMillis();
  if (!args.now.empty()) {
    KP_ASSIGN_OR_RETURN(now, ParseRfc3339Millis(args.now));
  }
  KP_ASSIGN_OR_RETURN(audit::EraseSummary s, audit::EraseExpiredOffline(args.dir, now));
  if (s.erased == 0) {
    ctx.out << "no record below the latest checkpoint has passed its retention date\n";
  } else {
    ctx.out << "erased " << s.erased << " record(s) between index " << s.first_index << " and " << s.last_index
            << "; their tombstones keep the commitments, so every proof stays valid\n";
  }
  return OkStatus();
}

template <typename Fn>
std::function<void()> Runner(std::shared_ptr<AuditArgs> args, CliContext& ctx, Fn fn) {
  return [args, &ctx, fn] {
    Status s = fn(*args, ctx);
    if (!s.ok()) ctx.Fail(s);
  };
}

}  // namespace

void RegisterAuditCommand(CLI::App& app, CliContext& ctx) {
  CLI::App* audit = app.add_subcommand("audit", "Verify, read, prove and report on a tamper-evident audit log");
  audit->require_subcommand(1);

  auto verify_args = std::make_shared<AuditArgs>();
  CLI::App* verify = audit->add_subcommand(
      "verify", "Recompute the Merkle tree, check every record, checkpoint signature and witnessed checkpoint");
  verify->add_option("dir", verify_args->dir, "Audit log folder")->required();
  verify->add_option("--checkpoint", verify_args->checkpoints,
                     "A checkpoint you kept (signed note file); the log must be consistent with it");
  verify->add_option("--key", verify_args->key,
                     "The log's verifier key (name+hash+key, or a file holding it) instead of the folder's "
                     "own log.vkey, which whoever controls the folder could replace");
  verify->callback(Runner(verify_args, ctx, RunAuditVerify));

  auto show_args = std::make_shared<AuditArgs>();
  CLI::App* show = audit->add_subcommand("show", "Print records as a table or JSON lines");
  show->add_option("dir", show_args->dir, "Audit log folder")->required();
  show->add_option("--case", show_args->case_id, "Only this case, e.g. VT-2026-0042");
  show->add_option("--partner", show_args->partner, "Only records where this partner is source, recipient or actor");
  show->add_option("--since", show_args->since, "From this time (2026-11-22 or 2026-11-22T14:00:00.000Z)");
  show->add_option("--until", show_args->until, "Up to this time");
  show->add_option("--event", show_args->event, "Only this event (decision, delivered, refused, ...)");
  show->add_option("--decision", show_args->decision, "Only permit or deny decisions")
      ->check(CLI::IsMember({"permit", "deny"}));
  show->add_flag("--json", show_args->json, "JSON lines instead of a table");
  show->callback(Runner(show_args, ctx, RunAuditShow));

  auto prove_args = std::make_shared<AuditArgs>();
  CLI::App* prove = audit->add_subcommand(
      "prove", "Print an inclusion or consistency proof as JSON (transparency-dev/merkle test-data shape)");
  prove->add_option("dir", prove_args->dir, "Audit log folder")->required();
  prove->add_option("--index", prove_args->index, "Inclusion proof of the record with this index");
  prove->add_option("--size", prove_args->size, "In the tree of this size (default: the latest checkpoint's)");
  prove->add_option("--consistency", prove_args->consistency, "Consistency proof from size M to size N")
      ->expected(2);
  prove->callback(Runner(prove_args, ctx, RunProve));

  auto vp_args = std::make_shared<AuditArgs>();
  CLI::App* vp = audit->add_subcommand("verify-proof", "Check a proof file: exit 0 valid, 1 invalid, 2 unreadable");
  vp->add_option("file", vp_args->proof_file, "Proof JSON file")->required();
  vp->callback([vp_args, &ctx] { RunVerifyProof(*vp_args, ctx); });

  auto report_args = std::make_shared<AuditArgs>();
  CLI::App* report = audit->add_subcommand("report", "Write one self-contained HTML report for the privacy officer");
  report->add_option("dir", report_args->dir, "Audit log folder")->required();
  report->add_option("--out", report_args->out, "HTML file to write (mode 0600)")->required();
  report->add_option("--case", report_args->case_id, "Only this case");
  report->add_option("--partner", report_args->report_partner,
                     "Only what this partner disclosed, received, asked or was asked (with totals by category and "
                     "by counterpart)");
  report->add_option("--from", report_args->from, "Only records from this date or RFC 3339 time on");
  report->add_option("--to", report_args->to,
                     "Only records before this RFC 3339 time, or up to and including this date");
  report->add_option("--checkpoint", report_args->checkpoints, "A checkpoint you kept");
  report->add_option("--key", report_args->key, "The log's verifier key instead of the folder's log.vkey");
  report->callback(Runner(report_args, ctx, RunReport));

  auto erase_args = std::make_shared<AuditArgs>();
  CLI::App* erase = audit->add_subcommand(
      "erase-expired",
      "Replace records whose retention has ended by tombstones (needs the folder lock: stop the writer first)");
  erase->add_option("dir", erase_args->dir, "Audit log folder")->required();
  erase->add_option("--now", erase_args->now, "Erase as of this time instead of now (RFC 3339 or a date)");
  erase->callback(Runner(erase_args, ctx, RunErase));
}

}  // namespace kp::cli
