// GatewayCore: the agents' answers to authorised requests — a fragment
// delivery (handed on unchanged to the coordinator, receipted to the agent)
// or the agent's refusal — and an answer sent again (docs/protocol.md §6.1).
#include <spdlog/spdlog.h>

#include <algorithm>

#include "case/decision.h"
#include "case/policy_category.h"
#include "core/crypto/sha256.h"
#include "core/observe/metrics.h"
#include "gateway/gateway_core.h"
#include "gateway/gateway_core_internal.h"

namespace kp::gateway {

namespace v1 = ketenpoort::v1;
using internal::IdHex;

namespace {
constexpr int64_t kDayMs = 24LL * 3600 * 1000;
}  // namespace

namespace internal {

void DisclosureOfStored(const policy::Policy& policy, const StoredForward& stored, v1::AuditRecord* rec) {
  if (!stored.ok) return;
  const v1::Decision* decision = nullptr;
  if (stored.push) {
    const v1::FragmentPush& push = stored.push_body;
    rec->set_purpose(push.purpose());
    rec->set_phase(stored.auth.case_phase());  // a PushAuthorisation's fields are an Authorisation's
    if (!rec->has_payload()) {  // what the push decision recorded: the sealed sizes and the content's hash
      rec->mutable_payload()->set_ciphertext_bytes(push.sealed_content().size() +
                                                   push.sealed_subjects().size());
      rec->mutable_payload()->set_ciphertext_sha256(Sha256String(push.sealed_content()));
    }
    decision = &stored.auth.decision();
  } else {
    rec->set_purpose(stored.request.purpose());
    rec->set_phase(stored.auth.case_phase());
    decision = &stored.auth.decision();
  }
  cases::WireToAudit(policy, *decision, rec);
}

void DisclosureOfStored(const policy::Policy& policy, const std::string& stored, v1::AuditRecord* rec) {
  v1::Envelope env;
  const v1::Decision* decision = nullptr;
  v1::Authorisation auth;
  v1::PushAuthorisation pa;
  if (IsPushAuthorisation(stored)) {
    v1::FragmentPush push;
    if (!pa.ParseFromString(stored) || !env.ParseFromString(pa.push_envelope()) || !push.ParseFromString(env.body())) {
      return;
    }
    rec->set_purpose(push.purpose());
    rec->set_phase(pa.case_phase());
    if (!rec->has_payload()) {  // what the push decision recorded: the sealed sizes and the content's hash
      rec->mutable_payload()->set_ciphertext_bytes(push.sealed_content().size() + push.sealed_subjects().size());
      rec->mutable_payload()->set_ciphertext_sha256(Sha256String(push.sealed_content()));
    }
    decision = &pa.decision();
  } else {
    v1::FragmentRequest req;
    if (!auth.ParseFromString(stored) || !env.ParseFromString(auth.request_envelope()) ||
        !req.ParseFromString(env.body())) {
      return;
    }
    rec->set_purpose(req.purpose());
    rec->set_phase(auth.case_phase());
    decision = &auth.decision();
  }
  cases::WireToAudit(policy, *decision, rec);
}

}  // namespace internal

void GatewayCore::HandleDelivery(const VerifiedMessage& m) {
  const std::string& sender = m.sender;
  const VerifiedEnvelope& env = m.env;
  const std::string& request_id = env.header.request_id();
  const RegistryEntry* me = m.entry;
  v1::AuditRecord rec = NewRecord(v1::AUDIT_EVENT_DELIVERED, sender);
  rec.set_message_id(request_id);
  auto refuse = [&](const Status& s) {
    rec.set_event(v1::AUDIT_EVENT_REFUSED);
    rec.set_reason("delivery refused: " + s.ToString());
    RefuseMessage(m, s, rec);
  };
  v1::FragmentDelivery d;
  if (Status s = ParseBody(env.body, d); !s.ok()) return refuse(s);
  if (d.request_id() != request_id) return refuse(InvalidArgumentError("the delivery names two different requests"));
  auto pending = store_->GetRequest(request_id);
  if (!pending.ok()) return refuse(pending.status());
  if (!pending->has_value()) {
    // An answer sent again (the agent had no receipt: a crash or a lost
    // connection on either side) is recognised, not refused as unknown.
    auto closed = store_->GetClosedRequest(request_id);
    if (closed.ok() && closed->has_value() && (*closed)->source_partner == me->card.partner) {
      const ClosedRequest& c = **closed;
      if (c.outcome == RequestOutcome::kDelivered) {
        v1::Receipt receipt;
        receipt.set_delivery_id(env.header.message_id());
        receipt.set_audit_index(c.audit_index);
        QueueReceipt(sender, request_id, std::move(receipt));  // with the unit's checkpoint
        spdlog::debug("request {}: answer sent again by {}; it was delivered (audit #{}), receipt sent again",
                      IdHex(request_id), sender, c.audit_index);
        return;
      }
      if (c.outcome == RequestOutcome::kExpired) {
        return refuse(FailedPreconditionError(
            "the request expired before this answer reached the gateway; it was not delivered to the coordinator"));
      }
    }
    return refuse(NotFoundError("no pending request with this id (already answered, expired, or unknown)"));
  }
  const StoredRequest& r = **pending;
  const internal::StoredForward stored = internal::ReadStoredForward(r.authorisation);  // read once
  if (stored.push) {
    return refuse(InvalidArgumentError("this id is a push's: a push is answered with push-received, not a delivery"));
  }
  rec.set_case_id(r.case_id);
  internal::SubjectsOfStored(stored, &rec);
  rec.set_source_partner(r.source_partner);
  if (me->card.partner != r.source_partner) {
    return refuse(PermissionDeniedError("this request was authorised for partner " + r.source_partner));
  }
  if (r.expires_ms <= clock_.NowMillis()) return refuse(FailedPreconditionError("the authorisation has expired"));
  for (const auto& cat : d.categories()) {
    if (std::find(r.categories.begin(), r.categories.end(), cat) == r.categories.end()) {
      return refuse(PermissionDeniedError("category '" + cat + "' was not authorised for this request"));
    }
    cases::AddPolicyCategory(*policy_, cat, &rec);
  }
  // Purpose, phase, legal basis, rules, policy version and obligations as
  // decided: every disclosure row of the report is complete on its own.
  internal::DisclosureOfStored(*policy_, stored, &rec);
  if (d.sealed_content().empty()) return refuse(InvalidArgumentError("the delivery holds no sealed content"));
  const RegistryEntry* coord = Enrolled(r.coordinator);
  if (coord != nullptr) rec.set_recipient_partner(coord->card.partner);
  rec.mutable_payload()->set_ciphertext_bytes(d.sealed_content().size());
  rec.mutable_payload()->set_ciphertext_sha256(Sha256String(d.sealed_content()));
  auto index = Audit(rec);
  if (!index.ok()) return;  // the unit fails; the agent is told to send it again
  // Held in the inbox in the same transaction that closes the request, and
  // sent after it: a crash leaves either the pending request, which expires
  // with a notice, or the held copy, never a fragment gone without a trace.
  SendOrHold(r.coordinator, r.case_id, m.raw, request_id);  // the agent's signed envelope, unchanged
  if (Status s = store_->CloseRequest(r, ClosedRequest{request_id, r.coordinator, r.source_partner,
                                                      RequestOutcome::kDelivered, *index, env.header.message_id(),
                                                      clock_.NowMillis()});
      !s.ok()) {
    spdlog::error("cannot close request: {}", s.message());
    FailUnit(s);
  }
  // What it authorised, kept for a handover of the case (§3.6, "What goes
  // over"): the coordinator's request body and the decision, not the case
  // evidence.
  if (Status s = RememberDelivered(r, stored); !s.ok()) {
    spdlog::error("request {}: cannot keep what was authorised for it: {}", IdHex(request_id), s.message());
    FailUnit(s);
  }
  v1::Receipt receipt;
  receipt.set_delivery_id(env.header.message_id());
  receipt.set_audit_index(*index);
  // Its checkpoint is the unit's, signed as the unit ends over the log with
  // its staged records, sent only once they are durable; not kept in the
  // log folder (the periodic checkpoints are).
  QueueReceipt(sender, request_id, std::move(receipt));
  ++stats_.delivered;
  last_receipt_ = {IdHex(request_id), sender, clock_.NowMillis()};
  observe::Metrics()
      .GetHistogram("ketenpoort_gateway_request_duration_seconds", internal::kRequestDurationHelp,
                    observe::LatencyBuckets(), {{"outcome", "delivered"}})
      .Observe(static_cast<double>(clock_.NowMillis() - r.created_ms) / 1000.0);
  spdlog::debug("request {} delivered case={} (audit #{})", IdHex(request_id), r.case_id, *index);
}

Status GatewayCore::RememberDelivered(const StoredRequest& r, const internal::StoredForward& stored) {
  if (!stored.ok || stored.push)
    return InternalError("the stored authorisation of the request does not parse");
  const v1::Authorisation& auth = stored.auth;
  const v1::Envelope& request_envelope = stored.envelope;
  const int64_t now = clock_.NowMillis();
  const int64_t days = auth.decision().obligations().retention_days();
  DeliveredRequest d;
  d.request_id = r.request_id;
  d.case_id = r.case_id;
  d.request = request_envelope.body();
  d.decision = auth.decision().SerializeAsString();
  d.delivered_ms = now;
  d.forget_ms = days != 0 ? now + days * kDayMs : 0;
  return store_->AddDelivered(d);
}

void GatewayCore::HandleAgentRefusal(const VerifiedMessage& m) {
  const std::string& sender = m.sender;
  const std::string& request_id = m.env.header.request_id();
  v1::Refusal refusal;
  if (Status s = ParseBody(m.env.body, refusal); !s.ok()) return RefuseMessage(m, s);
  auto pending = store_->GetRequest(request_id);
  if (!pending.ok() || !pending->has_value() || (*pending)->source_partner != m.entry->card.partner) {
    return RefuseMessage(m, NotFoundError("no pending request of your partner with this id"));
  }
  const StoredRequest& r = **pending;
  v1::AuditRecord rec = NewRecord(v1::AUDIT_EVENT_REFUSED, sender);
  rec.set_case_id(r.case_id);
  internal::SubjectsOfStored(r.authorisation, &rec);
  rec.set_message_id(request_id);
  rec.set_source_partner(r.source_partner);
  rec.set_reason("refused by the agent: " + refusal.reason());
  for (const auto& id : refusal.rule_ids()) rec.mutable_decision()->add_rule_ids(id);
  if (!Audit(std::move(rec)).ok()) return;  // the unit fails; the agent is told to send it again
  if (Status s = store_->CloseRequest(r, ClosedRequest{request_id, r.coordinator, r.source_partner,
                                                      RequestOutcome::kRefusedByAgent, 0, m.env.header.message_id(),
                                                      clock_.NowMillis()});
      !s.ok()) {
    FailUnit(s);
  }
  SendOrHold(r.coordinator, r.case_id, m.raw, request_id);
  AfterAgentRefusal(r, refusal);  // a request held for approval (approvals.cc)
  ++stats_.refused_by_agents;
  observe::Metrics()
      .GetHistogram("ketenpoort_gateway_request_duration_seconds", internal::kRequestDurationHelp,
                    observe::LatencyBuckets(), {{"outcome", "refused_by_agent"}})
      .Observe(static_cast<double>(clock_.NowMillis() - r.created_ms) / 1000.0);
  spdlog::debug("request {} refused by {} case={}", IdHex(request_id), sender, r.case_id);
}

}  // namespace kp::gateway
