// The registry and the policy bundle through the gateway, at the
// coordinator's client (docs/protocol.md §3.13): the same checks as the
// agents' (case/config_update.h), kept in the store folder (config/).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <limits>

#include "case/config_update.h"
#include "client/coordinator.h"

namespace kp::client {

namespace v1 = ketenpoort::v1;

Result<Registry> Coordinator::LoadRegistryFor(const ClientConfig& config, const std::string& enrolment_public_key) {
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
  if (fetched->serial() > configured.serial() && fetched->region() == configured.region()) return std::move(fetched).value();
  return configured;
}

void Coordinator::SendConfigFetch() {
  auto serials = cases::LoadConfigSerials(config_.store);
  v1::ConfigFetch fetch;
  fetch.set_registry_serial(std::max(registry_->serial(), serials.ok() ? serials->registry : 0));
  // The client takes registries only (it checks answers with the registry;
  // its policy is its own file): the largest serial says "no policy bundle".
  fetch.set_policy_serial(std::numeric_limits<uint64_t>::max());
  if (auto sent = Send(v1::MESSAGE_KIND_CONFIG_FETCH, fetch.SerializeAsString()); !sent.ok()) {
    spdlog::debug("no CONFIG_FETCH sent: {}", sent.status().message());
  }
}

void Coordinator::TakeConfigBundle(const VerifiedEnvelope& env) {
  v1::ConfigBundle bundle;
  if (!ParseBody(env.body, bundle).ok()) return;
  auto serials = cases::LoadConfigSerials(config_.store);
  if (!serials.ok()) {
    spdlog::warn("registry from the gateway not taken: {}", serials.status().message());
    return;
  }
  bundle.clear_policy_manifest();  // the client checks answers with the registry; its policy is its own file
  bundle.clear_policies();
  const uint64_t before = registry_->serial();
  cases::ConfigUpdate up = cases::AcceptConfigBundle(bundle, config_.store, enrolment_public_key_, *registry_,
                                                     serials->policy, &*serials, clock_.NowMillis());
  if (!up.registry_refused.ok()) {
    spdlog::warn("registry serial {} from the gateway refused ({}); serial {} stays in force: {}",
                 up.offered_registry_serial, cases::ConfigRefusalReason(up.registry_refused), before,
                 up.registry_refused.message());
    news_.problems.push_back(up.registry_refused);
    return;
  }
  if (!up.registry) return;
  auto listed = up.registry->Find(gateway_->id);
  if (!listed.ok()) {
    spdlog::warn("registry serial {} from the gateway no longer lists the pinned gateway; it is kept but not used",
                 up.registry->serial());
    return;
  }
  *registry_ = std::move(*up.registry);
  StaticKeyResolver keys;
  for (const auto& [id, e] : registry_->entries()) {
    for (const auto& card : e.cards) keys.AddKey(id, card.signing_key, card.expires_ms);  // every card of a rotation
  }
  keys_ = std::move(keys);
  spdlog::info("registry serial {} from the gateway taken into use (was serial {})", registry_->serial(), before);
}

}  // namespace kp::client
