#include "agent/agent_check.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "agent/agent.h"
#include "core/audit/storage.h"
#include "core/base/file_util.h"
#include "core/transport/dealer_client.h"
#include "core/transport/transport_context.h"

namespace kp::agent {

namespace {

// What this agent can do: answer requests (its data sources) and receive
// what the coordinator sends (its sink; docs/agent.md "Receiving").
void ReportCapabilities(const AgentConfig& config, std::vector<std::string>* report,
                        std::vector<std::string>* problems) {
  if (config.sources.empty()) {
    report->push_back("answers no requests: no data source is configured (this agent only receives)");
  } else {
    std::string names;
    for (const auto& [category, source] : config.sources) names += (names.empty() ? "" : ", ") + category;
    report->push_back("answers requests for " + std::to_string(config.sources.size()) + " categor" +
                      (config.sources.size() == 1 ? "y" : "ies") + ": " + names);
  }
  const SinkConfig& sink = config.sink;
  if (!sink.folder.empty()) {
    struct stat st {};
    if (::stat(sink.folder.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      problems->push_back("the sink folder " + sink.folder + " does not exist: make it, or correct sink.folder");
    } else if (::access(sink.folder.c_str(), W_OK) != 0) {
      problems->push_back("the sink folder " + sink.folder + " is not writable for this user");
    } else {
      report->push_back("receives what the coordinator sends and hands each item to the folder " + sink.folder +
                        " as <id>.json");
    }
  } else if (!sink.argv.empty()) {
    if (::access(sink.argv[0].c_str(), X_OK) != 0) {
      problems->push_back("the sink command " + sink.argv[0] + " is not an executable file for this user");
    } else {
      report->push_back("receives what the coordinator sends and hands each item to the command " + sink.argv[0] +
                        " (JSON on stdin)");
    }
  } else {
    report->push_back("receives what the coordinator sends and keeps it sealed in " + config.data_dir +
                      "/received; no sink is configured, so nothing is handed over (`ketenpoort-agent inbox` "
                      "lists it)");
  }
}

}  // namespace

std::vector<std::string> CheckAgent(const AgentConfig& config, std::vector<std::string>* report,
                                    int handshake_timeout_ms) {
  std::vector<std::string> problems;
  auto parts = LoadAgentParts(config, &problems, report);

  // The data folder: exists (or can be made), private, writable.
  struct stat st {};
  if (::stat(config.data_dir.c_str(), &st) != 0) {
    if (::access(std::filesystem::path(config.data_dir).parent_path().c_str(), W_OK) != 0) {
      problems.push_back("the data folder " + config.data_dir + " does not exist and cannot be made");
    } else {
      report->push_back("data folder " + config.data_dir + " will be made at start (mode 0700)");
    }
  } else if (Status s = CheckDirNotGroupOrWorldWritable(config.data_dir); !s.ok()) {
    problems.push_back(s.message());
  } else if (::access(config.data_dir.c_str(), W_OK) != 0) {
    problems.push_back("the data folder " + config.data_dir + " is not writable for this user");
  } else {
    report->push_back("data folder " + config.data_dir + " is private and writable");
    // A running agent holds its disclosure log's folder lock (flock on
    // data_dir/audit/LOCK) for as long as it runs. Taking it for a moment
    // is the only test that does not guess; an agent starting in that
    // moment would be refused and can be started again.
    const std::string audit_dir = Agent::AuditDir(config);
    if (::access((audit_dir + "/LOCK").c_str(), F_OK) == 0) {
      auto lock = audit::PosixStorage().LockFolder(audit_dir);
      if (lock.ok()) {
        report->push_back("no other agent is running with this data folder");
      } else if (lock.status().code() == StatusCode::kUnavailable) {
        problems.push_back("another ketenpoort-agent is running with the data folder " + config.data_dir +
                           " (it holds " + audit_dir + "/LOCK); stop it first (systemctl stop ketenpoort-agent), "
                           "or give this configuration a data_dir of its own");
      } else {
        problems.push_back("cannot look at the disclosure log's lock: " + lock.status().message());
      }
    }
  }

  ReportCapabilities(config, report, &problems);

  // A postgres source over the network that does not verify the server: allowed
  // (a partner may choose it on a network it trusts), but said out loud.
  for (const auto& [category, source] : config.sources) {
    const PostgresSourceConfig& pg = source.postgres;
    if (source.kind == ConnectorConfig::Kind::kPostgres && !pg.host.empty() && pg.host[0] != '/' &&
        (pg.sslmode == "disable" || pg.sslmode == "require")) {
      report->push_back("warning: the data source for " + category + " reaches the database at " + pg.host +
                        " with sslmode " + pg.sslmode + ", which does not check whose server answers (" +
                        (pg.sslmode == "disable" ? "and does not encrypt" : "encrypted only") +
                        "); use sslmode verify-full with sslrootcert");
    }
  }

  if (!parts.has_value()) {
    // Sources that did load can still be tried below only with a full set of
    // parts; the connection needs the identity and the gateway card.
    return problems;
  }

  if (config.test_subject.has_value()) {
    for (const auto& [category, source] : parts->sources) {
      auto records = source->Query(*config.test_subject);
      if (!records.ok()) {
        problems.push_back("data source for " + category + " (" + source->Describe() +
                           ") failed for the test subject: " + records.status().message());
      } else {
        report->push_back("data source for " + category + " answered for the test subject: " +
                          std::to_string(records->size()) + " record(s)");
      }
    }
  } else {
    report->push_back("no test_subject in the config: the data sources were opened but not queried");
  }

  TransportContext context;
  DealerOptions options;
  options.endpoint = config.gateway_endpoint;
  options.server_public_key = parts->gateway->transport_key;
  auto dealer = DealerClient::Create(context.get(), parts->identity->transport().public_key,
                                     parts->identity->transport().secret_key, options);
  if (!dealer.ok()) {
    problems.push_back("cannot connect to the gateway: " + dealer.status().message());
    return problems;
  }
  switch ((*dealer)->WaitForHandshake(handshake_timeout_ms)) {
    case ConnectionState::kConnected:
      report->push_back("the gateway at " + config.gateway_endpoint + " admitted this agent's key");
      break;
    case ConnectionState::kRefused:
      problems.push_back(
          "refused by the gateway at " + config.gateway_endpoint +
          ": this key is not enrolled there (or the pinned gateway card is not that gateway's)");
      break;
    default:
      problems.push_back("gateway unreachable at " + config.gateway_endpoint + " (no answer within " +
                         std::to_string(handshake_timeout_ms / 1000) +
                         " s): check the address, the firewall, and "
                         "that the gateway runs");
  }
  return problems;
}

}  // namespace kp::agent
