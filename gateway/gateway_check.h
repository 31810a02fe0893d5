// `ketenpoort-gateway check`: everything that would stop the gateway from
// starting, all reported at once, in words an operator can act on.
#ifndef KETENPOORT_GATEWAY_GATEWAY_CHECK_H_
#define KETENPOORT_GATEWAY_GATEWAY_CHECK_H_

#include <string>
#include <vector>

#include "gateway/gateway_config.h"

namespace kp::gateway {

// Checks keys (and their file modes), the enrolment card, the signed
// registry (and that the gateway's own card is in it), the policy (lint),
// and that the data folder is usable and not held by a running gateway. Returns one line per problem; empty
// when all is well. `report` receives one line per check that passed.
std::vector<std::string> CheckGateway(const GatewayConfig& config, std::vector<std::string>* report);

}  // namespace kp::gateway

#endif  // KETENPOORT_GATEWAY_GATEWAY_CHECK_H_
