// The registry and the signed policy bundle through the gateway
// (config_distribution.h; docs/protocol.md §3.13).
#include "gateway/config_distribution.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "case/config_update.h"
#include "core/base/clock.h"
#include "core/base/encoding.h"
#include "core/base/file_util.h"
#include "core/crypto/sha256.h"
#include "core/observe/metrics.h"
#include "gateway/gateway_core.h"

namespace kp::gateway {

namespace v1 = ketenpoort::v1;

Result<cases::PolicySet> LoadGatewayPolicySet(const GatewayConfig& config, const PublicCard& enrolment,
                                              const Registry& registry, uint64_t min_serial) {
  cases::PolicySet::Expect expect{enrolment.signing_key, &registry, min_serial, registry.region()};
  return cases::PolicySet::LoadDir(config.policy_bundle, expect);
}

Result<v1::ConfigBundle> ReadConfigBundle(const std::string& registry_dir, const cases::PolicySet* policies) {
  v1::ConfigBundle bundle;
  KP_ASSIGN_OR_RETURN(std::string manifest,
                      ReadFileBounded(registry_dir + "/" + kRegistryManifestName, 1 << 20));
  bundle.set_registry_manifest(std::move(manifest));
  std::error_code ec;
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(registry_dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.ends_with(".card") && e.is_regular_file()) names.push_back(name);
  }
  if (ec) return UnavailableError("cannot read the registry folder " + registry_dir + ": " + ec.message());
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    KP_ASSIGN_OR_RETURN(std::string card, ReadFileBounded(registry_dir + "/" + name, 64 * 1024));
    auto* f = bundle.add_cards();
    f->set_name(name);
    f->set_content(std::move(card));
  }
  if (policies != nullptr && policies->signed_bundle()) {
    bundle.set_policy_manifest(policies->manifest_text());
    for (const auto& [name, bytes] : policies->files()) {
      auto* f = bundle.add_policies();
      f->set_name(name);
      f->set_content(bytes);
    }
  }
  return bundle;
}

namespace {

void FillPolicies(const cases::PolicySet& set, v1::AuditConfig* config) {
  config->set_kind("policy");
  config->set_serial(set.serial());
  config->set_manifest_sha256(HexDecode(set.manifest().sha256_hex).value_or(""));
  for (const auto& p : set.manifest().policies) {
    auto* v = config->add_policies();
    v->set_version(p.version);
    v->set_sha256(HexDecode(p.sha256_hex).value_or(""));
    v->set_effective_from_unix_millis(p.effective_from_ms);
  }
}

}  // namespace

// ------------------------------------------------------------ GatewayCore

Status GatewayCore::LoadConfigForDistribution() {
  if (!config_.policy_bundle.empty()) {
    KP_ASSIGN_OR_RETURN(cases::PolicySet set, LoadGatewayPolicySet(config_, *enrolment_card_, *registry_, 0));
    policy_set_ = std::make_shared<const cases::PolicySet>(std::move(set));
    policy_ = policy_set_->InForceAt(clock_.NowMillis());
    PublishPolicyInForce();
  }
  KP_ASSIGN_OR_RETURN(bundle_, ReadConfigBundle(config_.registry, policy_set_.get()));
  observe::SetConfigInForce({.kind = "registry", .id = "", .serial = registry_serial_,
                             .sha256_hex = HexEncode(Sha256String(bundle_.registry_manifest())),
                             .effective_from_ms = 0, .loaded_ms = clock_.NowMillis()});
  return OkStatus();
}

void GatewayCore::PublishPolicyInForce() {
  if (!policy_set_) return;
  const int64_t now = clock_.NowMillis();
  int64_t from = 0;
  for (const auto& [eff, p] : policy_set_->policies()) {
    if (p == policy_) from = eff;
  }
  observe::SetConfigInForce({.kind = "policy", .id = cases::PolicyVersionId(*policy_), .serial = policy_set_->serial(),
                             .sha256_hex = policy_->sha256_hex(), .effective_from_ms = from, .loaded_ms = now});
}

Result<std::shared_ptr<const policy::Policy>> GatewayCore::ReloadPolicyBundle() {
  const uint64_t before = policy_set_ ? policy_set_->serial() : 0;
  auto set = LoadGatewayPolicySet(config_, *enrolment_card_, *registry_, before);
  if (!set.ok()) {
    v1::AuditRecord r = NewRecord(v1::AUDIT_EVENT_CONFIG_REFUSED, identity_->id());
    r.mutable_config()->set_kind("policy");
    r.mutable_config()->set_previous_serial(before);
    r.set_reason("policy bundle in " + config_.policy_bundle + " refused; serial " + std::to_string(before) +
                 " stays in force: " + set.status().message());
    (void)Audit(std::move(r));
    observe::CountConfigRefused("policy", cases::ConfigRefusalReason(set.status()));
    return set.status();
  }
  if (set->serial() != before) {
    v1::AuditRecord r = NewRecord(v1::AUDIT_EVENT_POLICY_BUNDLE_ACCEPTED, identity_->id());
    FillPolicies(*set, r.mutable_config());
    r.mutable_config()->set_previous_serial(before);
    r.set_reason("policy bundle serial " + std::to_string(set->serial()) + " taken into use");
    (void)Audit(std::move(r));
    policy_set_ = std::make_shared<const cases::PolicySet>(std::move(set).value());
    spdlog::info("policy bundle serial {} taken into use ({} policies; next switch {})", policy_set_->serial(),
                 policy_set_->policies().size(),
                 policy_set_->NextSwitchAfter(clock_.NowMillis()) == 0
                     ? std::string("none")
                     : FormatRfc3339Millis(policy_set_->NextSwitchAfter(clock_.NowMillis())));
  }
  return policy_set_->InForceAt(clock_.NowMillis());
}

void GatewayCore::RefreshConfigBundle() {
  auto fresh = ReadConfigBundle(config_.registry, policy_set_.get());
  if (!fresh.ok()) {
    spdlog::error("the registry and policy bundle cannot be read to serve them: {}", fresh.status().message());
    return;
  }
  const bool changed = fresh->registry_manifest() != bundle_.registry_manifest() ||
                       fresh->policy_manifest() != bundle_.policy_manifest();
  bundle_ = std::move(fresh).value();
  if (!changed) return;
  observe::SetConfigInForce({.kind = "registry", .id = "", .serial = registry_serial_,
                             .sha256_hex = HexEncode(Sha256String(bundle_.registry_manifest())),
                             .effective_from_ms = 0, .loaded_ms = clock_.NowMillis()});
  PublishPolicyInForce();
  // Unasked, to every participant connected now; the others fetch on connect.
  size_t told = 0;
  for (const auto& [id, e] : registry_->entries()) {
    if (id == identity_->id() || presence_(id).empty()) continue;
    if (QueueSigned(id, v1::MESSAGE_KIND_CONFIG_BUNDLE, "", bundle_)) ++told;
  }
  spdlog::info("new registry or policy bundle offered to {} connected participant(s)", told);
}

void GatewayCore::HandleConfigFetch(const VerifiedMessage& m) {
  v1::ConfigFetch fetch;
  if (!fetch.ParseFromString(m.env.body)) {
    return RefuseMessage(m, InvalidArgumentError("the CONFIG_FETCH body does not parse"));
  }
  const uint64_t policy_serial = policy_set_ ? policy_set_->serial() : 0;
  const bool nothing = fetch.registry_serial() == 0 && fetch.policy_serial() == 0;
  if (!nothing && fetch.registry_serial() >= registry_serial_ && fetch.policy_serial() >= policy_serial) {
    return;  // it holds what the gateway holds (or newer): no answer
  }
  (void)QueueSigned(m.sender, v1::MESSAGE_KIND_CONFIG_BUNDLE, m.env.header.message_id(), bundle_);
}

void GatewayCore::SwitchPolicyIfDue(int64_t now_ms) {
  if (!policy_set_) return;
  const auto& due = policy_set_->InForceAt(now_ms);
  if (due == policy_) return;
  const std::string before = cases::PolicyVersionId(*policy_);
  policy_ = due;
  cases_by_head_.clear();  // case histories are folded against the policy in force
  v1::AuditRecord p = NewRecord(v1::AUDIT_EVENT_POLICY_LOADED, identity_->id());
  p.set_reason("policy " + cases::PolicyVersionId(*policy_) + " in force from its effective-from time (bundle serial " +
               std::to_string(policy_set_->serial()) + "); it follows " + before);
  p.mutable_decision()->set_policy_sha256(HexDecode(policy_->sha256_hex()).value_or(""));
  (void)Audit(std::move(p));
  PublishPolicyInForce();
  spdlog::info("policy {} in force now (bundle serial {}); it follows {}", cases::PolicyVersionId(*policy_),
               policy_set_->serial(), before);
}

}  // namespace kp::gateway
