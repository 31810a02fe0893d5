// GatewayCore: fragment requests (docs/protocol.md §6, FragmentRequest and
// Authorisation; §6.1). The decision (the case's facts and the policy), the
// evidence the agent is shown, the authorisation it gets, a request sent
// again, and forwarding to the source partner's agent.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "case/decision.h"
#include "case/policy_category.h"
#include "core/base/encoding.h"
#include "gateway/gateway_core.h"
#include "gateway/gateway_core_internal.h"

namespace kp::gateway {

namespace v1 = ketenpoort::v1;
using internal::IdHex;

void GatewayCore::RefuseAsked(const VerifiedMessage& m, std::string_view what, const std::string& case_id,
                              const std::string& partner, const std::string& reason,
                              const std::vector<std::string>& rule_ids, const v1::AuditRecord& record) {
  const std::string& id = m.env.header.message_id();
  StoredRequest refused{id, case_id, m.sender, partner, {}, "", 0, 0, false};
  const int64_t now = clock_.NowMillis();
  const ClosedRequest closed{id, m.sender, partner, RequestOutcome::kRefusedByGateway, 0, "", now};
  if (Status s = store_->CloseRequest(refused, closed); !s.ok()) {
    FailUnit(s);
  }
  if (!Refuse({.answer = Refusal::Answer::kRefusal,
               .to = m.sender,
               .connection = m.connection,
               .message_id = id,
               .why = PermissionDeniedError(reason),
               .case_id = case_id,
               .rule_ids = rule_ids},
              record)) {
    return;
  }
  ++stats_.refused;
  spdlog::debug("{} {} case={} partner={} refused: {}", what, IdHex(id), case_id, partner,
                rule_ids.empty() ? "before policy" : "by policy");
}

void GatewayCore::HandleFragmentRequest(const VerifiedMessage& m) {
  const std::string& sender = m.sender;
  const std::string& raw = m.raw;
  const std::string& request_id = m.env.header.message_id();
  v1::FragmentRequest req;
  const RegistryEntry* me = m.entry;
  v1::AuditRecord rec = NewRecord(v1::AUDIT_EVENT_DECISION, sender);
  rec.set_message_id(request_id);
  auto refuse = [&](const std::string& reason, const std::vector<std::string>& rules, bool policy_decided) {
    if (!policy_decided) {
      rec.set_event(v1::AUDIT_EVENT_REFUSED);
      rec.set_reason(reason);
    }
    RefuseAsked(m, "request", req.case_id(), req.source_partner(), reason, rules, rec);
  };
  if (Status s = ParseBody(m.env.body, req); !s.ok()) return refuse(s.message(), {}, false);
  rec.set_case_id(req.case_id());
  cases::CopySubjects(req.subjects(), &rec);  // refs and pseudonyms as signed (AVG art. 15)
  rec.set_source_partner(req.source_partner());
  rec.set_recipient_partner(me->card.partner);
  rec.set_purpose(req.purpose());
  rec.mutable_payload()->set_ciphertext_bytes(req.sealed_subjects().size());
  for (const auto& cat : req.categories()) cases::AddPolicyCategory(*policy_, cat, &rec);
  if (req.categories().empty() || req.source_partner().empty() || req.sealed_subjects().empty()) {
    return refuse("a request needs a source partner, categories and sealed subject data", {}, false);
  }
  auto c = store_->GetCase(req.case_id());
  if (!c.ok()) return refuse(c.status().message(), {}, false);
  rec.set_phase(c->phase);
  auto known = CaseOf(*c);
  if (!known.ok()) return refuse(known.status().message(), {}, false);
  cases::CaseFacts facts = (*known)->facts;
  // Consents the source partners recorded themselves count too (§3.10).
  if (Status s = FillSourceConsents(&facts); !s.ok()) return refuse(s.message(), {}, false);
  if (Status s = cases::CheckAsker(*policy_, facts, sender, *me, req, clock_.NowMillis()); !s.ok()) {
    return refuse(s.message(), {}, false);
  }
  // The head the coordinator signed must be the case's: the agent checks
  // the history against it (protocol §3.5).
  if (req.case_head() != facts.head || req.case_length() != facts.length) {
    return refuse("case " + c->id + " has changed since your last look (it has " + std::to_string(facts.length) +
                      " commands; the request was signed on " + std::to_string(req.case_length()) +
                      "): fetch it (ketenpoort case sync) and ask again",
                  {}, false);
  }
  if (Status s = cases::CheckRequestSubjects(facts, req); !s.ok()) return refuse(s.message(), {}, false);
  if (req.watch_until_ms() != 0) {  // a watch (§3.8): its end date first, then the policy as for any request
    if (Status s = CheckWatchRequest(facts, req, clock_.NowMillis()); !s.ok()) return refuse(s.message(), {}, false);
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
  auto policy = policy_;  // the decision's views point into it
  policy::Decision d =
      policy->Decide(cases::AskPolicy(facts, req, *me, cases::ClaimedJustification(req), now));
  cases::ToAudit(*policy, d, &rec);
  std::vector<std::string> rule_ids(d.rule_ids.begin(), d.rule_ids.end());
  if (d.effect != policy::Effect::kPermit) return refuse(d.reason, rule_ids, true);

  v1::Authorisation auth;
  auth.set_request_envelope(raw);
  cases::ToWire(d, auth.mutable_decision());
  auth.set_expires_at_ms(now + config_.request_expiry_ms);
  auth.set_case_phase(facts.phase);
  // The case's whole signed history, so the agent need not take the
  // gateway's word for any fact of it.
  for (const auto& e : (*known)->chain) auth.add_case_evidence(e);

  // Write before forward: the decision is durable before anything leaves.
  auto index = Audit(rec);
  if (!index.ok()) return;  // the unit fails; its sender is told
  auth.set_audit_index(*index);
  if (d.obligations.notify_privacy_officer &&
      !NotifyPrivacyOfficers(rec, *index, req.watch_until_ms() != 0 ? "watch" : "request").ok()) {
    return;  // the unit fails (privacy_notices.cc)
  }
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
    if (e.card.kind == ParticipantKind::kAgent && e.card.partner == partner && !presence_(id).empty()) {
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
    const internal::StoredForward stored = internal::ReadStoredForward(r.authorisation);  // read once
    const bool push = stored.push;  // a push waits here too (pushes.cc)
    auto msg = signer_->Sign(push ? v1::MESSAGE_KIND_PUSH_AUTHORISATION : v1::MESSAGE_KIND_AUTHORISATION, agent,
                             r.request_id, r.authorisation);
    if (!msg.ok()) continue;
    v1::AuditRecord rec = NewRecord(push ? v1::AUDIT_EVENT_PUSH_FORWARDED : v1::AUDIT_EVENT_FORWARDED, identity_->id());
    rec.set_case_id(r.case_id);
    rec.set_message_id(r.request_id);
    internal::SubjectsOfStored(stored, &rec);
    if (push) {
      rec.set_recipient_partner(partner);
    } else {
      rec.set_source_partner(partner);
    }
    for (const auto& cat : r.categories) rec.add_categories()->set_name(cat);
    if (!Audit(std::move(rec)).ok()) return;  // nothing forwarded unlogged
    if (!Queue(agent, std::move(msg->bytes))) return;
    outbox_.back().forward_of = r.request_id;
    (void)store_->MarkDelivered(r.request_id);
    spdlog::debug("request {} forwarded to {}", IdHex(r.request_id), agent);
  }
}

}  // namespace kp::gateway
