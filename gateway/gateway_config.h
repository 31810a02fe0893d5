// The gateway's configuration file (YAML; docs/operations.md, example in
// deploy/gateway.example.yaml), read with core/config's declared key table:
// loading reports every problem at once, each with its line:column.
#ifndef KETENPOORT_GATEWAY_GATEWAY_CONFIG_H_
#define KETENPOORT_GATEWAY_GATEWAY_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "core/base/duration.h"
#include "core/base/status.h"
#include "core/observe/management_server.h"

namespace kp::gateway {

struct GatewayConfig {
  std::string listen = "tcp://0.0.0.0:7400";
  std::string identity;        // the gateway's secret identity file
  std::string registry;        // folder of cards + registry.signed
  std::string enrolment_card;  // pinned enrolment card
  std::string policy;          // policy file ("" when policy_bundle is set)
  // A signed policy bundle's folder (policy.signed and its files;
  // docs/formats.md §5): its policies take over one after the other at their
  // effective-from times, and it is served to agents and clients
  // (CONFIG_BUNDLE, docs/protocol.md §3.13). Replaces `policy`.
  std::string policy_bundle;
  std::string data_dir;        // cases.db and the audit log live here
  std::string log_level = "info";
  std::string log_origin = "ketenpoort.hart-van-brabant/audit";  // checkpoint origin line
  int64_t request_expiry_ms = 24LL * 3600 * 1000;   // store-and-forward limit
  int64_t inbox_expiry_ms = 7LL * 24 * 3600 * 1000;
  int64_t audit_retention_ms = 5LL * 365 * 24 * 3600 * 1000;  // then erase-expired may erase a record
  // retention: (docs/operations.md, "Retention"). How often the running
  // gateway erases expired record bodies and prunes closed cases.
  int64_t retention_sweep_interval_ms = 3600LL * 1000;
  // A closed case stays in cases.db at least this long after its closure
  // (and until nothing of it is pending): a coordinator that was away learns
  // of the closure, a request or answer sent again within the 30 days the
  // gateway recognises one is answered with its state.
  int64_t closed_case_days = 90;
  int64_t replay_window_ms = 300'000;
  int64_t heartbeat_interval_ms = 5'000;
  int64_t peer_timeout_ms = 15'000;
  size_t max_parked_per_peer = 1'000;
  // management: the address of GET /status and /metrics (docs/operations.md,
  // "Monitoring"); loopback by default, "off" for none. Only `run` starts it.
  observe::ManagementAddress management{.enabled = true, .host = "127.0.0.1", .port = observe::kGatewayManagementPort};
  bool management_explicit = false;  // the file names it (then a busy port stops the start)
};

// Parses the text of a config file. Relative paths are taken relative to the
// folder of `path`. Every problem is listed, one per line, in the error.
Result<GatewayConfig> ParseGatewayConfig(const std::string& text, const std::string& path);
Result<GatewayConfig> LoadGatewayConfig(const std::string& path);

// Durations in the config: "24h", "15m", "30s", "500ms" (core/base/duration.h).
using ::kp::ParseDurationMs;

}  // namespace kp::gateway

#endif  // KETENPOORT_GATEWAY_GATEWAY_CONFIG_H_
