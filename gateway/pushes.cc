// GatewayCore: a partner receives (docs/protocol.md §3.9). A coordinator's
// FRAGMENT_PUSH is decided as a disclosure from the coordinator's partner to
// the recipient partner, audited, and forwarded to the recipient's agent as
// a PUSH_AUTHORISATION (held while the agent is away: it waits among the
// requests of that partner, store-and-forward, and goes again after every
// new connection). The agent's PUSH_RECEIVED is audited, receipted, and
// handed to the coordinator; its REFUSAL goes the way of any agent refusal
// (answers.cc).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "case/decision.h"
#include "case/policy_category.h"
#include "case/push.h"
#include "core/crypto/sha256.h"
#include "gateway/gateway_core.h"
#include "gateway/gateway_core_internal.h"

namespace kp::gateway {

namespace v1 = ketenpoort::v1;
using internal::IdHex;

namespace internal {

StoredForward ReadStoredForward(const std::string& stored) {
  // Authorisation and PushAuthorisation both carry the coordinator's own
  // envelope in field 1; its kind tells them apart.
  StoredForward f;
  v1::Header header;
  if (!f.auth.ParseFromString(stored) || !f.envelope.ParseFromString(f.auth.request_envelope()) ||
      !header.ParseFromString(f.envelope.header())) {
    return f;
  }
  if (header.kind() == v1::MESSAGE_KIND_FRAGMENT_PUSH) {
    f.push = true;
    f.ok = f.push_body.ParseFromString(f.envelope.body());
  } else {
    f.ok = header.kind() == v1::MESSAGE_KIND_FRAGMENT_REQUEST && f.request.ParseFromString(f.envelope.body());
  }
  return f;
}

bool IsPushAuthorisation(const std::string& stored) {
  v1::PushAuthorisation pa;
  v1::Envelope env;
  v1::Header header;
  return pa.ParseFromString(stored) && env.ParseFromString(pa.push_envelope()) &&
         header.ParseFromString(env.header()) && header.kind() == v1::MESSAGE_KIND_FRAGMENT_PUSH;
}

}  // namespace internal

void GatewayCore::HandleFragmentPush(const VerifiedMessage& m) {
  const std::string& sender = m.sender;
  const std::string& push_id = m.env.header.message_id();
  const RegistryEntry* me = m.entry;
  v1::FragmentPush push;
  v1::AuditRecord rec = NewRecord(v1::AUDIT_EVENT_DECISION, sender);
  rec.set_message_id(push_id);
  auto refuse = [&](const std::string& reason, const std::vector<std::string>& rules, bool policy_decided) {
    if (!policy_decided) {
      rec.set_event(v1::AUDIT_EVENT_REFUSED);
      rec.set_reason("push refused: " + reason);
    }
    RefuseAsked(m, "push", push.case_id(), push.to_partner(), reason, rules, rec);
  };
  if (Status s = ParseBody(m.env.body, push); !s.ok()) return refuse(s.message(), {}, false);
  rec.set_case_id(push.case_id());
  cases::CopySubjects(push.subjects(), &rec);  // refs and pseudonyms as signed (AVG art. 15)
  rec.set_source_partner(me->card.partner);
  rec.set_recipient_partner(push.to_partner());
  rec.set_purpose(push.purpose());
  rec.mutable_payload()->set_ciphertext_bytes(push.sealed_content().size() + push.sealed_subjects().size());
  rec.mutable_payload()->set_ciphertext_sha256(Sha256String(push.sealed_content()));
  for (const auto& cat : push.categories()) cases::AddPolicyCategory(*policy_, cat, &rec);
  if (push.categories().empty() || push.to_partner().empty() || push.sealed_content().empty() ||
      push.sealed_subjects().empty()) {
    return refuse("a push needs a recipient partner, categories, sealed content and sealed subject data", {}, false);
  }
  auto c = store_->GetCase(push.case_id());
  if (!c.ok()) return refuse(c.status().message(), {}, false);
  rec.set_phase(c->phase);
  auto known = CaseOf(*c);
  if (!known.ok()) return refuse(known.status().message(), {}, false);
  cases::CaseFacts facts = (*known)->facts;
  // Consents a source partner recorded itself count here as for a request (§3.10).
  if (Status s = FillSourceConsents(&facts); !s.ok()) return refuse(s.message(), {}, false);
  const int64_t now = clock_.NowMillis();
  if (Status s = cases::CheckPush(*policy_, facts, sender, *me, push, now); !s.ok()) {
    return refuse(s.message(), {}, false);
  }
  if (push.case_head() != facts.head || push.case_length() != facts.length) {
    return refuse("case " + c->id + " has changed since your last look (it has " + std::to_string(facts.length) +
                      " commands; the push was signed on " + std::to_string(push.case_length()) +
                      "): fetch it (ketenpoort case sync) and send again",
                  {}, false);
  }
  // The agent that receives: the registry's first agent of the partner
  // (the one the coordinator sealed to).
  const RegistryEntry* agent = nullptr;
  for (const auto& [id, e] : registry_->entries()) {
    if (e.card.kind == ParticipantKind::kAgent && e.card.partner == push.to_partner()) {
      agent = &e;
      break;
    }
  }
  if (agent == nullptr) return refuse("no agent of partner " + push.to_partner() + " is enrolled", {}, false);

  auto policy = policy_;  // the decision's views point into it
  policy::Decision d = cases::DecidePush(*policy, facts, push, *me, *agent, now);
  cases::ToAudit(*policy, d, &rec);
  std::vector<std::string> rule_ids(d.rule_ids.begin(), d.rule_ids.end());
  if (d.effect != policy::Effect::kPermit) return refuse(d.reason, rule_ids, true);

  v1::PushAuthorisation pa;
  pa.set_push_envelope(m.raw);
  cases::ToWire(d, pa.mutable_decision());
  // Held as long as the inbox holds messages: a partner's agent may be away
  // for a weekend.
  pa.set_expires_at_ms(now + config_.inbox_expiry_ms);
  pa.set_case_phase(facts.phase);
  for (const auto& e : (*known)->chain) pa.add_case_evidence(e);
  auto index = Audit(rec);  // write before forward
  if (!index.ok()) return;
  pa.set_audit_index(*index);
  if (d.obligations.notify_privacy_officer && !NotifyPrivacyOfficers(rec, *index, "push").ok()) return;
  std::vector<std::string> cats(push.categories().begin(), push.categories().end());
  StoredRequest stored{push_id, c->id, sender, push.to_partner(), cats, pa.SerializeAsString(),
                       now, pa.expires_at_ms(), false};
  if (Status s = store_->AddRequest(stored); !s.ok()) {
    spdlog::error("push {}: cannot store it: {}", IdHex(push_id), s.message());
    FailUnit(s);
    return;
  }
  v1::RequestAccepted accepted;
  accepted.set_request_id(push_id);
  accepted.set_audit_index(*index);
  accepted.set_expires_at_ms(stored.expires_ms);
  QueueSigned(sender, v1::MESSAGE_KIND_ACCEPTED, push_id, accepted);
  ++stats_.permitted;
  spdlog::debug("push {} case={} to={} permitted (audit #{})", IdHex(push_id), c->id, push.to_partner(), *index);
  DeliverQueuedRequests(push.to_partner());
}

void GatewayCore::HandlePushReceived(const VerifiedMessage& m) {
  const std::string& sender = m.sender;
  const std::string& push_id = m.env.header.request_id();
  const RegistryEntry* me = m.entry;
  v1::AuditRecord rec = NewRecord(v1::AUDIT_EVENT_PUSH_RECEIVED, sender);
  rec.set_message_id(push_id);
  auto refuse = [&](const Status& s) {
    rec.set_event(v1::AUDIT_EVENT_REFUSED);
    rec.set_reason("push-received refused: " + s.ToString());
    RefuseMessage(m, s, rec);
  };
  v1::PushReceived got;
  if (Status s = ParseBody(m.env.body, got); !s.ok()) return refuse(s);
  if (got.push_id() != push_id) return refuse(InvalidArgumentError("the push-received names two different pushes"));
  auto receipt_for = [&](uint64_t index) {
    v1::Receipt receipt;
    receipt.set_delivery_id(m.env.header.message_id());
    receipt.set_audit_index(index);
    QueueReceipt(sender, push_id, std::move(receipt));  // with the unit's checkpoint
  };
  auto pending = store_->GetRequest(push_id);
  if (!pending.ok()) return refuse(pending.status());
  if (!pending->has_value() || !internal::IsPushAuthorisation((*pending)->authorisation)) {
    // Sent again (its receipt was lost): the receipt again, nothing twice.
    auto closed = store_->GetClosedRequest(push_id);
    if (!pending->has_value() && closed.ok() && closed->has_value() && (*closed)->source_partner == me->card.partner &&
        (*closed)->outcome == RequestOutcome::kDelivered) {
      receipt_for((*closed)->audit_index);
      return;
    }
    return refuse(NotFoundError("no pending push with this id (already received, expired, or unknown)"));
  }
  const StoredRequest& r = **pending;
  rec.set_case_id(r.case_id);
  internal::SubjectsOfStored(r.authorisation, &rec);
  rec.set_recipient_partner(r.source_partner);
  if (const RegistryEntry* coord = Enrolled(r.coordinator)) rec.set_source_partner(coord->card.partner);
  if (me->card.partner != r.source_partner) {
    return refuse(PermissionDeniedError("this push was sent to partner " + r.source_partner));
  }
  if (got.case_id() != r.case_id) return refuse(InvalidArgumentError("the push-received names another case"));
  std::set<std::string> said(got.categories().begin(), got.categories().end());
  std::set<std::string> sent(r.categories.begin(), r.categories.end());
  if (said != sent) return refuse(InvalidArgumentError("the push-received names other categories than the push"));
  for (const auto& cat : r.categories) cases::AddPolicyCategory(*policy_, cat, &rec);
  internal::DisclosureOfStored(*policy_, r.authorisation, &rec);  // purpose, basis, phase, decision as decided
  auto index = Audit(rec);
  if (!index.ok()) return;
  // The agent's signed envelope, unchanged, held until acknowledged.
  SendOrHold(r.coordinator, r.case_id, m.raw, push_id);
  if (Status s = store_->CloseRequest(r, ClosedRequest{push_id, r.coordinator, r.source_partner,
                                                      RequestOutcome::kDelivered, *index, m.env.header.message_id(),
                                                      clock_.NowMillis()});
      !s.ok()) {
    FailUnit(s);
  }
  receipt_for(*index);
  ++stats_.delivered;
  spdlog::debug("push {} received by {} case={} (audit #{})", IdHex(push_id), sender, r.case_id, *index);
}

}  // namespace kp::gateway
