// `ketenpoort audit pull`: the privacy officer copies the gateway's audit log
// over the same authenticated channel, to verify it on their own machine.
#include "cli/cli_context.h"
#include "client/audit_pull.h"
#include "core/base/clock.h"
#include "core/identity/passphrase_prompt.h"

namespace kp::cli {
namespace {

struct PullArgs {
  std::string gateway;
  std::string gateway_card;
  std::string identity;
  std::string out;
  int timeout_s = 30;
};

Status RunPull(const PullArgs& a, CliContext& ctx) {
  KP_ASSIGN_OR_RETURN(Identity me, Identity::LoadFile(a.identity, TerminalOrEnvPassphraseProvider()));
  if (me.kind() != ParticipantKind::kPrivacyOfficer) {
    return PermissionDeniedError("only a privacy officer may pull the audit log; " + a.identity + " is a " +
                                 std::string(ParticipantKindName(me.kind())));
  }
  KP_ASSIGN_OR_RETURN(PublicCard gateway, PublicCard::LoadFile(a.gateway_card));
  KP_ASSIGN_OR_RETURN(auto conn, client::GatewayConnection::Open(a.gateway, gateway, me, SystemClock::Get()));
  KP_ASSIGN_OR_RETURN(client::PullSummary s, client::PullAuditLog(*conn, a.out, a.timeout_s * 1000));
  ctx.out << "pulled " << s.files << " files (" << s.bytes << " bytes) into " << a.out << "\n"
          << "verify it with: ketenpoort audit verify " << a.out
          << " --key <the gateway's log key you pinned> --checkpoint <checkpoints you kept>\n";
  return OkStatus();
}

}  // namespace

void RegisterAuditPullCommand(CLI::App& app, CliContext& ctx) {
  CLI::App* audit = app.get_subcommand("audit");
  auto a = std::make_shared<PullArgs>();
  CLI::App* cmd = audit->add_subcommand("pull", "Copy the gateway's audit log to this machine (privacy officer)");
  cmd->add_option("--gateway", a->gateway, "Gateway endpoint, e.g. tcp://gateway.zvh.local:7400")->required();
  cmd->add_option("--gateway-card", a->gateway_card, "The gateway's public card (pinned)")->required();
  cmd->add_option("--identity", a->identity, "Your secret identity file (kind privacy-officer)")->required();
  cmd->add_option("--out", a->out, "Folder for the copy")->required();
  cmd->add_option("--timeout", a->timeout_s, "Seconds to wait for each answer (default 30)");
  cmd->callback([a, &ctx] {
    Status s = RunPull(*a, ctx);
    if (!s.ok()) ctx.Fail(s);
  });
}

}  // namespace kp::cli
