// GatewayCore: the source decides (docs/protocol.md §3.10). A source agent
// holds a request for its professional (APPROVAL_PENDING: the request waits
// longer, the coordinator is told), the wait lapses (a REFUSAL and an
// APPROVAL_EXPIRED notice), and a source partner records or withdraws a
// consent itself (SOURCE_CONSENT), which counts for requests to it.
#include <spdlog/spdlog.h>

#include "core/base/clock.h"
#include "core/envelope/wire_format.h"
#include "gateway/gateway_core.h"
#include "gateway/gateway_core_internal.h"

namespace kp::gateway {

namespace v1 = ketenpoort::v1;
using internal::IdHex;

namespace {
// The longest a source may hold a request for its professional.
constexpr int64_t kMaxApprovalWaitMs = 30LL * 24 * 3600 * 1000;
// How an agent's REFUSAL of a request whose approval lapsed begins
// (docs/protocol.md §3.10; agent/responder_approvals.cc writes it).
constexpr std::string_view kApprovalExpiredReason = "approval expired: ";
// The longest a consent a source records may hold.
constexpr int64_t kMaxSourceConsentMs = 5LL * 366 * 24 * 3600 * 1000;
}  // namespace

void GatewayCore::HandleApprovalPending(const VerifiedMessage& m) {
  const std::string& request_id = m.env.header.request_id();
  v1::AuditRecord rec = NewRecord(v1::AUDIT_EVENT_APPROVAL_PENDING, m.sender);
  rec.set_message_id(request_id);
  auto refuse = [&](const Status& s) {
    rec.set_event(v1::AUDIT_EVENT_REFUSED);
    rec.set_reason("approval-pending refused: " + s.ToString());
    RefuseMessage(m, s, rec);
  };
  v1::ApprovalPending body;
  if (Status s = ParseBody(m.env.body, body); !s.ok()) return refuse(s);
  if (body.request_id() != request_id) {
    return refuse(InvalidArgumentError("an approval-pending message names its request in its header and its body alike"));
  }
  auto pending = store_->GetRequest(request_id);
  if (!pending.ok()) return refuse(pending.status());
  if (!pending->has_value() || (*pending)->source_partner != m.entry->card.partner) {
    return refuse(NotFoundError("no pending request of your partner with this id (already answered, expired, or "
                                "unknown)"));
  }
  const StoredRequest& r = **pending;
  rec.set_case_id(r.case_id);
  internal::SubjectsOfStored(r.authorisation, &rec);
  rec.set_source_partner(r.source_partner);
  if (body.case_id() != r.case_id) return refuse(InvalidArgumentError("the request belongs to another case"));
  const int64_t now = clock_.NowMillis();
  if (body.decide_by_ms() <= now || body.decide_by_ms() > now + kMaxApprovalWaitMs) {
    return refuse(InvalidArgumentError("decide_by must lie in the future, at most 30 days ahead"));
  }
  auto known = store_->ApprovalWait(request_id);
  if (!known.ok()) return refuse(known.status());
  if (known->has_value()) {
    // Sent again (the agent was asked again after a reconnect): nothing new.
    spdlog::debug("request {}: approval-pending again from {}", IdHex(request_id), m.sender);
    return;
  }
  if (Status s = store_->AddApprovalWait(request_id, r.case_id, body.decide_by_ms()); !s.ok()) {
    FailUnit(s);
    return;
  }
  const RegistryEntry* coord = Enrolled(r.coordinator);
  if (coord != nullptr) rec.set_recipient_partner(coord->card.partner);
  for (const auto& c : r.categories) rec.add_categories()->set_name(c);
  rec.set_reason("the request waits for the approval of a professional at " + r.source_partner + " until " +
                 FormatRfc3339Millis(body.decide_by_ms()));
  if (!Audit(std::move(rec)).ok()) return;  // the unit fails
  // The agent's signed message, unchanged, to the coordinator (removed from
  // its inbox once sent; the answer follows).
  SendOrHold(r.coordinator, r.case_id, m.raw);
  spdlog::debug("request {} case={} waits for the approval of {} until {}", IdHex(request_id), r.case_id,
                r.source_partner, body.decide_by_ms());
}

void GatewayCore::ExpireApprovals(int64_t now) {
  auto due = store_->DueApprovalWaits(now);
  if (!due.ok()) {
    spdlog::error("cannot read the requests held for approval: {}", due.status().message());
    return;
  }
  for (const StoredRequest& r : *due) {
    // Closed as expired here, so the plain request expiry does not take it too.
    if (Status s = store_->CloseRequest(r, ClosedRequest{r.request_id, r.coordinator, r.source_partner,
                                                        RequestOutcome::kExpired, 0, "", now});
        !s.ok()) {
      FailUnit(s);
      return;
    }
    (void)store_->RemoveApprovalWait(r.request_id);
    ApprovalLapsed(r, r.expires_ms, /*refuse=*/true);
    ++stats_.expired;
  }
}

void GatewayCore::ApprovalLapsed(const StoredRequest& r, int64_t decide_by_ms, bool refuse) {
  const std::string why = "no one at " + r.source_partner + " decided on the request before " +
                          FormatRfc3339Millis(decide_by_ms) + " (the source's approval expired)";
  v1::AuditRecord rec = NewRecord(v1::AUDIT_EVENT_APPROVAL_EXPIRED, identity_->id());
  rec.set_case_id(r.case_id);
  rec.set_message_id(r.request_id);
  internal::SubjectsOfStored(r.authorisation, &rec);
  rec.set_source_partner(r.source_partner);
  for (const auto& c : r.categories) rec.add_categories()->set_name(c);
  rec.set_reason(why);
  if (refuse) {
    if (!Refuse({.answer = Refusal::Answer::kRefusal,
                 .to = r.coordinator,
                 .message_id = r.request_id,
                 .why = FailedPreconditionError(why),
                 .case_id = r.case_id},
                std::move(rec))) {
      return;
    }
  } else if (!Audit(std::move(rec)).ok()) {
    return;
  }
  v1::CaseNotice notice;
  notice.set_kind(v1::NOTICE_KIND_APPROVAL_EXPIRED);
  notice.set_case_id(r.case_id);
  notice.set_at_ms(clock_.NowMillis());
  notice.set_until_ms(decide_by_ms);
  notice.set_request_id(r.request_id);
  Notify(r.coordinator, notice);
  spdlog::debug("request {} case={}: the approval of {} expired", IdHex(r.request_id), r.case_id, r.source_partner);
}

void GatewayCore::AfterAgentRefusal(const StoredRequest& r, const v1::Refusal& refusal) {
  auto wait = store_->ApprovalWait(r.request_id);
  if (!wait.ok() || !wait->has_value()) return;
  (void)store_->RemoveApprovalWait(r.request_id);
  // The agent's own expiry (its clock may run ahead of ours, by at most the
  // replay window): the refusal went on, the notice follows. Only a refusal
  // that says it is a lapse: a professional's decline, however late, is no
  // expiry (protocol §3.10).
  const int64_t decide_by = **wait;
  if (refusal.reason().starts_with(kApprovalExpiredReason) &&
      clock_.NowMillis() + config_.replay_window_ms >= decide_by) {
    ApprovalLapsed(r, decide_by, /*refuse=*/false);
  }
}

void GatewayCore::HandleSourceConsent(const VerifiedMessage& m) {
  const std::string& partner = m.entry->card.partner;
  v1::SourceConsent body;
  v1::AuditRecord rec = NewRecord(v1::AUDIT_EVENT_SOURCE_CONSENT_RECORDED, m.sender);
  rec.set_source_partner(partner);
  auto refuse = [&](const Status& s) {
    rec.set_event(v1::AUDIT_EVENT_REFUSED);
    rec.set_reason("source consent refused: " + s.ToString());
    RefuseMessage(m, s, rec);
  };
  if (Status s = ParseBody(m.env.body, body); !s.ok()) return refuse(s);
  rec.set_case_id(internal::SafeId(body.case_id()));
  auto c = store_->GetCase(body.case_id());
  if (!c.ok()) return refuse(c.status());
  auto known = CaseOf(*c);
  if (!known.ok()) return refuse(known.status());
  const cases::CaseFacts& facts = (*known)->facts;
  const int64_t now = clock_.NowMillis();
  if (facts.closed) return refuse(FailedPreconditionError("case " + c->id + " is closed"));
  if (!facts.IsMember(partner)) {
    return refuse(PermissionDeniedError("partner " + partner + " is not admitted to case " + c->id));
  }
  if (facts.Subject(body.subject_ref()) == nullptr) {
    return refuse(NotFoundError("case " + c->id + " has no subject '" + internal::SafeId(body.subject_ref()) + "'"));
  }
  if (policy_->PurposeIndex(body.purpose()) < 0) {
    return refuse(InvalidArgumentError("'" + internal::SafeId(body.purpose()) + "' is not a purpose of the policy"));
  }
  rec.set_purpose(body.purpose());
  internal::SubjectsFromChain((*known)->chain, {body.subject_ref()}, &rec);  // whose consent (AVG art. 15)
  uint64_t index = 0;
  if (body.withdrawn()) {
    if (body.valid_until_ms() != 0 || body.given_by_size() != 0 || body.has_age_years()) {
      return refuse(InvalidArgumentError("a withdrawal carries no valid_until_ms, given_by or age_years"));
    }
    auto removed = store_->RemoveSourceConsent(c->id, partner, body.subject_ref(), body.purpose());
    if (!removed.ok()) return refuse(removed.status());
    if (!*removed) {
      return refuse(NotFoundError("partner " + partner + " recorded no consent for subject " + body.subject_ref() +
                                  " and purpose " + body.purpose() + " in case " + c->id));
    }
    rec.set_event(v1::AUDIT_EVENT_SOURCE_CONSENT_WITHDRAWN);
    rec.set_reason("subject " + body.subject_ref() + ": consent recorded by " + partner + " withdrawn");
  } else {
    if (body.valid_until_ms() <= now || body.valid_until_ms() > now + kMaxSourceConsentMs) {
      return refuse(InvalidArgumentError("valid_until_ms must lie in the future, at most 5 years ahead"));
    }
    cases::ConsentFact f;
    f.valid_until_ms = body.valid_until_ms();
    f.recorded_ms = m.env.header.sent_at_ms();
    f.givers = 0;
    for (int g : body.given_by()) {
      uint8_t bit = g == v1::CONSENT_GIVER_SUBJECT ? policy::kGiverSubject
                    : g == v1::CONSENT_GIVER_PARENTS ? policy::kGiverParents
                                                     : 0;
      if (bit == 0 || (f.givers & bit) != 0) {
        return refuse(InvalidArgumentError("given_by names SUBJECT and PARENTS, each at most once"));
      }
      f.givers |= bit;
    }
    if (f.givers == 0) f.givers = policy::kGiverSubject;  // not stated: the subject's own
    if (body.has_age_years()) {
      if (body.age_years() > 150) return refuse(InvalidArgumentError("age_years is at most 150"));
      f.age_years = static_cast<int>(body.age_years());
    }
    if (Status s = store_->PutSourceConsent(c->id, partner, body.subject_ref(), body.purpose(), f); !s.ok()) {
      FailUnit(s);
      return;
    }
    std::string givers = f.givers == (policy::kGiverSubject | policy::kGiverParents) ? "the subject and the parents"
                         : f.givers == policy::kGiverParents                          ? "the parents"
                                                                                      : "the subject";
    rec.set_reason("subject " + body.subject_ref() + ": consent given by " + givers +
                   (f.age_years >= 0 ? " (age " + std::to_string(f.age_years) + ")" : "") + ", recorded by " +
                   partner + ", valid until " + FormatRfc3339Millis(f.valid_until_ms));
  }
  rec.set_phase(facts.phase);
  auto logged = Audit(std::move(rec));
  if (!logged.ok()) return;
  index = *logged;
  v1::CaseResult result;
  result.set_case_id(c->id);
  result.set_phase(facts.phase);
  result.set_audit_index(index);
  QueueSigned(m.sender, v1::MESSAGE_KIND_CASE_RESULT, m.env.header.message_id(), result);
  spdlog::debug("case {}: {} {} a consent (audit #{})", c->id, partner, body.withdrawn() ? "withdrew" : "recorded",
                index);
}

Status GatewayCore::FillSourceConsents(cases::CaseFacts* facts) {
  return store_->FillSourceConsents(facts->case_id, facts);
}

}  // namespace kp::gateway
