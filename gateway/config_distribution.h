// The registry and the signed policy bundle through the gateway
// (docs/protocol.md §3.13): the gateway loads the bundle of its
// `policy_bundle:` folder (checked like every receiver checks it: the pinned
// enrolment card, the registry's policy-signer, the serial), puts each of
// its policies in force at its effective-from time, and serves both the
// registry folder and the bundle, byte for byte, as CONFIG_BUNDLE — on a
// CONFIG_FETCH that shows an older serial, and unasked to every connected
// participant when a reload takes a new one into use. It signs neither.
// The GatewayCore parts are in config_distribution.cc.
#ifndef KETENPOORT_GATEWAY_CONFIG_DISTRIBUTION_H_
#define KETENPOORT_GATEWAY_CONFIG_DISTRIBUTION_H_

#include <cstdint>

#include "case/policy_bundle.h"
#include "core/base/status.h"
#include "core/identity/public_card.h"
#include "core/identity/registry.h"
#include "gateway/gateway_config.h"
#include "ketenpoort/v1/messages.pb.h"

namespace kp::gateway {

// The bundle of config.policy_bundle, verified; serial not below `min_serial`.
Result<cases::PolicySet> LoadGatewayPolicySet(const GatewayConfig& config, const PublicCard& enrolment,
                                              const Registry& registry, uint64_t min_serial);

// What the gateway serves: the registry folder's manifest and every card
// file in it, and the bundle's manifest and files (`policies` may be null:
// a gateway with a plain `policy:` file serves the registry only).
Result<ketenpoort::v1::ConfigBundle> ReadConfigBundle(const std::string& registry_dir,
                                                      const cases::PolicySet* policies);

}  // namespace kp::gateway

#endif  // KETENPOORT_GATEWAY_CONFIG_DISTRIBUTION_H_
