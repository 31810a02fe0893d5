// `ketenpoort-agent inbox` (docs/agent.md, "Receiving"): what this partner
// received from a coordinator, and the notices addressed to its agent. It
// runs as its own process beside the running agent and only reads the data
// folder (receiver.h): ids and metadata, never the content, which stays
// sealed to the agent's key and reaches the partner's staff only through
// the configured sink. `--again ID` offers one item to the sink once more.
//
// Each returns the exit status (0 done, 1 failed) and writes to `out`.
#ifndef KETENPOORT_AGENT_INBOX_COMMAND_H_
#define KETENPOORT_AGENT_INBOX_COMMAND_H_

#include <ostream>
#include <string>

#include "agent/agent_config.h"

namespace kp::agent {

// Lists what arrived (id, case, from, purpose, categories, when, handed to
// the sink or waiting) and the notices (when, case, kind, reason code),
// oldest first; as JSON when `json`.
int ListInbox(const AgentConfig& config, bool json, std::ostream& out);

// Removes the "taken" mark of the item `id_hex`: the running agent hands it
// to the sink again at its next retry (sink.retry).
int HandOverAgain(const AgentConfig& config, const std::string& id_hex, std::ostream& out);

}  // namespace kp::agent

#endif  // KETENPOORT_AGENT_INBOX_COMMAND_H_
