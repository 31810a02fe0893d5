// Start-up of a gateway, in one place for `ketenpoort-gateway run`,
// `ketenpoort-gateway check`, the tests and the benchmarks: the gateway's own
// identity, the pinned enrolment card, the signed registry, the policy, the
// data folder, the case database and the audit trail.
//
// The loaders are separate so that `check` can report each problem on its
// own line; OpenGatewayParts() runs them all, in the order a start needs.
// Nothing here touches a socket.
#ifndef KETENPOORT_GATEWAY_STARTUP_H_
#define KETENPOORT_GATEWAY_STARTUP_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/base/status.h"
#include "core/identity/identity.h"
#include "core/identity/registry.h"
#include "gateway/audit_trail.h"
#include "gateway/case_store.h"
#include "gateway/gateway_config.h"
#include "policy/policy_engine.h"

namespace kp::gateway {

// Where the audit log of a configuration lives (data_dir/audit), and its
// case database (data_dir/cases.db).
std::string AuditDir(const GatewayConfig& config);
std::string CaseDatabasePath(const GatewayConfig& config);

// The gateway's secret identity (it must be of kind gateway).
Result<Identity> LoadGatewayIdentity(const GatewayConfig& config);
// The pinned enrolment card (it must be of kind enrolment).
Result<PublicCard> LoadEnrolmentCard(const GatewayConfig& config);
// The signed registry, verified with the enrolment card, with a serial not
// below `min_serial`; it must hold the gateway's own card, matching its keys.
Result<Registry> LoadGatewayRegistry(const GatewayConfig& config, const PublicCard& enrolment,
                                     const Identity& identity, uint64_t min_serial = 0);
// The policy, linted; its hash is the SHA-256 of the file's text.
Result<std::shared_ptr<const policy::Policy>> LoadGatewayPolicy(const GatewayConfig& config);
// Creates the data folder (0700) when missing; refuses one that others may
// write to.
Status PrepareDataDir(const GatewayConfig& config);

// Everything a gateway starts with. Owns its parts; `audit` borrows
// `*identity` (the identity must outlive the trail, as it does here).
struct GatewayParts {
  GatewayConfig config;
  std::unique_ptr<Identity> identity;
  std::unique_ptr<PublicCard> enrolment_card;
  std::unique_ptr<Registry> registry;
  std::shared_ptr<const policy::Policy> policy;
  std::unique_ptr<CaseStore> store;
  std::unique_ptr<AuditTrail> audit;
};

struct StartupOptions {
  // When set, used instead of opening the log in AuditDir(config).
  std::unique_ptr<AuditTrail> audit;
  // When set, wraps the trail (tests inject write failures this way).
  std::function<std::unique_ptr<AuditTrail>(std::unique_ptr<AuditTrail>)> wrap_audit;
};

// Loads the identity, the enrolment card, the registry and the policy;
// prepares the data folder; opens the case database and the audit trail.
Result<GatewayParts> OpenGatewayParts(const GatewayConfig& config, StartupOptions options = {});

}  // namespace kp::gateway

#endif  // KETENPOORT_GATEWAY_STARTUP_H_
