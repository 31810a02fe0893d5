// The registry and the policy bundle through the gateway, at the agent
// (docs/protocol.md §3.13; docs/agent.md): fetched on every connect, taken
// when the gateway offers a new one, verified against the pinned enrolment
// card (case/config_update.h), and switched to without a restart. A refusal
// keeps what is in force, with a log line, a CONFIG_REFUSED record in the
// agent's own log and a metric.
#include <spdlog/spdlog.h>

#include <filesystem>
#include <optional>
#include <tuple>

#include "agent/agent.h"
#include "agent/receiver.h"
#include "agent/responder.h"
#include "case/config_update.h"
#include "core/base/encoding.h"
#include "core/base/file_util.h"
#include "core/crypto/sha256.h"
#include "core/envelope/wire_format.h"
#include "core/observe/metrics.h"
#include "policy/policy_loader.h"

namespace kp::agent {

namespace v1 = ketenpoort::v1;

Result<std::string> Responder::ConfigFetch() {
  v1::ConfigFetch fetch;
  fetch.set_registry_serial(registry_.serial());
  fetch.set_policy_serial(policy_serial());
  KP_ASSIGN_OR_RETURN(SignedMessage m,
                      signer_.Sign(v1::MESSAGE_KIND_CONFIG_FETCH, "", "", fetch.SerializeAsString()));
  return m.bytes;
}

void Responder::SetConfig(std::optional<Registry> registry,
                          std::shared_ptr<const cases::PolicySet> policies) {
  if (registry.has_value()) {
    registry_ = std::move(*registry);  // in place: chains_ and keys_ refer to it
    StaticKeyResolver keys;
    for (const auto& [id, e] : registry_.entries()) {
      for (const auto& c : e.cards) keys.AddKey(id, c.signing_key, c.expires_ms);  // every card of a rotation
    }
    keys_ = std::move(keys);
    SetGatewayLogKeys();  // a registry of a rotation of the gateway's keys lists its new card
  }
  if (policies) policies_ = std::move(policies);
  if (policies_) policy_ = policies_->InForceAt(clock_.NowMillis());
  chains_.SetContext(cases::FoldContext::Of(policy_.get(), registry_));
  if (options_.receiver != nullptr) {
    options_.receiver->SetConfig(registry.has_value() ? &registry_ : nullptr, policy_, policies_);
  }
  if (policies_) {
    observe::SetConfigInForce({.kind = "policy",
                               .id = cases::PolicyVersionId(*policy_),
                               .serial = policies_->serial(),
                               .sha256_hex = policy_->sha256_hex(),
                               .effective_from_ms = 0,
                               .loaded_ms = clock_.NowMillis()});
  }
}

void Responder::FollowPolicy(int64_t now_ms) {
  if (!policies_) return;
  const auto& due = policies_->InForceAt(now_ms);
  if (due == policy_) return;
  spdlog::info("policy {} in force now (bundle serial {}); it follows {}", cases::PolicyVersionId(*due),
               policies_->serial(), cases::PolicyVersionId(*policy_));
  SetConfig(std::nullopt, nullptr);
}

std::shared_ptr<const policy::Policy> Responder::PolicyForDecision(std::string_view policy_sha256,
                                                                   int64_t asked_ms) const {
  if (policies_ && policy_sha256.size() == 32 && HexEncode(policy_sha256) != policy_->sha256_hex() &&
      policies_->InForceDuring(policy_sha256, asked_ms - options_.replay_window_ms, clock_.NowMillis())) {
    return policies_->BySha(policy_sha256);
  }
  return policy_;
}

Outcome Responder::HandleConfigBundle(const VerifiedEnvelope& env) {
  v1::ConfigBundle bundle;
  if (Status s = ParseBody(env.body, bundle); !s.ok()) return {std::nullopt, s};
  if (options_.enrolment_public_key.empty() || options_.data_dir.empty()) {
    return {std::nullopt, FailedPreconditionError("this agent takes no registry or policy from the gateway")};
  }
  auto serials = cases::LoadConfigSerials(options_.data_dir);
  if (!serials.ok()) {
    spdlog::error("registry and policy from the gateway not taken: {}", serials.status().message());
    return {std::nullopt, serials.status()};
  }
  const uint64_t registry_before = registry_.serial(), policy_before = policy_serial();
  cases::ConfigUpdate up = cases::AcceptConfigBundle(bundle, options_.data_dir, options_.enrolment_public_key,
                                                     registry_, policy_before, &*serials, clock_.NowMillis());
  const auto refused = [&](const char* kind, const Status& why, uint64_t offered, uint64_t before) {
    spdlog::error("{} serial {} from the gateway refused ({}); serial {} stays in force: {}", kind, offered,
                  cases::ConfigRefusalReason(why), before, why.message());
    observe::CountConfigRefused(kind, cases::ConfigRefusalReason(why));
    v1::AuditRecord r = NewRecord(v1::AUDIT_EVENT_CONFIG_REFUSED);
    r.mutable_config()->set_kind(kind);
    r.mutable_config()->set_serial(offered);
    r.mutable_config()->set_previous_serial(before);
    r.set_reason(std::string(kind) + " from the gateway refused: " + why.message());
    AppendAsync(std::move(r));
  };
  if (!up.registry_refused.ok())
    refused("registry", up.registry_refused, up.offered_registry_serial, registry_before);
  if (!up.policy_refused.ok()) refused("policy", up.policy_refused, up.offered_policy_serial, policy_before);
  if (up.registry) {
    v1::AuditRecord r = NewRecord(v1::AUDIT_EVENT_REGISTRY_ACCEPTED);
    r.mutable_config()->set_kind("registry");
    r.mutable_config()->set_serial(up.registry->serial());
    r.mutable_config()->set_previous_serial(registry_before);
    r.mutable_config()->set_manifest_sha256(Sha256String(bundle.registry_manifest()));
    r.set_reason("registry serial " + std::to_string(up.registry->serial()) +
                 " from the gateway taken into use");
    AppendAsync(std::move(r));
    observe::SetConfigInForce({.kind = "registry",
                               .id = "",
                               .serial = up.registry->serial(),
                               .sha256_hex = HexEncode(Sha256String(bundle.registry_manifest())),
                               .effective_from_ms = 0,
                               .loaded_ms = clock_.NowMillis()});
    spdlog::info("registry serial {} from the gateway taken into use ({} participants; was serial {})",
                 up.registry->serial(), up.registry->entries().size(), registry_before);
  }
  std::shared_ptr<const cases::PolicySet> set;
  if (up.policies) {
    set = std::make_shared<const cases::PolicySet>(std::move(*up.policies));
    v1::AuditRecord r = NewRecord(v1::AUDIT_EVENT_POLICY_BUNDLE_ACCEPTED);
    auto* c = r.mutable_config();
    c->set_kind("policy");
    c->set_serial(set->serial());
    c->set_previous_serial(policy_before);
    c->set_manifest_sha256(HexDecode(set->manifest().sha256_hex).value_or(""));
    for (const auto& p : set->manifest().policies) {
      auto* v = c->add_policies();
      v->set_version(p.version);
      v->set_sha256(HexDecode(p.sha256_hex).value_or(""));
      v->set_effective_from_unix_millis(p.effective_from_ms);
    }
    r.set_reason("policy bundle serial " + std::to_string(set->serial()) +
                 " from the gateway taken into use");
    AppendAsync(std::move(r));
    spdlog::info("policy bundle serial {} from the gateway taken into use ({} policies; was serial {})",
                 set->serial(), set->policies().size(), policy_before);
  }
  if (up.registry || set) SetConfig(std::move(up.registry), std::move(set));
  return {};
}

void Receiver::SetConfig(const Registry* registry, std::shared_ptr<const policy::Policy> policy,
                         std::shared_ptr<const cases::PolicySet> policies) {
  if (registry != nullptr) {
    registry_ = *registry;
    StaticKeyResolver keys;
    for (const auto& [id, e] : registry_.entries()) {
      for (const auto& c : e.cards) keys.AddKey(id, c.signing_key, c.expires_ms);  // every card of a rotation
    }
    keys_ = std::move(keys);
  }
  policy_ = std::move(policy);
  policies_ = std::move(policies);
  chains_.SetContext(cases::FoldContext::Of(policy_.get(), registry_));
}

}  // namespace kp::agent

// ------------------------------------------------------------- from disk

namespace kp::agent {
namespace {
bool FileExists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec);
}
}  // namespace

Result<Registry> LoadAgentRegistry(const AgentConfig& config, const std::string& enrolment_public_key) {
  KP_ASSIGN_OR_RETURN(cases::ConfigSerials serials, cases::LoadConfigSerials(config.data_dir));
  std::optional<Result<Registry>> configured, fetched;
  if (!config.registry.empty()) configured = Registry::Load(config.registry, enrolment_public_key);
  const std::string fetched_dir = cases::FetchedRegistryDir(config.data_dir);
  if (FileExists(fetched_dir + "/" + kRegistryManifestName)) {
    fetched = Registry::Load(fetched_dir, enrolment_public_key);
  }
  Result<Registry>* best = nullptr;
  for (auto* r : {configured ? &*configured : nullptr, fetched ? &*fetched : nullptr}) {
    if (r == nullptr || !r->ok()) continue;
    if (best == nullptr || (*r)->serial() > (*best)->serial()) best = r;
  }
  if (best == nullptr) {
    if (configured) return configured->status();
    if (fetched) return fetched->status().WithContext(fetched_dir);
    return FailedPreconditionError(
        "no registry: set 'registry:' to the region's registry folder (after the first connection the agent "
        "keeps "
        "the one the gateway serves in " +
        fetched_dir + ")");
  }
  if ((*best)->serial() < serials.registry) {
    return FailedPreconditionError("the registry has serial " + std::to_string((*best)->serial()) +
                                   ", older than serial " + std::to_string(serials.registry) +
                                   " this agent accepted before; refusing a rolled-back registry");
  }
  return std::move(*best);
}

Result<std::shared_ptr<const cases::PolicySet>> LoadAgentPolicies(const AgentConfig& config,
                                                                  const std::string& enrolment_public_key,
                                                                  const Registry& registry) {
  KP_ASSIGN_OR_RETURN(cases::ConfigSerials serials, cases::LoadConfigSerials(config.data_dir));
  const std::string fetched_dir = cases::FetchedPolicyDir(config.data_dir);
  if (FileExists(fetched_dir + "/" + cases::kPolicyManifestName)) {
    cases::PolicySet::Expect expect{enrolment_public_key, &registry, serials.policy, registry.region()};
    KP_ASSIGN_OR_RETURN(cases::PolicySet set, cases::PolicySet::LoadDir(fetched_dir, expect));
    return std::make_shared<const cases::PolicySet>(std::move(set));
  }
  if (config.policy.empty()) {
    return FailedPreconditionError(
        "no policy: set 'policy:' to the region's policy file (once the gateway serves a "
        "signed policy bundle, the agent keeps it in " +
        fetched_dir + ")");
  }
  KP_ASSIGN_OR_RETURN(auto policy, policy::LoadPolicyFile(config.policy, [](std::string_view text) {
                        return HexEncode(Sha256String(text));
                      }));
  return std::make_shared<const cases::PolicySet>(cases::PolicySet::Single(std::move(policy)));
}

void Agent::ReloadConfig() {
  auto enrolment = LoadPinnedEnrolmentCard(config_.enrolment_card, clock_.NowMillis());  // its expiry too
  if (!enrolment.ok()) {
    spdlog::error("SIGHUP: the enrolment card cannot be read; nothing changed: {}",
                  enrolment.status().message());
    return;
  }
  auto registry = LoadAgentRegistry(config_, enrolment->signing_key);
  if (!registry.ok()) {
    spdlog::error("SIGHUP: registry refused; serial {} stays in force: {}", responder_->registry_serial(),
                  registry.status().message());
    observe::CountConfigRefused("registry", cases::ConfigRefusalReason(registry.status()));
    return;
  }
  auto policies = LoadAgentPolicies(config_, enrolment->signing_key, *registry);
  if (!policies.ok()) {
    spdlog::error("SIGHUP: policy refused; the one in force stays: {}", policies.status().message());
    observe::CountConfigRefused("policy", cases::ConfigRefusalReason(policies.status()));
    return;
  }
  const uint64_t serial = registry->serial();
  responder_->SetConfig(std::move(registry).value(), *policies);
  spdlog::info("SIGHUP: registry serial {} and policy {} in force", serial,
               cases::PolicyVersionId(responder_->policy_in_force()));
}

}  // namespace kp::agent

// ------------------------------------------- first start from the gateway

namespace kp::agent {
namespace {
// As Responder::NewRecord fills a record of the agent's own log.
void FillFirstStartRecord(const Identity& me, int64_t retention_ms, int64_t now_ms, v1::AuditRecord* r) {
  r->mutable_actor()->set_participant_id(me.id());
  r->mutable_actor()->set_partner(me.partner());
  r->mutable_actor()->set_role("agent");
  r->set_source_partner(me.partner());
  r->set_retention_until_unix_millis(now_ms + retention_ms);
}
}  // namespace

void Agent::SendWaitingFetch() {
  // Serials 0 and 0: the gateway answers with what it holds (protocol §3.13).
  EnvelopeSigner signer(parts_.identity->id(), parts_.identity->signing().secret_key, clock_);
  auto m = signer.Sign(v1::MESSAGE_KIND_CONFIG_FETCH, "", "", v1::ConfigFetch().SerializeAsString());
  if (!m.ok()) {
    spdlog::error("cannot sign a CONFIG_FETCH: {}", m.status().message());
    return;
  }
  Send(m->bytes);
}

Status Agent::StepWaiting(std::optional<std::string> message) {
  if (message.has_value()) {
    last_received_ = SteadyClock::now();
    KP_RETURN_IF_ERROR(TakeFirstConfig(*message));
    if (responder_ != nullptr) return OkStatus();  // serving from now on
  }
  const auto now = SteadyClock::now();
  const auto since = [&](SteadyClock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(now - t).count();
  };
  // Asked again now and then: the gateway may have had none to give (a
  // plain `policy:` file there), or the answer was lost.
  if (dealer_->state() == ConnectionState::kConnected && since(last_sent_) >= kWaitingFetchMs)
    SendWaitingFetch();
  if (monitor_ != nullptr && since(last_publish_) >= 1000) {
    last_publish_ = now;
    PublishStatus();
  }
  return OkStatus();
}

Status Agent::TakeFirstConfig(const std::string& bytes) {
  const Identity& me = *parts_.identity;
  // Only the pinned gateway's signature is known yet (its card in the config).
  StaticKeyResolver keys;
  keys.AddKey(parts_.gateway->id, parts_.gateway->signing_key, parts_.gateway->expires_ms);
  VerifyOptions want;
  want.expected_sender = parts_.gateway->id;
  want.expected_recipient = me.id();
  auto env = EnvelopeVerifier(keys, nullptr).Verify(bytes, want);
  if (!env.ok()) {
    spdlog::warn("dropped a message that did not verify as the pinned gateway's: {}",
                 env.status().ToString());
    return OkStatus();
  }
  if (env->header.kind() != v1::MESSAGE_KIND_CONFIG_BUNDLE) {
    // Handed over again once this agent serves (a new connection, after which
    // the gateway sends every waiting request again).
    spdlog::info("{} {} from the gateway not answered yet: waiting for {} from the gateway",
                 wire::KindLabel(env->header.kind()), HexEncode(env->header.request_id()),
                 parts_.waiting_for);
    return OkStatus();
  }
  v1::ConfigBundle bundle;
  if (Status s = ParseBody(env->body, bundle); !s.ok()) {
    spdlog::error("the registry and policy from the gateway do not parse: {}", s.message());
    return OkStatus();
  }
  auto enrolment = LoadPinnedEnrolmentCard(config_.enrolment_card, clock_.NowMillis());  // its expiry too
  if (!enrolment.ok()) return enrolment.status();
  auto serials = cases::LoadConfigSerials(config_.data_dir);
  if (!serials.ok()) return serials.status();
  // A registry kept from an earlier bundle (when only the policy is missing).
  std::optional<Registry> kept;
  if (FileExists(cases::FetchedRegistryDir(config_.data_dir) + "/" + kRegistryManifestName)) {
    auto r = LoadAgentRegistry(config_, enrolment->signing_key);
    if (r.ok()) kept = std::move(r).value();
  }
  cases::ConfigUpdate up =
      cases::AcceptConfigBundle(bundle, config_.data_dir, enrolment->signing_key, kept ? &*kept : nullptr,
                                serials->policy, &*serials, clock_.NowMillis());
  for (const auto& [kind, why, offered] : {std::tuple<const char*, Status, uint64_t>{
                                               "registry", up.registry_refused, up.offered_registry_serial},
                                           {"policy", up.policy_refused, up.offered_policy_serial}}) {
    if (why.ok()) continue;
    spdlog::error("{} serial {} from the gateway refused ({}); still waiting for {}: {}", kind, offered,
                  cases::ConfigRefusalReason(why), parts_.waiting_for, why.message());
    observe::CountConfigRefused(kind, cases::ConfigRefusalReason(why));
  }
  if (!up.registry && !up.policies) {
    if (bundle.policy_manifest().empty() && up.policy_refused.ok()) {
      spdlog::warn(
          "the gateway serves no signed policy bundle (it runs with a plain policy file): set 'policy:' in "
          "this agent's config, or ask the gateway operator for a bundle; still waiting for {}",
          parts_.waiting_for);
    }
    return OkStatus();
  }
  // What was taken is on disk now: load everything as a later start would.
  std::vector<std::string> problems, report;
  auto fresh = LoadAgentParts(config_, &problems, &report);
  if (!fresh.has_value()) {
    std::string msg = "the registry and the policy from the gateway were taken (" + config_.data_dir +
                      "/config), but the agent cannot work with them:";
    for (const auto& p : problems) msg += "\n  " + p;
    return FailedPreconditionError(msg);
  }
  if (!fresh->waiting_for.empty()) {
    parts_.waiting_for = fresh->waiting_for;
    spdlog::warn("registry serial {} from the gateway kept; still waiting for {}", serials->registry,
                 parts_.waiting_for);
    return OkStatus();
  }
  // The identity and the gateway card stay the objects loaded at the start.
  fresh->identity = std::move(parts_.identity);
  fresh->gateway = std::move(parts_.gateway);
  parts_ = std::move(*fresh);
  KP_RETURN_IF_ERROR(InitServing());
  if (up.registry) {
    v1::AuditRecord rec;
    rec.set_event(v1::AUDIT_EVENT_REGISTRY_ACCEPTED);
    rec.mutable_config()->set_kind("registry");
    rec.mutable_config()->set_serial(up.registry->serial());
    rec.mutable_config()->set_manifest_sha256(Sha256String(bundle.registry_manifest()));
    rec.set_reason("registry serial " + std::to_string(up.registry->serial()) +
                   " from the gateway taken into use at the agent's first start");
    FillFirstStartRecord(me, config_.audit_retention_ms, clock_.NowMillis(), &rec);
    (void)log_->Append(std::move(rec));
  }
  if (parts_.policies) {
    v1::AuditRecord rec;
    rec.set_event(v1::AUDIT_EVENT_POLICY_BUNDLE_ACCEPTED);
    auto* c = rec.mutable_config();
    c->set_kind("policy");
    c->set_serial(parts_.policies->serial());
    c->set_manifest_sha256(HexDecode(parts_.policies->manifest().sha256_hex).value_or(""));
    for (const auto& p : parts_.policies->manifest().policies) {
      auto* v = c->add_policies();
      v->set_version(p.version);
      v->set_sha256(HexDecode(p.sha256_hex).value_or(""));
      v->set_effective_from_unix_millis(p.effective_from_ms);
    }
    rec.set_reason("policy bundle serial " + std::to_string(parts_.policies->serial()) +
                   " from the gateway taken into use at the agent's first start");
    FillFirstStartRecord(me, config_.audit_retention_ms, clock_.NowMillis(), &rec);
    (void)log_->Append(std::move(rec));
  }
  observe::SetConfigInForce({.kind = "registry",
                             .id = "",
                             .serial = responder_->registry_serial(),
                             .sha256_hex = HexEncode(Sha256String(bundle.registry_manifest())),
                             .effective_from_ms = 0,
                             .loaded_ms = clock_.NowMillis()});
  spdlog::info(
      "registry serial {} and policy {} (bundle serial {}) from the gateway taken into use; answering "
      "requests from now on",
      responder_->registry_serial(), cases::PolicyVersionId(responder_->policy_in_force()),
      responder_->policy_serial());
  // Whatever the gateway handed over meanwhile went unanswered: on a new
  // connection it hands every waiting request over again (protocol §6.1).
  KP_RETURN_IF_ERROR(dealer_->Reconnect());
  last_state_ = ConnectionState::kConnecting;
  connecting_since_ = last_received_ = SteadyClock::now();
  return OkStatus();
}

}  // namespace kp::agent
