// ketenpoort-agent: the partner agent. Thin by design (STYLE.md): parse
// flags, load config, build the Agent, run it. Signals (core/base/signals.h):
// SIGTERM/SIGINT stop after the message at hand, with the disclosure log
// durable, exit 0; SIGHUP reads the registry and the policy again (the
// configured ones and the copies fetched from the gateway) and switches. The signals are blocked in
// every thread but the forwarder's, so none interrupts the agent's own
// system calls.
#include <malloc.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <optional>

#include "agent/agent.h"
#include "agent/agent_check.h"
#include "agent/approval_commands.h"
#include "agent/inbox_command.h"
#include "core/base/logging.h"
#include "core/base/process.h"
#include "core/base/signals.h"
#include "core/base/version.h"
#include "core/envelope/wire_format.h"
#include "core/observe/service_monitor.h"

namespace {

int Run(const std::string& config_path) {
  // One malloc arena: the agent has one working loop (and ZeroMQ's I/O
  // thread); an arena per thread kept each one's free memory resident beside
  // the others' (issue 19, agent memory: ~0.1 MB, and less spread between
  // runs). Before any thread starts.
  ::mallopt(M_ARENA_MAX, 1);
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
  // Loading parsed the policy and the registry: yaml-cpp's node trees took
  // about 1 MB of heap, now free but still resident. Give those pages back
  // before the agent's threads, sockets and databases add their own, so the
  // peak is not the two together (issue 19, agent memory).
  ::malloc_trim(0);
  kp::agent::Agent* a = agent->get();
  // GET /status and /metrics on `management:` (core/observe/service_monitor.h).
  auto monitor = kp::observe::ServiceMonitor::Start(config->management, config->management_explicit, "agent");
  if (!monitor.ok()) {
    spdlog::critical("cannot start: {}", monitor.status().message());
    return 1;
  }
  a->AttachMonitor(monitor->get(), std::string(kp::Version()));
  // A signal that came while starting is acted on now.
  auto signals = kp::SignalForwarder::Start(
      [a] {
        spdlog::info("stop requested (signal {}): finishing the message at hand", kp::StopSignal());
        a->RequestStop();
      },
      [a] {
        spdlog::info("SIGHUP: reading the registry and the policy again");
        a->RequestReload();  // the configured ones and the copies fetched from the gateway (config_updates.cc)
      });
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

// `status`: asks the running agent of this configuration (GET /status on
// its management address); exit 0 running, 1 running with warnings, 2 bad
// configuration, 3 not running.
int Status(const std::string& config_path, bool json) {
  auto config = kp::agent::LoadAgentConfig(config_path);
  if (!config.ok()) {
    std::cerr << "error: " << config.status().message() << "\n";
    return kp::observe::kStatusBadConfig;
  }
  return kp::observe::RunStatusCommand(config->management, "agent", config->data_dir, json, std::cout, std::cerr);
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
  app.set_version_flag("--version", kp::VersionLine("ketenpoort-agent", kp::wire::kProtocolVersion),
                       "Print the version, the git commit and the protocol version, and exit");
  std::string config;
  int rc = 0;
  auto* run = app.add_subcommand("run", "Run the agent");
  run->add_option("--config", config, "Configuration file")->required();
  run->callback([&] { rc = Run(config); });
  auto* check = app.add_subcommand(
      "check", "Check the config, keys, registry, policy, data sources and the gateway connection");
  check->add_option("--config", config, "Configuration file")->required();
  check->callback([&] { rc = Check(config); });
  bool status_json = false;
  auto* status = app.add_subcommand("status", "Show what the running agent is doing (asks its management address)");
  status->add_option("--config", config, "Configuration file")->required();
  status->add_flag("--json", status_json, "Print the report as JSON, as GET /status gives it");
  status->callback([&] { rc = Status(config, status_json); });
  // The approval queue and consents the partner records (approval_commands.h).
  auto load = [&config]() -> std::optional<kp::agent::AgentConfig> {
    auto c = kp::agent::LoadAgentConfig(config);
    if (!c.ok()) {
      std::cerr << "error: " << c.status().message() << "\n";
      return std::nullopt;
    }
    return std::move(*c);
  };
  auto* approvals = app.add_subcommand("approvals", "The requests that wait for a professional of this partner");
  approvals->require_subcommand(1);
  bool all = false;
  std::string approval_id, by, reason;
  int64_t wait_seconds = 10;
  auto* list = approvals->add_subcommand("list", "List the requests that wait for a decision");
  list->add_option("--config", config, "The agent's configuration file")->required();
  list->add_flag("--all", all, "Also the requests decided earlier");
  list->callback([&] {
    auto c = load();
    rc = c ? kp::agent::ListApprovals(*c, all, kp::SystemClock::Get(), std::cout) : 1;
  });
  for (const bool approve : {true, false}) {
    auto* decide = approvals->add_subcommand(approve ? "approve" : "decline",
                                             approve ? "Approve a waiting request: the agent answers it"
                                                     : "Decline a waiting request: the coordinator gets your reason");
    decide->add_option("--config", config, "The agent's configuration file")->required();
    decide->add_option("ID", approval_id, "The request's id as 'approvals list' shows it")->required();
    decide->add_option("--by", by, "Your name and function (kept in the agent's own log)")->required();
    auto* why = decide->add_option("--reason", reason,
                                   approve ? "A note for the agent's own log"
                                           : "Why (sent to the coordinator; no personal data)");
    if (!approve) why->required();
    decide->add_option("--wait", wait_seconds, "Seconds to wait for the running agent to act on it (default 10)");
    decide->callback([&, approve] {
      auto c = load();
      rc = c ? kp::agent::DecideApproval(*c, approval_id, approve, by, reason, wait_seconds * 1000,
                                         kp::SystemClock::Get(), std::cout)
             : 1;
    });
  }
  auto* consent = app.add_subcommand("consent", "Record or withdraw a subject's consent as this partner");
  consent->require_subcommand(1);
  kp::agent::ConsentArgs consent_args;
  for (const bool withdraw : {false, true}) {
    auto* cmd = consent->add_subcommand(withdraw ? "withdraw" : "record",
                                        withdraw ? "Withdraw a consent this partner recorded"
                                                 : "Record a consent the subject gave this partner");
    cmd->add_option("--config", config, "The agent's configuration file")->required();
    cmd->add_option("--case", consent_args.case_id, "The case id, e.g. VT-2026-0042")->required();
    cmd->add_option("--subject", consent_args.subject_ref, "The subject's reference in the case, e.g. S1")->required();
    cmd->add_option("--purpose", consent_args.purpose, "The purpose it is given for (a policy purpose)")->required();
    cmd->add_option("--by", consent_args.by, "Your name and function (kept in the agent's own log)")->required();
    if (!withdraw) {
      cmd->add_option("--until", consent_args.until, "The last day it holds (YYYY-MM-DD)")->required();
      cmd->add_option("--given-by", consent_args.given_by, "subject, parents, or subject,parents (default subject)");
      cmd->add_option("--age", consent_args.age, "The subject's age in years when it was given");
    }
    cmd->add_option("--wait", wait_seconds, "Seconds to wait for the gateway's confirmation (default 10)");
    cmd->callback([&, withdraw] {
      consent_args.withdraw = withdraw;
      auto c = load();
      rc = c ? kp::agent::RecordSourceConsent(*c, consent_args, wait_seconds * 1000, kp::SystemClock::Get(), std::cout)
             : 1;
    });
  }
  // What this partner received (inbox_command.h): ids and metadata only.
  auto* inbox = app.add_subcommand("inbox", "List what the coordinator sent this partner, and notices to this agent");
  inbox->add_option("--config", config, "The agent's configuration file")->required();
  bool inbox_json = false;
  std::string again;
  inbox->add_flag("--json", inbox_json, "Print the list as JSON");
  inbox->add_option("--again", again, "Hand the item with this id to the sink once more");
  inbox->callback([&] {
    auto c = load();
    if (!c) {
      rc = 1;
    } else {
      rc = again.empty() ? kp::agent::ListInbox(*c, inbox_json, std::cout)
                         : kp::agent::HandOverAgain(*c, again, std::cout);
    }
  });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  return rc;
}
