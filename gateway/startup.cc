#include "gateway/startup.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "core/base/clock.h"
#include "core/base/encoding.h"
#include "core/base/file_util.h"
#include "core/crypto/sha256.h"
#include "gateway/config_distribution.h"
#include "gateway/log_audit_trail.h"
#include "policy/policy_loader.h"

namespace kp::gateway {

std::string AuditDir(const GatewayConfig& config) { return config.data_dir + "/audit"; }
std::string CaseDatabasePath(const GatewayConfig& config) { return config.data_dir + "/cases.db"; }

Result<Identity> LoadGatewayIdentity(const GatewayConfig& config) {
  KP_ASSIGN_OR_RETURN(Identity identity, Identity::LoadFile(config.identity));
  if (identity.kind() != ParticipantKind::kGateway) {
    return InvalidArgumentError(config.identity + " is not a gateway identity (kind " +
                                std::string(ParticipantKindName(identity.kind())) + ")");
  }
  // A key rotation's other key sets beside it (docs/formats.md §2.4): after
  // keygen --activate the audit log is handed over from the previous key
  // (log_audit_trail.cc), as an agent's is.
  KP_RETURN_IF_ERROR(identity.LoadKeyRing(config.identity).status());
  return identity;
}

Result<PublicCard> LoadEnrolmentCard(const GatewayConfig& config) {
  // Its kind and its expiry are checked (docs/formats.md §2.4).
  return LoadPinnedEnrolmentCard(config.enrolment_card, SystemClock::Get().NowMillis());
}

Result<Registry> LoadGatewayRegistry(const GatewayConfig& config, const PublicCard& enrolment,
                                     const Identity& identity, uint64_t min_serial) {
  KP_ASSIGN_OR_RETURN(Registry reg, Registry::Load(config.registry, enrolment.signing_key, min_serial));
  auto self = reg.Find(identity.id());
  if (!self.ok()) {
    return FailedPreconditionError("the gateway's own card (" + identity.id() +
                                   ") is not in the signed registry; ask the enrolment officer to add it");
  }
  KP_RETURN_IF_ERROR(MatchesEntry(identity, **self));
  return reg;
}

Result<std::shared_ptr<const policy::Policy>> LoadGatewayPolicy(const GatewayConfig& config) {
  if (!config.policy_bundle.empty()) {
    // The bundle's policy in force now (config_distribution.cc), checked
    // against the pinned enrolment card and the registry.
    KP_ASSIGN_OR_RETURN(PublicCard enrolment, LoadEnrolmentCard(config));
    KP_ASSIGN_OR_RETURN(Registry registry, Registry::Load(config.registry, enrolment.signing_key));
    KP_ASSIGN_OR_RETURN(cases::PolicySet set, LoadGatewayPolicySet(config, enrolment, registry, 0));
    return set.InForceAt(SystemClock::Get().NowMillis());
  }
  return policy::LoadPolicyFile(config.policy,
                                [](std::string_view text) { return HexEncode(Sha256String(text)); });
}

Status PrepareDataDir(const GatewayConfig& config) {
  if (::mkdir(config.data_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return UnavailableError("cannot create the data folder " + config.data_dir + ": " + std::strerror(errno));
  }
  return CheckDirNotGroupOrWorldWritable(config.data_dir);
}

Result<GatewayParts> OpenGatewayParts(const GatewayConfig& config, StartupOptions options) {
  GatewayParts parts;
  parts.config = config;
  KP_ASSIGN_OR_RETURN(Identity identity, LoadGatewayIdentity(config));
  parts.identity = std::make_unique<Identity>(std::move(identity));
  KP_ASSIGN_OR_RETURN(PublicCard enrolment, LoadEnrolmentCard(config));
  parts.enrolment_card = std::make_unique<PublicCard>(std::move(enrolment));
  KP_ASSIGN_OR_RETURN(Registry registry, LoadGatewayRegistry(config, *parts.enrolment_card, *parts.identity));
  parts.registry = std::make_unique<Registry>(std::move(registry));
  KP_ASSIGN_OR_RETURN(parts.policy, LoadGatewayPolicy(config));
  KP_RETURN_IF_ERROR(PrepareDataDir(config));
  KP_ASSIGN_OR_RETURN(parts.store, CaseStore::Open(CaseDatabasePath(config)));
  if (options.audit != nullptr) {
    parts.audit = std::move(options.audit);
  } else {
    auto trail = LogAuditTrail::Open(AuditDir(config), *parts.identity, config.log_origin);
    if (!trail.ok())
      return Status(trail.status().code(), "cannot open the audit log: " + trail.status().message());
    parts.audit = std::move(trail).value();
  }
  if (options.wrap_audit) parts.audit = options.wrap_audit(std::move(parts.audit));
  return parts;
}

}  // namespace kp::gateway
