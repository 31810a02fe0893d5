// ketenpoort-agent: the partner agent. Thin by design (STYLE.md): parse
// flags, load config, build the Agent, run it. Signals (core/base/signals.h):
// SIGTERM/SIGINT stop after the message at hand, with the disclosure log
// durable, exit 0; SIGHUP is logged and ignored (the agent has nothing to
// reload: restart it for a new configuration). The signals are blocked in
// every thread but the forwarder's, so none interrupts the agent's own
// system calls.
#include <CLI/CLI.hpp>
#include <iostream>

#include "agent/agent.h"
#include "agent/agent_check.h"
#include "core/base/logging.h"
#include "core/base/process.h"
#include "core/base/signals.h"

namespace {

int Run(const std::string& config_path) {
  // First, before any thread starts, so every thread inherits the block and
  // the forwarder's thread alone receives the signals. Handlers are
  // installed now, so a signal during start-up is remembered, not fatal.
  if (kp::Status s = kp::SetUpServiceSignals(); !s.ok()) {
    std::cerr << "error: " << s.message() << "\n";
    return 1;
  }
  auto config = kp::agent::LoadAgentConfig(config_path);
  if (!config.ok()) {
    std::cerr << "error: " << config.status().message() << "\n";
    return 1;
  }
  kp::InitLogging("ketenpoort-agent", config->log_level);
  auto agent = kp::agent::Agent::Create(*config, kp::SystemClock::Get());
  if (!agent.ok()) {
    spdlog::critical("{}", agent.status().message());
    return 1;
  }
  kp::agent::Agent* a = agent->get();
  // A signal that came while starting is acted on now.
  auto signals = kp::SignalForwarder::Start(
      [a] {
        spdlog::info("stop requested (signal {}): finishing the message at hand", kp::StopSignal());
        a->RequestStop();
      },
      [] { spdlog::info("SIGHUP ignored: the agent reloads nothing; restart it to use a new configuration"); });
  if (!signals.ok()) {
    spdlog::critical("{}", signals.status().message());
    return 1;
  }
  kp::Status s = (*agent)->Run();
  signals->reset();
  if (!s.ok()) {
    spdlog::critical("stopped: {}", s.message());
    return 1;
  }
  return 0;
}

int Check(const std::string& config_path) {
  auto config = kp::agent::LoadAgentConfig(config_path);
  if (!config.ok()) {
    std::cout << "FAIL " << config.status().message() << "\n";
    return 1;
  }
  kp::InitLogging("ketenpoort-agent", "warn");
  std::vector<std::string> report;
  auto problems = kp::agent::CheckAgent(*config, &report);
  for (const auto& line : report) std::cout << "ok   " << line << "\n";
  for (const auto& line : problems) std::cout << "FAIL " << line << "\n";
  std::cout << (problems.empty() ? "the agent is ready\n" : "the agent cannot work: fix the FAIL lines\n");
  return problems.empty() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (kp::Status s = kp::DisableCoreDumps(); !s.ok()) {
    std::cerr << "error: " << s.message() << "\n";
    return 1;
  }
  CLI::App app{"ketenpoort-agent: answers authorised requests from this partner's own data"};
  app.require_subcommand(1);
  std::string config;
  int rc = 0;
  auto* run = app.add_subcommand("run", "Run the agent");
  run->add_option("--config", config, "Configuration file")->required();
  run->callback([&] { rc = Run(config); });
  auto* check = app.add_subcommand(
      "check", "Check the config, keys, registry, policy, data sources and the gateway connection");
  check->add_option("--config", config, "Configuration file")->required();
  check->callback([&] { rc = Check(config); });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  return rc;
}
