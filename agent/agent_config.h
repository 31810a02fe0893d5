// The agent's configuration file (YAML; docs/agent.md, examples in
// deploy/agent.*.example.yaml), read with core/config's declared key tables.
// Loading reports every problem at once, each with the file's line:column, so
// partner IT can fix them in one go.
#ifndef KETENPOORT_AGENT_AGENT_CONFIG_H_
#define KETENPOORT_AGENT_AGENT_CONFIG_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/connectors/connector.h"
#include "core/base/status.h"
#include "core/observe/management_server.h"

namespace kp::agent {

// Where pushes this agent received go (docs/agent.md "Receiving"): a folder
// (<push id>.json, mode 0600) or a command that gets the JSON on stdin.
struct SinkConfig {
  std::string folder;
  std::vector<std::string> argv;
  int64_t timeout_ms = 30'000;
  int64_t retry_ms = 30'000;  // what the sink did not take is offered again this often
  bool configured() const { return !folder.empty() || !argv.empty(); }
};

struct AgentConfig {
  std::string identity;          // the agent's secret identity file (ketenpoort keygen --kind agent)
  std::string gateway_endpoint;  // e.g. tcp://gateway.zvh.local:7400
  std::string gateway_card;      // pinned: the gateway's public card
  std::string gateway_log_origin =
      "ketenpoort.hart-van-brabant/audit";  // names the gateway's log in checkpoints
  std::string enrolment_card;               // pinned: the region's enrolment card
  std::string registry;                     // folder of cards + registry.signed (a copy of the region's)
  std::string policy;                       // the same policy file the gateway uses
  std::string data_dir;                     // the agent's own disclosure log, receipts and checkpoints
  std::string log_level = "info";
  std::string log_origin;  // origin line of the agent's own log; default "ketenpoort.<partner>/agent-audit"

  int64_t replay_window_ms = 300'000;
  int64_t heartbeat_interval_ms = 5'000;
  int64_t peer_timeout_ms = 15'000;  // nothing from the gateway this long: reconnect
  int64_t reconnect_min_ms = 500;    // capped exponential backoff after a refusal or stall
  int64_t reconnect_max_ms = 30'000;
  int64_t max_request_age_ms = 24LL * 3600 * 1000 + 300'000;  // oldest coordinator request still answered
  int64_t audit_retention_ms = 5LL * 365 * 24 * 3600 * 1000;
  int64_t watch_interval_ms = 30'000;  // watches: how often the sources are asked what changed

  // The partner's own restrictions, on top of the policy.
  std::set<std::string> disabled_categories;  // never answered, whatever the policy says
  bool always_require_consent = false;        // consent evidence required for every disclosure
  // Categories whose every disclosure waits for the partner's own
  // professional (the approval queue), even where the policy does not ask it.
  std::set<std::string> approve_categories;
  // How long a request waits in the approval queue before it expires.
  int64_t approval_time_ms = 72LL * 3600 * 1000;

  // One data source per category this agent answers.
  std::map<std::string, ConnectorConfig> sources;

  // Where received pushes are handed (none: kept in data_dir/received only).
  SinkConfig sink;

  // A made-up subject that `ketenpoort-agent check` looks up in every source.
  std::optional<SubjectQuery> test_subject;

  // management: the address of GET /status and /metrics (docs/operations.md,
  // "Monitoring"); loopback by default, "off" for none. Only `run` starts it.
  observe::ManagementAddress management{
      .enabled = true, .host = "127.0.0.1", .port = observe::kAgentManagementPort};
  bool management_explicit = false;  // the file names it (then a busy port stops the start)

  // Where the postgres and https connector modules are loaded from. Never
  // read from the file: empty means the agent's own folder
  // (ConnectorModuleDir(), agent/connectors/connector_module.h); tests that
  // run an agent in their own process name the build's.
  std::string connector_module_dir;
};

// Parses the text of a config file. Relative paths are taken relative to the
// folder of `path`. Every problem is listed, one per line, in the error.
Result<AgentConfig> ParseAgentConfig(const std::string& text, const std::string& path);
Result<AgentConfig> LoadAgentConfig(const std::string& path);

}  // namespace kp::agent

#endif  // KETENPOORT_AGENT_AGENT_CONFIG_H_
