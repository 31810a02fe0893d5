// `ketenpoort-agent check`: everything that would stop the agent from
// answering, all reported at once, in words partner IT can act on.
#ifndef KETENPOORT_AGENT_AGENT_CHECK_H_
#define KETENPOORT_AGENT_AGENT_CHECK_H_

#include <string>
#include <vector>

#include "agent/agent_config.h"

namespace kp::agent {

// Checks the identity file (and its mode), the pinned gateway and enrolment
// cards, the signed registry (this agent and the gateway in it), the policy
// (lint), every data source (opened, and queried for the config's
// test_subject; a postgres source on a network host without a verified
// server is reported as a warning line), the sink (its folder writable, its
// command executable), the data folder (usable, and not held by a running agent),
// and the gateway connection: reachable, and this key admitted. Returns one
// line per problem, empty when all is well; `report` receives one line per
// check that passed, and what the agent can do: which categories it answers
// (none: it only receives) and where what it receives goes. Never prints
// subject data or records: only counts.
std::vector<std::string> CheckAgent(const AgentConfig& config, std::vector<std::string>* report,
                                    int handshake_timeout_ms = 5000);

}  // namespace kp::agent

#endif  // KETENPOORT_AGENT_AGENT_CHECK_H_
