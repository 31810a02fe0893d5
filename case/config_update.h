// Taking in a registry and a policy bundle that came through the gateway
// (docs/protocol.md §3.13; docs/operations.md, "Rolling out a registry or a
// policy"): one place for agents and clients.
//
// The gateway only forwards what the enrolment office signed. A receiver
// verifies both against its pinned enrolment key, refuses a serial below the
// highest it accepted (kept in DATA_DIR/config/serials, so a restart does not
// forget it), refuses another region, and only then writes the accepted
// files to DATA_DIR/config/registry and DATA_DIR/config/policy (each written
// beside the old and renamed over it). A part that is refused leaves the one
// in force as it is; the other part may still be accepted.
#ifndef KETENPOORT_CASE_CONFIG_UPDATE_H_
#define KETENPOORT_CASE_CONFIG_UPDATE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "case/policy_bundle.h"
#include "core/base/status.h"
#include "core/identity/registry.h"
#include "ketenpoort/v1/messages.pb.h"

namespace kp::cases {

// The highest serials accepted (0: none yet).
struct ConfigSerials {
  uint64_t registry = 0;
  uint64_t policy = 0;
};

// DATA_DIR/config/... (the folders a receiver keeps what it accepted in).
std::string FetchedRegistryDir(const std::string& data_dir);
std::string FetchedPolicyDir(const std::string& data_dir);

// Reads DATA_DIR/config/serials (none yet: zeros). A damaged file is an error.
Result<ConfigSerials> LoadConfigSerials(const std::string& data_dir);
Status SaveConfigSerials(const std::string& data_dir, const ConfigSerials& serials);

// What came of a CONFIG_BUNDLE.
struct ConfigUpdate {
  std::optional<Registry> registry;      // a newer registry, accepted and written
  std::optional<PolicySet> policies;     // a newer policy bundle, accepted and written
  Status registry_refused;               // why the registry part was refused (OK: accepted or not newer)
  Status policy_refused;                 // likewise for the policy part
  uint64_t offered_registry_serial = 0;  // what the bundle held, as far as it could be read
  uint64_t offered_policy_serial = 0;
};

// Verifies `bundle` against `enrolment_public_key` and what is in force
// (`current`: its region must match; a same or lower serial is not taken:
// lower is refused, the same is nothing new) and `serials` (updated and
// saved for what is accepted). A policy bundle is checked against the
// registry accepted with it, else `current`.
ConfigUpdate AcceptConfigBundle(const ketenpoort::v1::ConfigBundle& bundle, const std::string& data_dir,
                                const std::string& enrolment_public_key, const Registry& current,
                                uint64_t current_policy_serial, ConfigSerials* serials, int64_t now_ms);

// The same for a receiver that holds no registry yet (`current` null: an
// agent's first start from the gateway alone, docs/agent.md): the registry
// may be of any region, since the pinned enrolment key signed it (that key
// is the region's); a policy bundle is taken only with a registry, accepted
// with it or kept before in DATA_DIR/config/registry (NotFound otherwise:
// "incomplete").
ConfigUpdate AcceptConfigBundle(const ketenpoort::v1::ConfigBundle& bundle, const std::string& data_dir,
                                const std::string& enrolment_public_key, const Registry* current,
                                uint64_t current_policy_serial, ConfigSerials* serials, int64_t now_ms);

// The reason code of a refusal, for the metric and the log
// (ketenpoort_config_refused_total{reason}): "older", "tampered" (a
// signature or hash that does not verify, a signer that may not sign),
// "foreign-region", "malformed", "incomplete" (a listed file missing),
// "not-written" (the data folder could not take it).
std::string ConfigRefusalReason(const Status& refused);

}  // namespace kp::cases

#endif  // KETENPOORT_CASE_CONFIG_UPDATE_H_
