// The registry and the policy bundle through the gateway, at the
// coordinator's client (docs/protocol.md §3.13): the same checks as the
// agents' (case/config_update.h, one library for both), kept in the store
// folder (config/registry, config/policy, config/serials).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "case/config_update.h"
#include "client/coordinator.h"
#include "core/base/encoding.h"
#include "core/crypto/sha256.h"
#include "policy/policy_loader.h"

namespace kp::client {

namespace v1 = ketenpoort::v1;

Result<Registry> Coordinator::LoadRegistryFor(const ClientConfig& config,
                                              const std::string& enrolment_public_key) {
  KP_ASSIGN_OR_RETURN(Registry configured, Registry::Load(config.registry, enrolment_public_key));
  const std::string fetched_dir = cases::FetchedRegistryDir(config.store);
  std::error_code ec;
  if (!std::filesystem::exists(fetched_dir + "/" + kRegistryManifestName, ec)) return configured;
  auto fetched = Registry::Load(fetched_dir, enrolment_public_key);
  if (!fetched.ok()) {
    spdlog::warn("the registry kept from the gateway in {} does not load ({}); using {}", fetched_dir,
                 fetched.status().message(), config.registry);
    return configured;
  }
  if (fetched->serial() > configured.serial() && fetched->region() == configured.region())
    return std::move(fetched).value();
  return configured;
}

std::shared_ptr<const cases::PolicySet> Coordinator::LoadPoliciesFor(const ClientConfig& config,
                                                                     const std::string& enrolment_public_key,
                                                                     const Registry& registry) {
  const std::string dir = cases::FetchedPolicyDir(config.store);
  std::error_code ec;
  if (!std::filesystem::exists(dir + "/" + cases::kPolicyManifestName, ec)) return nullptr;
  auto serials = cases::LoadConfigSerials(config.store);
  if (!serials.ok()) {
    spdlog::warn("the policy bundle kept from the gateway in {} is not used: {}", dir,
                 serials.status().message());
    return nullptr;
  }
  auto set =
      cases::PolicySet::LoadDir(dir, {enrolment_public_key, &registry, serials->policy, registry.region()});
  if (!set.ok()) {
    spdlog::warn("the policy bundle kept from the gateway in {} is not used ({}): {}", dir,
                 cases::ConfigRefusalReason(set.status()), set.status().message());
    return nullptr;
  }
  return std::make_shared<const cases::PolicySet>(std::move(set).value());
}

Result<std::shared_ptr<const policy::Policy>> Coordinator::PolicyInForce() const {
  if (policies_) return policies_->InForceAt(clock_.NowMillis());
  if (config_.policy.empty()) {
    return FailedPreconditionError(
        "no policy: the gateway has not served a signed policy bundle to this client yet (it is fetched on "
        "every "
        "connect and kept in " +
        cases::FetchedPolicyDir(config_.store) + "), and the client configuration names no `policy: FILE`");
  }
  return policy::LoadPolicyFile(config_.policy,
                                [](std::string_view text) { return HexEncode(Sha256String(text)); });
}

void Coordinator::SendConfigFetch() {
  auto serials = cases::LoadConfigSerials(config_.store);
  v1::ConfigFetch fetch;
  fetch.set_registry_serial(std::max(registry_->serial(), serials.ok() ? serials->registry : 0));
  fetch.set_policy_serial(std::max(policies_ ? policies_->serial() : 0, serials.ok() ? serials->policy : 0));
  if (auto sent = Send(v1::MESSAGE_KIND_CONFIG_FETCH, fetch.SerializeAsString()); !sent.ok()) {
    spdlog::debug("no CONFIG_FETCH sent: {}", sent.status().message());
  }
}

void Coordinator::TakeConfigBundle(const VerifiedEnvelope& env) {
  v1::ConfigBundle bundle;
  if (!ParseBody(env.body, bundle).ok()) return;
  auto serials = cases::LoadConfigSerials(config_.store);
  if (!serials.ok()) {
    spdlog::warn("registry and policy from the gateway not taken: {}", serials.status().message());
    return;
  }
  const uint64_t before = registry_->serial();
  const uint64_t policy_before = policies_ ? policies_->serial() : 0;
  cases::ConfigUpdate up = cases::AcceptConfigBundle(bundle, config_.store, enrolment_public_key_, *registry_,
                                                     policy_before, &*serials, clock_.NowMillis());
  if (!up.registry_refused.ok()) {
    spdlog::warn("registry serial {} from the gateway refused ({}); serial {} stays in force: {}",
                 up.offered_registry_serial, cases::ConfigRefusalReason(up.registry_refused), before,
                 up.registry_refused.message());
    news_.problems.push_back(up.registry_refused);
  }
  if (!up.policy_refused.ok()) {
    spdlog::warn("policy bundle serial {} from the gateway refused ({}); serial {} stays in force: {}",
                 up.offered_policy_serial, cases::ConfigRefusalReason(up.policy_refused), policy_before,
                 up.policy_refused.message());
    news_.problems.push_back(up.policy_refused);
  }
  if (up.policies) {
    policies_ = std::make_shared<const cases::PolicySet>(std::move(*up.policies));
    spdlog::info("policy bundle serial {} from the gateway taken into use ({} policies; was serial {})",
                 policies_->serial(), policies_->policies().size(), policy_before);
  }
  if (!up.registry) return;
  auto listed = up.registry->Find(gateway_->id);
  if (!listed.ok()) {
    spdlog::warn(
        "registry serial {} from the gateway no longer lists the pinned gateway; it is kept but not used",
        up.registry->serial());
    return;
  }
  *registry_ = std::move(*up.registry);
  StaticKeyResolver keys;
  // Every card of a rotation, and the archive's retired cards (old history).
  ForEachSigningKey(*registry_, [&keys](const std::string& id, const std::string& key, int64_t valid_before) {
    keys.AddKey(id, key, valid_before);
  });
  keys_ = std::move(keys);
  spdlog::info("registry serial {} from the gateway taken into use (was serial {})", registry_->serial(),
               before);
}

}  // namespace kp::client
