// `ketenpoort-agent approvals list|approve|decline` and `ketenpoort-agent
// consent record|withdraw` (docs/agent.md, "The source's professional
// decides"; docs/cli.md). They run as their own process beside the running
// agent and work on its data folder's approval queue (approvals.h): the
// agent acts on what they write at its next look (within a second).
//
// Each returns the exit status (0 done, 1 refused or failed) and writes what
// happened to `out`, in words partner IT and the professional understand.
#ifndef KETENPOORT_AGENT_APPROVAL_COMMANDS_H_
#define KETENPOORT_AGENT_APPROVAL_COMMANDS_H_

#include <cstdint>
#include <ostream>
#include <string>

#include "agent/agent_config.h"
#include "core/base/clock.h"

namespace kp::agent {

// Waiting (and decided, not yet acted on) requests; `all`: also the settled.
int ListApprovals(const AgentConfig& config, bool all, const Clock& clock, std::ostream& out);

// Approves or declines the request whose id starts with `id`, as `by` (the
// professional's name and function). A decline needs a reason; it goes to the
// coordinator, so it must not hold personal data (a run of 8 or more digits
// is refused: a BSN or a phone number). Waits up to `wait_ms` for the
// running agent to act on it and says what it did.
int DecideApproval(const AgentConfig& config, const std::string& id, bool approve, const std::string& by,
                   const std::string& reason, int64_t wait_ms, const Clock& clock, std::ostream& out);

struct ConsentArgs {
  std::string case_id, subject_ref, purpose;
  std::string until;     // YYYY-MM-DD, the last day it holds (record)
  std::string given_by;  // subject, parents, or subject,parents (record; default subject)
  int age = -1;          // the subject's age in years when it was given; -1: not stated
  std::string by;        // who at the partner records it
  bool withdraw = false;
};
// Writes the consent (or its withdrawal) for the agent to send to the
// gateway and waits up to `wait_ms` for the gateway's confirmation.
int RecordSourceConsent(const AgentConfig& config, const ConsentArgs& args, int64_t wait_ms, const Clock& clock,
                        std::ostream& out);

}  // namespace kp::agent

#endif  // KETENPOORT_AGENT_APPROVAL_COMMANDS_H_
