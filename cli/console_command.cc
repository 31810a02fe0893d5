// `ketenpoort console`: the coordinator's web console on this machine
// (docs/console.md). Loads the client configuration, the identity (asking
// for its passphrase when it has one), the store and the region's policy,
// serves the console on 127.0.0.1 and prints the one-time address to open.
// Runs until Ctrl+C (SIGINT) or SIGTERM.
#include <chrono>
#include <thread>

#include "cli/cli_context.h"
#include "client/client_config.h"
#include "client/coordinator.h"
#include "console/console.h"
#include "core/base/clock.h"
#include "core/base/encoding.h"
#include "core/base/signals.h"
#include "core/crypto/sha256.h"
#include "core/identity/passphrase_prompt.h"
#include "policy/policy_loader.h"

namespace kp::cli {
namespace {

struct ConsoleArgs {
  std::string config;
  int port = 8470;
  int idle_minutes = 15;
};

Status RunConsole(const ConsoleArgs& a, CliContext& ctx) {
  KP_ASSIGN_OR_RETURN(client::ClientConfig config, client::LoadClientConfig(a.config));
  KP_ASSIGN_OR_RETURN(auto coordinator, client::Coordinator::Open(config, SystemClock::Get(),
                                                                  TerminalOrEnvPassphraseProvider()));
  // The signed policy bundle the client took from the gateway, else `policy: FILE`.
  auto policy = coordinator->PolicyInForce();
  if (!policy.ok()) {
    return InvalidArgumentError("the console needs the region's policy: " + policy.status().message() +
                                " (docs/console.md)");
  }
  const std::string me = coordinator->identity().id();
  console::ConsoleOptions options;
  options.port = a.port;
  options.idle_ms = static_cast<int64_t>(a.idle_minutes) * 60 * 1000;
  KP_ASSIGN_OR_RETURN(auto server, console::ConsoleServer::Start(std::move(coordinator), *policy,
                                                                 SystemClock::Get(), options));
  std::ostream& out = ctx.out;
  server->OnNewLoginAddress([&out](const std::string& address) {
    out << "Nieuw adres om aan te melden (werkt een keer):\n  " << address << "\n" << std::flush;
  });
  out << "Ketenpoort console voor " << me << " draait op deze computer.\n"
      << "Open dit adres in uw browser (het werkt een keer):\n  " << server->LoginAddress() << "\n"
      << "Stoppen: Ctrl+C. Een sessie eindigt na " << a.idle_minutes << " minuten zonder gebruik.\n"
      << std::flush;
  while (!StopRequested()) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  server->Stop();
  out << "De console is gestopt.\n";
  return OkStatus();
}

}  // namespace

void RegisterConsoleCommand(CLI::App& app, CliContext& ctx) {
  auto a = std::make_shared<ConsoleArgs>();
  CLI::App* cmd =
      app.add_subcommand("console", "The coordinator's web console on this machine (127.0.0.1), in Dutch");
  cmd->add_option("--config", a->config,
                  "Client configuration (default: $KETENPOORT_CONFIG); needs `policy:`");
  cmd->add_option("--port", a->port, "Port on 127.0.0.1 (default 8470)")->check(CLI::Range(1, 65535));
  cmd->add_option("--idle-minutes", a->idle_minutes,
                  "A session ends after this many minutes without use (default 15)")
      ->check(CLI::Range(1, 24 * 60));
  cmd->callback([a, &ctx] {
    Status s = RunConsole(*a, ctx);
    if (!s.ok()) ctx.Fail(s);
  });
}

}  // namespace kp::cli
