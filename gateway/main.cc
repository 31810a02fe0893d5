// ketenpoort-gateway: the central broker. Thin by design (STYLE.md): parse
// flags, load config, build the Gateway, run it. Signals (core/base/signals.h):
// SIGTERM/SIGINT stop after in-flight work, with the audit log durable, exit
// 0; SIGHUP reloads the registry and the policy and the gateway keeps serving.
// The signals are blocked in every thread but the forwarder's, so none
// interrupts the gateway's own system calls.
#include <cstdlib>

#include <CLI/CLI.hpp>
#include <iostream>

#include "core/base/logging.h"
#include "core/base/process.h"
#include "core/base/signals.h"
#include "core/base/version.h"
#include "core/envelope/wire_format.h"
#include "core/observe/service_monitor.h"
#include "gateway/backup.h"
#include "gateway/backup_crypto.h"
#include "gateway/gateway.h"
#include "gateway/gateway_check.h"

namespace {

int Run(const std::string& config_path) {
  // First, before any thread starts, so every thread inherits the block and
  // the forwarder's thread alone receives the signals. Handlers are
  // installed now, so a signal during start-up is remembered, not fatal.
  if (kp::Status s = kp::SetUpServiceSignals(); !s.ok()) {
    std::cerr << "error: " << s.message() << "\n";
    return 1;
  }
  auto config = kp::gateway::LoadGatewayConfig(config_path);
  if (!config.ok()) {
    std::cerr << "error: " << config.status().message() << "\n";
    return 1;
  }
  kp::InitLogging("ketenpoort-gateway", config->log_level);
  // Everything it starts with is loaded in one place (gateway/startup.h).
  auto gateway = kp::gateway::Gateway::Create(*config, kp::SystemClock::Get());
  if (!gateway.ok()) {
    spdlog::critical("cannot start: {}", gateway.status().message());
    return 1;
  }
  kp::gateway::Gateway* g = gateway->get();
  // GET /status and /metrics on `management:` (core/observe/service_monitor.h).
  auto monitor = kp::observe::ServiceMonitor::Start(config->management, config->management_explicit, "gateway");
  if (!monitor.ok()) {
    spdlog::critical("cannot start: {}", monitor.status().message());
    return 1;
  }
  g->AttachMonitor(monitor->get(), std::string(kp::Version()));
  // The online backup's routes (gateway/backup.h); the monitor, made after
  // the gateway, stops serving before the gateway goes.
  if (*monitor != nullptr) {
    if (kp::Status s = g->AddBackupRoutes((*monitor)->server()); !s.ok()) {
      spdlog::warn("online backup unavailable: {}", s.message());
    }
  }
  // Fault injection for the crash-consistency tests (tests/gateway/
  // gateway_crash_test.cc): KP_FAULT_CRASH_AT=<point>:<n> exits at once, as
  // kill -9 would, the n-th time a unit of work reaches that point.
  if (const char* crash = std::getenv("KP_FAULT_CRASH_AT"); crash != nullptr) {
    std::string spec(crash);
    const size_t colon = spec.find(':');
    const int nth = colon == std::string::npos ? 1 : std::atoi(spec.c_str() + colon + 1);
    g->SetCrashPoint(spec.substr(0, colon), nth > 0 ? nth : 1);
    spdlog::warn("fault injection: the gateway will crash at {}", spec);
  }
  // A signal that came while starting is acted on now.
  auto signals = kp::SignalForwarder::Start(
      [g] {
        spdlog::info("stop requested (signal {}): finishing in-flight work", kp::StopSignal());
        g->RequestStop();
      },
      [g] {
        spdlog::info("reload requested (SIGHUP)");
        g->RequestReload();
      });
  if (!signals.ok()) {
    spdlog::critical("{}", signals.status().message());
    return 1;
  }
  kp::Status s = (*gateway)->Run();
  signals->reset();
  if (!s.ok()) {
    spdlog::critical("stopped: {}", s.message());
    return 1;
  }
  return 0;
}

// `status`: asks the running gateway of this configuration (GET /status on
// its management address); exit 0 running, 1 running with warnings, 2 bad
// configuration, 3 not running.
int Status(const std::string& config_path, bool json) {
  auto config = kp::gateway::LoadGatewayConfig(config_path);
  if (!config.ok()) {
    std::cerr << "error: " << config.status().message() << "\n";
    return kp::observe::kStatusBadConfig;
  }
  return kp::observe::RunStatusCommand(config->management, "gateway", config->data_dir, json, std::cout, std::cerr);
}

// `backup` and `restore` (gateway/backup.h; docs/operations.md, "Backup and
// restore"): exit 0 done, 1 failed (nothing restored), 2 bad configuration.
int Backup(const std::string& config_path, const std::string& out, const std::string& encrypt_to) {
  auto config = kp::gateway::LoadGatewayConfig(config_path);
  if (!config.ok()) {
    std::cerr << "error: " << config.status().message() << "\n";
    return 2;
  }
  auto r = encrypt_to.empty() ? kp::gateway::MakeBackup(*config, out)
                              : kp::gateway::MakeEncryptedBackup(*config, out, encrypt_to);
  if (!r.ok()) {
    std::cerr << "error: backup failed: " << r.status().message() << "\n";
    return 1;
  }
  kp::gateway::PrintBackupSummary(*r, std::cout);
  if (encrypt_to.empty()) {
    std::cerr << "warning: this backup is NOT encrypted: it holds the case database and the audit log (who "
                 "exchanged what with which case, and when). Use --encrypt-to with a key from backup-keygen "
                 "(docs/operations.md, \"Backup and restore\")\n";
  } else {
    std::cout << "encrypted to the backup key in " << encrypt_to << "; restoring needs its secret half\n";
  }
  return 0;
}

int Restore(const std::string& config_path, const std::string& from, bool force, const std::string& decrypt_with) {
  auto config = kp::gateway::LoadGatewayConfig(config_path);
  if (!config.ok()) {
    std::cerr << "error: " << config.status().message() << "\n";
    return 2;
  }
  if (decrypt_with.empty() && kp::gateway::IsEncryptedBackup(from)) {
    std::cerr << "error: restore failed: " << from
              << " is an encrypted backup: pass --decrypt-with with the backup key's secret file; nothing was "
                 "changed\n";
    return 1;
  }
  auto r = decrypt_with.empty() ? kp::gateway::RestoreBackup(*config, from, force)
                                : kp::gateway::RestoreEncryptedBackup(*config, from, decrypt_with, force);
  if (!r.ok()) {
    std::cerr << "error: restore failed: " << r.status().message() << "\n";
    return 1;
  }
  kp::gateway::PrintRestoreSummary(*r, std::cout);
  return 0;
}

int BackupKeygen(const std::string& prefix) {
  auto made = kp::gateway::MakeBackupKey(prefix);
  if (!made.ok()) {
    std::cerr << "error: " << made.status().message() << "\n";
    return 1;
  }
  std::cout << "backup key " << kp::gateway::BackupKeyFingerprint(made->public_key) << "\n"
            << "  public: " << made->public_path << " (for the gateway: backup --encrypt-to)\n"
            << "  secret: " << made->secret_path
            << " (mode 0600; keep it away from the gateway and its backups: restore --decrypt-with)\n";
  return 0;
}

int Check(const std::string& config_path) {
  auto config = kp::gateway::LoadGatewayConfig(config_path);
  if (!config.ok()) {
    std::cout << "FAIL " << config.status().message() << "\n";
    return 1;
  }
  std::vector<std::string> report;
  auto problems = kp::gateway::CheckGateway(*config, &report);
  for (const auto& line : report) std::cout << "ok   " << line << "\n";
  for (const auto& line : problems) std::cout << "FAIL " << line << "\n";
  std::cout << (problems.empty() ? "the gateway can start\n" : "the gateway cannot start: fix the FAIL lines\n");
  return problems.empty() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (kp::Status s = kp::DisableCoreDumps(); !s.ok()) {
    std::cerr << "error: " << s.message() << "\n";
    return 1;
  }

  CLI::App app{"ketenpoort-gateway: the central broker of Ketenpoort"};
  app.require_subcommand(1);
  app.set_version_flag("--version", kp::VersionLine("ketenpoort-gateway", kp::wire::kProtocolVersion),
                       "Print the version, the git commit and the protocol version, and exit");
  std::string config;
  int rc = 0;
  auto* run = app.add_subcommand("run", "Run the gateway");
  run->add_option("--config", config, "Configuration file")->required();
  run->callback([&] { rc = Run(config); });
  auto* check = app.add_subcommand("check", "Check the configuration, keys, registry, policy and data folder");
  check->add_option("--config", config, "Configuration file")->required();
  check->callback([&] { rc = Check(config); });
  bool status_json = false;
  auto* status = app.add_subcommand("status", "Show what the running gateway is doing (asks its management address)");
  status->add_option("--config", config, "Configuration file")->required();
  status->add_flag("--json", status_json, "Print the report as JSON, as GET /status gives it");
  status->callback([&] { rc = Status(config, status_json); });
  std::string backup_dir;
  auto* backup = app.add_subcommand("backup", "Back up the case database and the audit log (while it runs, or stopped)");
  backup->add_option("--config", config, "Configuration file")->required();
  backup->add_option("--out", backup_dir, "A new or empty folder for the backup")->required();
  std::string key_file;
  backup->add_option("--encrypt-to", key_file,
                     "Encrypt the backup to this public key file (from backup-keygen); without it, a warning");
  backup->callback([&] { rc = Backup(config, backup_dir, key_file); });
  std::string key_prefix;
  auto* keygen =
      app.add_subcommand("backup-keygen", "Make a key pair for encrypted backups: PREFIX.public, PREFIX.secret (0600)");
  keygen->add_option("--out", key_prefix, "Where to write them: PREFIX.public and PREFIX.secret")->required();
  keygen->callback([&] { rc = BackupKeygen(key_prefix); });
  bool force = false;
  auto* restore = app.add_subcommand("restore", "Restore a backup into the (stopped) gateway's data folder");
  restore->add_option("--config", config, "Configuration file")->required();
  restore->add_option("--from", backup_dir, "The backup folder")->required();
  restore->add_flag("--force", force, "Move the data there aside (never deleted) and restore over it");
  restore->add_option("--decrypt-with", key_file, "The backup key's secret file (for an encrypted backup)");
  restore->callback([&] { rc = Restore(config, backup_dir, force, key_file); });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  return rc;
}
