#include "cli/cli_context.h"

#include "client/client_config.h"
#include "client/coordinator.h"
#include "core/base/clock.h"
#include "core/base/version.h"
#include "core/envelope/wire_format.h"
#include "core/identity/passphrase_prompt.h"

namespace kp::cli {

void AddConfig(CLI::App* cmd, std::string& config) {
  cmd->add_option("--config", config, "Client configuration file (default: $KETENPOORT_CONFIG)");
}

std::string CommaList(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ",") + s;
  return out;
}

Result<std::unique_ptr<client::Coordinator>> OpenCoordinator(const std::string& config_flag, bool connect) {
  KP_ASSIGN_OR_RETURN(client::ClientConfig config, client::LoadClientConfig(config_flag));
  KP_ASSIGN_OR_RETURN(auto c, client::Coordinator::Open(config, SystemClock::Get(),
                                                        TerminalOrEnvPassphraseProvider()));
  if (connect) KP_RETURN_IF_ERROR(c->Connect());
  return c;
}

void SetUpKetenpoort(CLI::App& app, CliContext& ctx) {
  app.description("Ketenpoort: secure exchange of case fragments for the Veiligheidsteam");
  app.require_subcommand(1);
  app.set_version_flag("--version", VersionLine("ketenpoort", wire::kProtocolVersion),
                       "Print the version, the git commit and the protocol version, and exit");
  app.footer(
      "Exit codes: 0 ok, 1 error, 2 usage, 3 refused by policy, 4 gateway unreachable or timed out,\n"
      "5 verification failed (a signature, seal or proof did not verify). See docs/cli.md.\n"
      "Client commands find their configuration through --config or KETENPOORT_CONFIG.");
  RegisterKeygenCommand(app, ctx);
  RegisterPseudonymKeyCommand(app, ctx);
  RegisterEnvelopeCommand(app, ctx);
  RegisterRegistryCommand(app, ctx);
  RegisterPolicyCommand(app, ctx);
  RegisterAuditCommand(app, ctx);
  RegisterAuditPullCommand(app, ctx);
  RegisterAuditReadLogCommand(app, ctx);
  RegisterAuditSubjectCommand(app, ctx);
  RegisterAuditNoticesCommand(app, ctx);
  RegisterCoordinatorCommands(app, ctx);
  RegisterPushCommands(app, ctx);
  RegisterWatchCommands(app, ctx);
  RegisterConsoleCommand(app, ctx);
}

void CliContext::Fail(const Status& status) {
  err << "error: " << status.message() << "\n";
  switch (status.code()) {
    case StatusCode::kUnauthenticated:
    case StatusCode::kDataLoss:
      exit_code = kExitVerification;
      break;
    case StatusCode::kPermissionDenied:
      exit_code = kExitRefused;
      break;
    case StatusCode::kUnavailable:
    case StatusCode::kDeadlineExceeded:
      exit_code = kExitUnavailable;
      break;
    default:
      exit_code = kExitError;
  }
}

}  // namespace kp::cli
