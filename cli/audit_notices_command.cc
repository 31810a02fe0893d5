// `ketenpoort audit notices`: the privacy officer's notices (issue 17 §2;
// docs/cli.md, docs/protocol.md §3.11). Fetches what the gateway holds for
// the officer, verifies each notice, prints one line (or one JSON object) per
// notice, and only then acknowledges them: a notice leaves the gateway's
// inbox once it was printed here.
#include <nlohmann/json.hpp>

#include "cli/cli_context.h"
#include "client/client_config.h"
#include "client/privacy_notices.h"
#include "core/base/clock.h"
#include "core/base/encoding.h"
#include "core/base/time_format.h"
#include "core/identity/passphrase_prompt.h"

namespace kp::cli {
namespace {

namespace v1 = ketenpoort::v1;

struct AuditNoticesArgs {
  std::string config;
  bool json = false;
};

// What the gateway put in a notice, fit for a terminal: printable ASCII only
// (a notice is signed by the gateway, but a terminal must not run what it says).
std::string NoticeText(const std::string& s) {
  std::string out;
  for (unsigned char ch : s) out += (ch >= 0x20 && ch < 0x7f) ? static_cast<char>(ch) : '?';
  return out.empty() ? "-" : out;
}

std::string NoticeList(const google::protobuf::RepeatedPtrField<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ",") + NoticeText(s);
  return out.empty() ? "-" : out;
}

// Why the notice came: the policy's notify_privacy_officer, and what else
// made the decision one to look at.
std::string NoticeWhy(const v1::CaseNotice& n) {
  std::string why = "rule asks to notify the privacy officer";
  if (n.justification()) why += "; decided on a justification or a conflict of duties";
  return why;
}

std::string NoticeLine(const client::PrivacyNotice& p) {
  const v1::CaseNotice& n = p.notice;
  return FormatUtcMillis(n.at_ms() != 0 ? n.at_ms() : p.signed_ms) + "  case " + NoticeText(n.case_id()) + "  " +
         NoticeText(n.source_partner()) + " -> " + NoticeText(n.recipient_partner()) + "  categories " +
         NoticeList(n.categories()) + "  purpose " + NoticeText(n.purpose()) + "  basis " +
         NoticeText(n.legal_basis()) + "  rules " + NoticeList(n.rule_ids()) + "  why: " + NoticeWhy(n) + "  (" +
         NoticeText(n.reason_code()) + " " + HexEncode(n.request_id()) + " by " + NoticeText(n.by()) + ", phase " +
         NoticeText(n.phase()) + ", log record #" + std::to_string(n.audit_index()) + ")";
}

std::string NoticeJson(const client::PrivacyNotice& p) {
  const v1::CaseNotice& n = p.notice;
  nlohmann::json j;
  j["notice_id"] = HexEncode(p.notice_id);
  j["at"] = FormatUtcMillis(n.at_ms() != 0 ? n.at_ms() : p.signed_ms);
  j["case_id"] = n.case_id();
  j["what"] = n.reason_code();
  j["request_id"] = HexEncode(n.request_id());
  j["by"] = n.by();
  j["phase"] = n.phase();
  j["source_partner"] = n.source_partner();
  j["recipient_partner"] = n.recipient_partner();
  j["categories"] = std::vector<std::string>(n.categories().begin(), n.categories().end());
  j["purpose"] = n.purpose();
  j["legal_basis"] = n.legal_basis();
  j["rule_ids"] = std::vector<std::string>(n.rule_ids().begin(), n.rule_ids().end());
  j["justification"] = n.justification();
  j["audit_index"] = n.audit_index();
  j["why"] = NoticeWhy(n);
  // Invalid UTF-8 from the gateway is replaced, never thrown over.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Status RunAuditNotices(const AuditNoticesArgs& a, CliContext& ctx) {
  KP_ASSIGN_OR_RETURN(client::ClientConfig config, client::LoadClientConfig(a.config));
  KP_ASSIGN_OR_RETURN(Identity me, Identity::LoadFile(config.identity, TerminalOrEnvPassphraseProvider()));
  if (me.kind() != ParticipantKind::kPrivacyOfficer) {
    return PermissionDeniedError("only a privacy officer receives notices; " + config.identity + " is a " +
                                 std::string(ParticipantKindName(me.kind())));
  }
  KP_ASSIGN_OR_RETURN(PublicCard gateway, PublicCard::LoadFile(config.gateway_card));
  KP_ASSIGN_OR_RETURN(auto conn,
                      client::GatewayConnection::Open(config.gateway_endpoint, gateway, me, SystemClock::Get()));
  const int timeout_ms = static_cast<int>(config.timeout_ms);
  KP_ASSIGN_OR_RETURN(client::FetchedNotices fetched, client::FetchPrivacyNotices(*conn, gateway, me, timeout_ms));

  std::vector<std::string> ids;
  for (const auto& n : fetched.notices) {
    ctx.out << (a.json ? NoticeJson(n) : NoticeLine(n)) << "\n";
    ids.push_back(n.notice_id);
  }
  ctx.out.flush();
  if (ids.empty()) {
    (a.json ? ctx.err : ctx.out) << "no notices for " << me.id() << "\n";
  } else {
    // Printed first, then acknowledged: a notice is never gone unseen.
    KP_ASSIGN_OR_RETURN(client::FetchedNotices after,
                        client::AcknowledgePrivacyNotices(*conn, gateway, me, ids, timeout_ms));
    ctx.err << ids.size() << " notice(s) acknowledged; the gateway no longer holds them\n";
    if (!after.notices.empty()) {
      ctx.err << after.notices.size()
              << " more notice(s) came in meanwhile and stay held: run `ketenpoort audit notices` again\n";
    }
  }
  if (!fetched.rejected.empty()) {
    std::string why;
    for (const auto& r : fetched.rejected) why += "\n  " + NoticeText(r);
    return UnauthenticatedError(std::to_string(fetched.rejected.size()) +
                                " message(s) in your inbox were not shown and not acknowledged:" + why);
  }
  return OkStatus();
}

}  // namespace

void RegisterAuditNoticesCommand(CLI::App& app, CliContext& ctx) {
  CLI::App* audit = app.get_subcommand("audit");
  auto a = std::make_shared<AuditNoticesArgs>();
  CLI::App* cmd = audit->add_subcommand(
      "notices", "Fetch, print and acknowledge the notices the gateway holds for you (privacy officer)");
  AddConfig(cmd, a->config);
  cmd->add_flag("--json", a->json, "One JSON object per line instead of text");
  cmd->callback(Guard(ctx, [a, &ctx] { return RunAuditNotices(*a, ctx); }));
}

}  // namespace kp::cli
