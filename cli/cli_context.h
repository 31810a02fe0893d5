// What every `ketenpoort` subcommand shares: where to print, and the exit
// code it sets. Exit codes are documented in docs/cli.md.
#ifndef KETENPOORT_CLI_CLI_CONTEXT_H_
#define KETENPOORT_CLI_CLI_CONTEXT_H_

#include <CLI/CLI.hpp>

#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "core/base/status.h"

namespace kp::client {
class Coordinator;
}  // namespace kp::client

namespace kp::cli {

enum ExitCode : int {
  kExitOk = 0,
  kExitError = 1,
  kExitUsage = 2,
  kExitRefused = 3,       // refused by policy
  kExitUnavailable = 4,   // gateway unreachable or timed out
  kExitVerification = 5,  // a signature, seal or proof did not verify
};

struct CliContext {
  std::ostream& out = std::cout;
  std::ostream& err = std::cerr;
  int exit_code = kExitOk;

  // Prints "error: <message>" to err and sets the exit code that fits the
  // Status code (Unauthenticated/DataLoss -> 5, PermissionDenied -> 3,
  // Unavailable/DeadlineExceeded -> 4, otherwise 1).
  void Fail(const Status& status);
};

// A subcommand's callback that runs `body`; a failed Status becomes an error
// message and exit code (CliContext::Fail). `ctx` must outlive the callback.
template <typename F>
std::function<void()> Guard(CliContext& ctx, F body) {
  return [&ctx, body] {
    Status s = body();
    if (!s.ok()) ctx.Fail(s);
  };
}

// `--config FILE`: the client configuration (default: $KETENPOORT_CONFIG).
void AddConfig(CLI::App* cmd, std::string& config);

// "a,b,c": ids and codes as the CLI prints them in a listing.
std::string CommaList(const std::vector<std::string>& items);

// The coordinator of the client configuration `config_flag` ("" :
// $KETENPOORT_CONFIG), its store unlocked with the terminal's or the
// environment's passphrase; connected to the gateway when `connect`.
Result<std::unique_ptr<client::Coordinator>> OpenCoordinator(const std::string& config_flag, bool connect);

// Each command group registers its subcommands on `app`; their callbacks set
// ctx.exit_code. `ctx` must outlive `app`'s parse.
void RegisterKeygenCommand(CLI::App& app, CliContext& ctx);
// `pseudonym-key new|show` (pseudonym_key_command.cc).
void RegisterPseudonymKeyCommand(CLI::App& app, CliContext& ctx);
void RegisterEnvelopeCommand(CLI::App& app, CliContext& ctx);
void RegisterRegistryCommand(CLI::App& app, CliContext& ctx);
void RegisterPolicyCommand(CLI::App& app, CliContext& ctx);
void RegisterAuditCommand(CLI::App& app, CliContext& ctx);
// Adds `audit pull` to the audit group: call after RegisterAuditCommand.
void RegisterAuditPullCommand(CLI::App& app, CliContext& ctx);
// Adds `audit read-log-key` (a coordinator's read log key from the signed
// registry) to the audit group: call after RegisterAuditCommand.
void RegisterAuditReadLogCommand(CLI::App& app, CliContext& ctx);
// Adds `audit subject` (AVG art. 15) to the audit group: after RegisterAuditCommand.
void RegisterAuditSubjectCommand(CLI::App& app, CliContext& ctx);
// Adds `audit notices` (the privacy officer's notices) to the audit group:
// call after RegisterAuditCommand.
void RegisterAuditNoticesCommand(CLI::App& app, CliContext& ctx);
// `case ...`, `request`, `inbox`, `purge`: the coordinator's commands.
void RegisterCoordinatorCommands(CLI::App& app, CliContext& ctx);
// `watch`, `signals`: watches and their content-free signals (watch_commands.cc).
void RegisterWatchCommands(CLI::App& app, CliContext& ctx);
// `send`, `pushes`: sending to a partner (push_command.cc).
void RegisterPushCommands(CLI::App& app, CliContext& ctx);
// `console`: the coordinator's web console (docs/console.md).
void RegisterConsoleCommand(CLI::App& app, CliContext& ctx);

// `ketenpoort` itself on `app`: its description, version flag, footer and
// every command group above. cli/main.cc runs it; the tests run commands
// in their own process through it (tests/testing/cli_run.h).
void SetUpKetenpoort(CLI::App& app, CliContext& ctx);

}  // namespace kp::cli

#endif  // KETENPOORT_CLI_CLI_CONTEXT_H_
