// What a running service says about itself on GET /status, and the
// `status` subcommand of ketenpoort-gateway and ketenpoort-agent that asks
// for it (docs/operations.md "Monitoring"). One format for both services,
// JSON on the wire, text for people.
//
// Ids, counts, hashes and times only: no names, no BSNs, no content.
//
// Value types; not thread-safe to mutate concurrently (a service builds a
// report on its loop thread and hands a copy to the management server).
#ifndef KETENPOORT_CORE_OBSERVE_STATUS_REPORT_H_
#define KETENPOORT_CORE_OBSERVE_STATUS_REPORT_H_

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/status.h"
#include "core/observe/management_server.h"
#include "core/observe/metrics.h"

namespace kp::observe {

// Exit codes of `status` (as LSB init scripts: 3 = not running).
inline constexpr int kStatusRunning = 0;
inline constexpr int kStatusTrouble = 1;      // running, but with warnings (e.g. the audit log not writable)
inline constexpr int kStatusBadConfig = 2;    // the configuration could not be read
inline constexpr int kStatusNotRunning = 3;   // nothing answers (or another process answers)

struct StatusReport {
  std::string service;         // "gateway" or "agent"
  std::string participant_id;  // its own id
  std::string data_dir;        // as configured; `status` checks it is its configuration's
  std::string version;
  int64_t pid = 0;
  int64_t started_ms = 0;
  int64_t now_ms = 0;

  struct Peer {
    std::string id;    // participant id (the gateway's: those connected; the agent's: its gateway)
    std::string kind;  // "agent", "coordinator", "gateway", ...
    int64_t last_seen_ms = 0;
  };
  std::vector<Peer> connected;

  struct Count {
    std::string name;  // "requests waiting for an agent of politie", "approvals waiting"
    int64_t value = 0;
  };
  std::vector<Count> queues;
  std::vector<Count> held;  // messages held for a participant that is away, by participant id

  struct Receipt {
    std::string what;  // "delivery", "request", ...
    std::string id;    // message / request id (hex)
    std::string from;  // participant id
    int64_t at_ms = 0;
  };
  std::optional<Receipt> last_receipt;

  struct AuditLog {
    uint64_t records = 0;
    uint64_t bytes = 0;
    bool writable = true;
  };
  AuditLog audit_log;

  std::vector<ConfigInForce> in_force;  // policy, registry
  std::vector<std::string> warnings;    // e.g. a card that expires within 30 days
};

std::string StatusToJson(const StatusReport& report);
// InvalidArgument when `json` is not a status report (it came over a socket).
Result<StatusReport> StatusFromJson(std::string_view json);
// The report for people: one fact a line, times as UTC and as "N s ago".
std::string StatusToText(const StatusReport& report);

// The `status` subcommand: asks the running service on `address` for GET
// /status and prints it (`json`: as it came). Returns one of the exit codes
// above. `expected_data_dir`: the configuration's data_dir — when another
// process answers on that address, it says so and returns kStatusNotRunning.
int RunStatusCommand(const ManagementAddress& address, std::string_view service, const std::string& expected_data_dir,
                     bool json, std::ostream& out, std::ostream& err);

}  // namespace kp::observe

#endif  // KETENPOORT_CORE_OBSERVE_STATUS_REPORT_H_
