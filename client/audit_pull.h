// The privacy officer's copy of the gateway's audit log (`ketenpoort audit
// pull`), to verify on their own machine with `ketenpoort audit verify`.
#ifndef KETENPOORT_CLIENT_AUDIT_PULL_H_
#define KETENPOORT_CLIENT_AUDIT_PULL_H_

#include <cstdint>
#include <string>

#include "client/gateway_connection.h"

namespace kp::client {

struct PullSummary {
  size_t files = 0;
  uint64_t bytes = 0;
};

// Fetches every file of the log as listed by the gateway at the start of the
// pull (docs/protocol.md, AuditPull) into `out_dir` (made 0700 if missing).
// The copy is only as trustworthy as its verification: run `audit verify`
// with a checkpoint or key you pinned yourself.
Result<PullSummary> PullAuditLog(GatewayConnection& gateway, const std::string& out_dir, int timeout_ms);

}  // namespace kp::client

#endif  // KETENPOORT_CLIENT_AUDIT_PULL_H_
