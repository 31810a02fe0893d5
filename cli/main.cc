// `ketenpoort`: the command for coordinators, privacy officers, partner IT
// and operators. Thin by design: every command lives in the kp_cli library.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include "cli/cli_context.h"
#include "core/base/process.h"

int main(int argc, char** argv) {
  kp::Status hardened = kp::DisableCoreDumps();
  if (!hardened.ok()) {
    std::cerr << "error: " << hardened.message() << "\n";
    return kp::cli::kExitError;
  }
  // stdout is for results (tables, JSON); library warnings go to stderr.
  auto logger = spdlog::stderr_color_mt("ketenpoort");
  logger->set_level(spdlog::level::warn);
  spdlog::set_default_logger(logger);
  CLI::App app{"Ketenpoort: secure exchange of case fragments for the Veiligheidsteam"};
  app.require_subcommand(1);
  app.footer(
      "Exit codes: 0 ok, 1 error, 2 usage, 3 refused by policy, 4 gateway unreachable or timed out,\n"
      "5 verification failed (a signature, seal or proof did not verify). See docs/cli.md.\n"
      "Client commands find their configuration through --config or KETENPOORT_CONFIG.");
  kp::cli::CliContext ctx;
  kp::cli::RegisterKeygenCommand(app, ctx);
  kp::cli::RegisterEnvelopeCommand(app, ctx);
  kp::cli::RegisterRegistryCommand(app, ctx);
  kp::cli::RegisterPolicyCommand(app, ctx);
  kp::cli::RegisterAuditCommand(app, ctx);
  kp::cli::RegisterAuditPullCommand(app, ctx);
  kp::cli::RegisterCoordinatorCommands(app, ctx);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : kp::cli::kExitUsage;
  }
  return ctx.exit_code;
}
