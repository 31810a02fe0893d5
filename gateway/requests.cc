// GatewayCore: fragment requests (docs/protocol.md §6, FragmentRequest and
// Authorisation; §6.1). The decision (the case's facts and the policy), the
// evidence the agent is shown, the authorisation it gets, a request sent
// again, and forwarding to the source partner's agent.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "core/audit/policy_category.h"
#include "core/base/encoding.h"
#include "gateway/gateway_core.h"
#include "gateway/gateway_core_internal.h"

namespace kp::gateway {

namespace v1 = ketenpoort::v1;
using internal::IdHex;

void GatewayCore::HandleFragmentRequest(const VerifiedMessage& m) {
  const std::string& sender = m.sender;
  const std::string& raw = m.raw;
  const std::string& request_id = m.env.header.message_id();
  v1::FragmentRequest req;
  const RegistryEntry* me = m.entry;
  v1::AuditRecord rec = NewRecord(v1::AUDIT_EVENT_DECISION, sender);
  rec.set_message_id(request_id);
  // A refusal is a REFUSAL held for the coordinator (not an ERROR), and the
  // request is closed as refused, so that sending it again gets the same.
  auto refuse = [&](const std::string& reason, const std::vector<std::string>& rules, bool policy_decided) {
    if (!policy_decided) {
      rec.set_event(v1::AUDIT_EVENT_REFUSED);
      rec.set_reason(reason);
    }
    StoredRequest refused{request_id, req.case_id(), sender, req.source_partner(), {}, "", 0, 0, false};
    if (Status s = store_->CloseRequest(refused, ClosedRequest{request_id, sender, req.source_partner(),
                                                               RequestOutcome::kRefusedByGateway, 0, "",
                                                               clock_.NowMillis()});
        !s.ok()) {
      FailUnit(s);
    }
    if (!Refuse({.answer = Refusal::Answer::kRefusal,
                 .to = sender,
                 .connection = m.connection,
                 .message_id = request_id,
                 .why = PermissionDeniedError(reason),
                 .case_id = req.case_id(),
                 .rule_ids = rules},
                rec)) {
      return;
    }
    ++stats_.refused;
    spdlog::debug("request {} case={} from={} refused: {}", IdHex(request_id), req.case_id(), req.source_partner(),
                  rules.empty() ? "before policy" : "by policy");
  };
  if (Status s = ParseBody(m.env.body, req); !s.ok()) return refuse(s.message(), {}, false);
  rec.set_case_id(req.case_id());
  rec.set_source_partner(req.source_partner());
  rec.set_recipient_partner(me->card.partner);
  rec.set_purpose(req.purpose());
  rec.mutable_payload()->set_ciphertext_bytes(req.sealed_subjects().size());
  for (const auto& cat : req.categories()) audit::AddPolicyCategory(*policy_, cat, &rec);
  if (req.categories().empty() || req.source_partner().empty() || req.sealed_subjects().empty()) {
    return refuse("a request needs a source partner, categories and sealed subject data", {}, false);
  }
  auto c = store_->GetCase(req.case_id());
  if (!c.ok()) return refuse(c.status().message(), {}, false);
  rec.set_phase(c->phase);
  if (c->closed) return refuse("case " + c->id + " is closed; no further requests are possible", {}, false);
  if (c->coordinator != sender) {
    return refuse("you are not the casusregisseur of case " + c->id, {}, false);
  }
  auto admitted = store_->IsMember(c->id, req.source_partner());
  if (!admitted.ok()) return refuse(admitted.status().message(), {}, false);
  if (!*admitted) {
    return refuse("partner " + req.source_partner() + " is not admitted to case " + c->id +
                      "; admit it first (ketenpoort case admit)",
                  {}, false);
  }
  // The agent that will answer: the registry's first agent of the partner.
  std::string agent;
  for (const auto& [id, e] : registry_->entries()) {
    if (e.card.kind == ParticipantKind::kAgent && e.card.partner == req.source_partner()) {
      agent = id;
      break;
    }
  }
  if (agent.empty()) return refuse("no agent of partner " + req.source_partner() + " is enrolled", {}, false);

  const int64_t now = clock_.NowMillis();
  std::vector<std::string> cats(req.categories().begin(), req.categories().end());
  std::vector<std::string> refs;
  for (const auto& s : req.subjects()) refs.push_back(s.ref());
  auto consent = store_->HasConsent(c->id, refs, req.purpose(), now);
  auto gatekeeper = store_->HasGatekeeperApproval(c->id, req.source_partner(), cats, req.purpose(), now);
  auto evidence = store_->Evidence(c->id);
  if (!consent.ok() || !gatekeeper.ok() || !evidence.ok()) {
    return refuse("the case database is not readable", {}, false);
  }

  policy::Request pr;
  pr.from = req.source_partner();
  pr.to = me->card.partner;
  pr.to_role = me->role;
  for (const auto& cat : req.categories()) pr.categories.push_back(cat);
  pr.purpose = req.purpose();
  pr.phase = c->phase;
  pr.requester_is_member = true;  // the case's own casusregisseur (checked above)
  pr.consent_recorded = *consent;
  pr.gatekeeper_approved = *gatekeeper;
  pr.justification = req.justification_present() ? "present" : "";
  auto policy = policy_;  // the decision's views point into it
  policy::Decision d = policy->Decide(pr);

  auto* ad = rec.mutable_decision();
  ad->set_verdict(d.effect == policy::Effect::kPermit ? v1::AUDIT_VERDICT_PERMIT : v1::AUDIT_VERDICT_DENY);
  std::vector<std::string> rule_ids;
  for (auto r : d.rule_ids) {
    ad->add_rule_ids(std::string(r));
    rule_ids.emplace_back(r);
  }
  ad->set_reason(d.reason);
  ad->set_policy_sha256(HexDecode(d.policy_sha256).value_or(std::string()));
  std::string legal_bases;
  for (auto lb : d.legal_bases) legal_bases += (legal_bases.empty() ? "" : ",") + std::string(lb);
  rec.set_legal_basis(legal_bases);
  if (d.effect != policy::Effect::kPermit) return refuse(d.reason, rule_ids, true);

  v1::Authorisation auth;
  auth.set_request_envelope(raw);
  auto* dec = auth.mutable_decision();
  dec->set_effect(v1::EFFECT_PERMIT);
  for (const auto& r : rule_ids) dec->add_rule_ids(r);
  dec->set_legal_basis(legal_bases);
  dec->set_reason(d.reason);
  dec->set_policy_sha256(HexDecode(d.policy_sha256).value_or(std::string()));
  auto* ob = dec->mutable_obligations();
  auto* aob = ad->mutable_obligations();
  for (const auto& cf : d.obligations.fields) {
    auto* f = ob->add_allowed_fields();
    f->set_category(std::string(cf.category));
    for (auto field : cf.fields) {
      f->add_fields(std::string(field));
      aob->add_allowed_fields(std::string(cf.category) + "." + std::string(field));
    }
  }
  ob->set_retention_days(static_cast<uint32_t>(d.obligations.retention_days));
  ob->set_no_onward_sharing(d.obligations.no_onward_sharing);
  ob->set_notify_privacy_officer(d.obligations.notify_privacy_officer);
  aob->set_retention_days(ob->retention_days());
  aob->set_no_onward_sharing(ob->no_onward_sharing());
  aob->set_notify_privacy_officer(ob->notify_privacy_officer());
  auth.set_expires_at_ms(now + config_.request_expiry_ms);
  auth.set_case_phase(c->phase);
  // The coordinator's own signed commands behind the case facts this decision
  // relied on, so the agent need not take the gateway's word for them.
  for (const auto& [topic, envelope] : *evidence) {
    bool relevant = topic == "phase" || topic == "admit/" + req.source_partner() ||
                    topic.rfind("gatekeeper/" + req.source_partner() + "/" + req.purpose() + "/", 0) == 0;
    for (const auto& ref : refs) relevant |= topic == "consent/" + ref + "/" + req.purpose();
    if (relevant) auth.add_case_evidence(envelope);
  }

  // Write before forward: the decision is durable before anything leaves.
  auto index = Audit(rec);
  if (!index.ok()) return;  // the unit fails; its sender is told
  auth.set_audit_index(*index);
  StoredRequest stored{request_id, c->id, sender, req.source_partner(), cats, auth.SerializeAsString(),
                       now, auth.expires_at_ms(), false};
  if (Status s = store_->AddRequest(stored); !s.ok()) {
    spdlog::error("request {}: cannot store it: {}", IdHex(request_id), s.message());
    FailUnit(s);  // its decision record must not stand alone
    return;
  }
  v1::RequestAccepted accepted;
  accepted.set_request_id(request_id);
  accepted.set_audit_index(*index);
  accepted.set_expires_at_ms(stored.expires_ms);
  QueueSigned(sender, v1::MESSAGE_KIND_ACCEPTED, request_id, accepted);  // leaves once it is durable
  ++stats_.permitted;
  spdlog::debug("request {} case={} from={} permitted (audit #{})", IdHex(request_id), c->id, req.source_partner(),
                *index);
  DeliverQueuedRequests(req.source_partner());
}

GatewayCore::Again GatewayCore::AnswerRequestAgain(const VerifiedMessage& m) {
  const std::string& sender = m.sender;
  const std::string& request_id = m.env.header.message_id();
  v1::RequestAccepted accepted;
  accepted.set_request_id(request_id);
  auto pending = store_->GetRequest(request_id);
  if (!pending.ok()) return Again::kUnreadable;
  if (pending->has_value()) {
    if ((*pending)->coordinator != sender) return Again::kOthers;
    v1::Authorisation auth;
    if (auth.ParseFromString((*pending)->authorisation)) accepted.set_audit_index(auth.audit_index());
    accepted.set_expires_at_ms((*pending)->expires_ms);
  } else {
    auto closed = store_->GetClosedRequest(request_id);
    if (!closed.ok()) return Again::kUnreadable;
    if (!closed->has_value()) return Again::kNew;
    if ((*closed)->coordinator != sender) return Again::kOthers;
    accepted.set_answered(true);
    // The answer itself, when it is still held (not yet acknowledged).
    auto held = store_->InboxFor(sender);
    if (held.ok()) {
      for (const auto& item : *held) {
        if (item.request_id == request_id) Queue(sender, item.envelope);
      }
    }
  }
  QueueSigned(sender, v1::MESSAGE_KIND_ACCEPTED, request_id, accepted);
  spdlog::debug("request {} sent again by {}: {}", IdHex(request_id), sender,
                accepted.answered() ? "already answered" : "still waiting for its agent");
  return Again::kAnswered;
}

void GatewayCore::DeliverQueuedRequests(const std::string& partner) {
  // The registry's first agent of the partner that is connected.
  std::string agent;
  for (const auto& [id, e] : registry_->entries()) {
    if (e.card.kind == ParticipantKind::kAgent && e.card.partner == partner && presence_(id)) {
      agent = id;
      break;
    }
  }
  if (agent.empty()) return;  // offline: the requests wait (store-and-forward)
  auto waiting = store_->UndeliveredFor(partner);
  if (!waiting.ok()) {
    spdlog::error("cannot read queued requests: {}", waiting.status().message());
    return;
  }
  for (const auto& r : *waiting) {
    // Signed now, so it is fresh when it arrives however long it waited.
    auto msg = signer_->Sign(v1::MESSAGE_KIND_AUTHORISATION, agent, r.request_id, r.authorisation);
    if (!msg.ok()) continue;
    v1::AuditRecord rec = NewRecord(v1::AUDIT_EVENT_FORWARDED, identity_->id());
    rec.set_case_id(r.case_id);
    rec.set_message_id(r.request_id);
    rec.set_source_partner(partner);
    for (const auto& cat : r.categories) rec.add_categories()->set_name(cat);
    if (!Audit(std::move(rec)).ok()) return;  // nothing forwarded unlogged
    if (!Queue(agent, std::move(msg->bytes))) return;
    outbox_.back().forward_of = r.request_id;
    (void)store_->MarkDelivered(r.request_id);
    spdlog::debug("request {} forwarded to {}", IdHex(r.request_id), agent);
  }
}

}  // namespace kp::gateway
