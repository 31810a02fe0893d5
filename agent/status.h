// The agent's part of /metrics and GET /status (docs/operations.md,
// "Monitoring"); the report itself is made by Agent::PublishStatus
// (agent/status.cc) on the agent's loop thread. Ids and counts only.
#ifndef KETENPOORT_AGENT_STATUS_H_
#define KETENPOORT_AGENT_STATUS_H_

#include <chrono>

#include "core/base/status.h"

namespace kp::agent {

// ketenpoort_agent_refusals_total{code}: a message from the gateway the
// agent refused or dropped, by its canonical status code.
void CountRefusal(const Status& why);
// ketenpoort_audit_append_seconds: one burst's disclosures made durable in
// the agent's own log (one fsync).
void ObserveLogSync(std::chrono::steady_clock::duration took);

}  // namespace kp::agent

#endif  // KETENPOORT_AGENT_STATUS_H_
