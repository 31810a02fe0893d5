// GatewayCore: referrals (docs/protocol.md §3.7). A participant whose role
// the policy lets refer (Veilig Thuis) sends a signed REFERRAL; the gateway
// checks it with the case library (cases::VerifyReferral: signature, body,
// subjects, reason codes, the policy's `refers_to`), keeps it, records it and
// holds the envelope, byte for byte, in the inbox of every coordinator of the
// partner it is sealed to. A coordinator declines it (REFERRAL_DECLINE) or
// opens a case on it (an OpenCase carrying the envelope: case_commands.cc
// calls ReferralToAccept and AcceptReferral); one nobody decides lapses
// (ExpireReferrals, from the timer). The referrer learns each outcome from a
// REFERRAL_STATUS held in its inbox. The gateway never sees who the subjects
// are: their identifiers are sealed to the coordinators.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "case/referral.h"
#include "core/base/encoding.h"
#include "core/base/time_format.h"
#include "core/crypto/random.h"
#include "core/envelope/wire_format.h"
#include "gateway/gateway_core.h"
#include "gateway/gateway_core_internal.h"

namespace kp::gateway {

namespace v1 = ketenpoort::v1;
using internal::IdHex;

namespace {

constexpr int64_t kDayMs = 24LL * 3600 * 1000;

v1::ReferralState ToWire(ReferralState s) {
  switch (s) {
    case ReferralState::kWaiting: return v1::REFERRAL_STATE_WAITING;
    case ReferralState::kAccepted: return v1::REFERRAL_STATE_ACCEPTED;
    case ReferralState::kDeclined: return v1::REFERRAL_STATE_DECLINED;
    case ReferralState::kExpired: return v1::REFERRAL_STATE_EXPIRED;
  }
  return v1::REFERRAL_STATE_UNSPECIFIED;
}

// "accepted (case VT-2026-0003)", for refusals naming what became of a referral.
std::string Outcome(const StoredReferral& r) {
  switch (r.state) {
    case ReferralState::kWaiting: return "waiting";
    case ReferralState::kAccepted: return "accepted by " + r.decided_by + " (case " + r.case_id + ")";
    case ReferralState::kDeclined: return "declined by " + r.decided_by + " (" + r.reason_code + ")";
    case ReferralState::kExpired: return "expired on " + FormatUtcMillis(r.decided_ms);
  }
  return "unknown";
}

void DescribeReferral(const StoredReferral& r, v1::AuditRecord* rec) {
  auto* a = rec->mutable_referral();
  a->set_referral_id(r.id);
  a->set_reference(r.reference);
  a->set_referrer(r.referrer);
  for (const auto& code : r.reason_codes) a->add_reason_codes(code);
  a->set_subjects(r.subjects);
  if (r.state == ReferralState::kDeclined) a->set_decline_reason(r.reason_code);
  rec->set_recipient_partner(r.to_partner);
  rec->set_purpose(r.purpose);
  if (!r.case_id.empty()) rec->set_case_id(r.case_id);
}

}  // namespace

Result<std::string> GatewayCore::ReferralStatusMessage(const StoredReferral& r, const std::string& to,
                                                       const std::string& request_id) {
  v1::ReferralStatus status;
  status.set_referral_id(r.id);
  status.set_reference(r.reference);
  status.set_state(ToWire(r.state));
  status.set_case_id(r.case_id);
  status.set_decided_by(r.decided_by);
  if (r.state == ReferralState::kDeclined) status.set_reason_code(r.reason_code);
  status.set_audit_index(r.audit_index);
  status.set_at_ms(r.state == ReferralState::kWaiting ? r.received_ms : r.decided_ms);
  return Sign(v1::MESSAGE_KIND_REFERRAL_STATUS, to, request_id, status);
}

GatewayCore::Again GatewayCore::AnswerReferralAgain(const VerifiedMessage& m) {
  auto known = store_->GetReferral(m.env.header.message_id());
  if (!known.ok()) return Again::kUnreadable;
  if (!known->has_value()) return Again::kNew;
  const StoredReferral& r = **known;
  if (r.referrer != m.sender) return Again::kOthers;
  auto status = ReferralStatusMessage(r, m.sender, r.id);
  if (status.ok()) Queue(m.sender, std::move(*status));
  spdlog::debug("referral {} sent again by {}: {}", IdHex(r.id), m.sender, Outcome(r));
  return Again::kAnswered;
}

void GatewayCore::HandleReferral(const VerifiedMessage& m) {
  const std::string& id = m.env.header.message_id();
  v1::AuditRecord rec;  // what a refusal's record says besides the reason
  rec.mutable_referral()->set_referral_id(id);
  rec.mutable_referral()->set_referrer(m.sender);
  auto refuse = [&](const Status& s) { RefuseMessage(m, s, rec); };

  // The same referral again (its answer was lost): its state, nothing new.
  switch (AnswerReferralAgain(m)) {
    case Again::kAnswered: return;
    case Again::kOthers:
      return refuse(InvalidArgumentError("a referral with this id exists already; send a new referral"));
    case Again::kUnreadable:
      return refuse(UnavailableError("the case database cannot be read now; send the referral again later"));
    case Again::kNew: break;
  }
  // Peek at the body for the record of a refusal (ids and codes only); the
  // case library decides whether it holds.
  v1::Referral peek;
  if (peek.ParseFromString(m.env.body)) {
    rec.mutable_referral()->set_reference(internal::SafeId(peek.reference()));
    rec.set_recipient_partner(internal::SafeId(peek.to_partner()));
  }
  const cases::FoldContext ctx = cases::FoldContext::Of(policy_.get(), *registry_);
  auto verified = cases::VerifyReferral(m.raw, ctx);
  if (!verified.ok()) return refuse(verified.status());
  const v1::Referral& body = verified->referral;
  const RegistryEntry* me = m.entry;
  if (!policy_->MayRefer(me->role, me->card.partner, body.to_partner())) {
    return refuse(PermissionDeniedError("your role (" + me->role + " at " + me->card.partner +
                                        ") may not refer families to " + body.to_partner()));
  }

  StoredReferral r;
  r.id = id;
  r.reference = body.reference();
  r.referrer = m.sender;
  r.to_partner = body.to_partner();
  r.purpose = body.purpose();
  r.reason_codes.assign(body.reason_codes().begin(), body.reason_codes().end());
  r.subjects = static_cast<uint32_t>(body.subjects_size());
  r.envelope = m.raw;
  r.state = ReferralState::kWaiting;
  r.received_ms = clock_.NowMillis();
  r.expires_ms = r.received_ms + std::max(1, policy_->referrals().expire_days) * kDayMs;
  // It waits with every participant it is sealed to that may coordinate at
  // the partner it is for; a copy for anyone else is ignored.
  std::vector<std::string> ignored;
  for (const auto& copy : body.sealed()) {
    const RegistryEntry* e = Enrolled(copy.participant());
    const bool coordinates = e != nullptr && e->card.kind == ParticipantKind::kCoordinator &&
                             e->card.partner == r.to_partner && cases::MayCoordinate(*policy_, *e);
    if (!coordinates) {
      ignored.push_back(copy.participant());
      continue;
    }
    if (std::find(r.coordinators.begin(), r.coordinators.end(), copy.participant()) == r.coordinators.end()) {
      r.coordinators.push_back(copy.participant());
    }
  }
  *rec.mutable_referral() = v1::AuditReferral();
  DescribeReferral(r, &rec);
  if (r.coordinators.empty()) {
    return refuse(FailedPreconditionError("the referral is sealed to no participant that coordinates cases at " +
                                          r.to_partner + ": seal it to the coordinators of " + r.to_partner +
                                          " enrolled in the registry (serial " + std::to_string(registry_serial_) +
                                          ")"));
  }

  v1::AuditRecord received = NewRecord(v1::AUDIT_EVENT_REFERRAL_RECEIVED, m.sender);
  received.set_message_id(id);
  DescribeReferral(r, &received);
  cases::CopySubjects(body.subjects(), &received);  // refs and the referrer's pseudonyms (AVG art. 15)
  received.set_reason("waits with " + std::to_string(r.coordinators.size()) + " coordinator(s) of " + r.to_partner +
                      " until " + FormatUtcMillis(r.expires_ms) +
                      (ignored.empty() ? "" : "; copies for " + std::to_string(ignored.size()) +
                                                  " participant(s) that do not coordinate there were ignored"));
  auto index = Audit(std::move(received));
  if (!index.ok()) return;  // the unit fails; the referrer is told to send it again
  r.audit_index = *index;
  if (Status s = store_->AddReferral(r); !s.ok()) {
    FailUnit(s);
    return;
  }
  for (const auto& coordinator : r.coordinators) {
    // Held until it is decided (or acknowledged): every inbox fetch shows
    // it. Its lapse removes it (ExpireReferrals); the inbox's own expiry
    // is only a backstop.
    InboxItem held{NewMessageId(), coordinator, "", r.envelope, r.received_ms,
                   r.expires_ms + config_.inbox_expiry_ms, r.id};
    if (Status s = store_->AddToInbox(held); !s.ok()) {
      FailUnit(s);
      return;
    }
    if (Queue(coordinator, r.envelope)) outbox_.back().held = true;
  }
  auto status = ReferralStatusMessage(r, m.sender, id);
  if (!status.ok()) {
    FailUnit(status.status());
    return;
  }
  outbox_.push_back(Outgoing{m.sender, m.connection, std::move(*status)});
  spdlog::info("referral {} from {} for {}: waits with {} coordinator(s) (audit #{})", IdHex(id), m.sender,
               r.to_partner, r.coordinators.size(), *index);
}

void GatewayCore::TellReferralState(const StoredReferral& r, const std::string& except) {
  auto tell = [&](const std::string& to) {
    const RegistryEntry* e = Enrolled(to);
    if (e == nullptr || e->card.kind != ParticipantKind::kCoordinator) return;  // left the registry
    auto status = ReferralStatusMessage(r, to, "");
    if (!status.ok()) return FailUnit(status.status());
    SendOrHold(to, r.case_id, *status);
  };
  tell(r.referrer);
  for (const auto& coordinator : r.coordinators) {
    if (Status s = store_->RemoveAcknowledged(coordinator, r.id); !s.ok()) FailUnit(s);
    if (coordinator != except) tell(coordinator);
  }
}

void GatewayCore::HandleReferralDecline(const VerifiedMessage& m) {
  v1::ReferralDecline decline;
  v1::AuditRecord rec;
  auto refuse = [&](const Status& s) { RefuseMessage(m, s, rec); };
  if (Status s = ParseBody(m.env.body, decline); !s.ok()) return refuse(s);
  if (decline.referral_id().size() != wire::kMessageIdBytes) {
    return refuse(InvalidArgumentError("a decline names the referral by its 16-byte id"));
  }
  rec.mutable_referral()->set_referral_id(decline.referral_id());
  rec.mutable_referral()->set_decline_reason(internal::SafeId(decline.reason_code()));
  auto known = store_->GetReferral(decline.referral_id());
  if (!known.ok()) return refuse(known.status());
  if (!known->has_value()) return refuse(NotFoundError("no referral with this id is known to the gateway"));
  StoredReferral r = **known;
  DescribeReferral(r, &rec);
  if (std::find(r.coordinators.begin(), r.coordinators.end(), m.sender) == r.coordinators.end()) {
    return refuse(PermissionDeniedError("referral " + r.reference + " was not addressed to you"));
  }
  if (r.state == ReferralState::kDeclined && r.decided_by == m.sender && r.reason_code == decline.reason_code()) {
    // Declined already, by this coordinator for this reason: its state again.
    auto status = ReferralStatusMessage(r, m.sender, m.env.header.message_id());
    if (status.ok()) Queue(m.sender, std::move(*status));
    return;
  }
  if (r.state != ReferralState::kWaiting) {
    return refuse(FailedPreconditionError("referral " + r.reference + " was " + Outcome(r) +
                                          "; it can no longer be declined"));
  }
  const auto& codes = policy_->referrals().decline_reasons;
  if (!policy::Policy::HasCode(codes, decline.reason_code())) {
    std::string allowed;
    for (const auto& c : codes) allowed += (allowed.empty() ? "" : ", ") + c.id;
    return refuse(InvalidArgumentError("'" + internal::SafeId(decline.reason_code()) +
                                       "' is not a decline reason of the policy" +
                                       (allowed.empty() ? " (it names none)" : "; use one of: " + allowed)));
  }
  r.state = ReferralState::kDeclined;
  r.decided_by = m.sender;
  r.decided_ms = clock_.NowMillis();
  r.reason_code = decline.reason_code();
  v1::AuditRecord declined = NewRecord(v1::AUDIT_EVENT_REFERRAL_DECLINED, m.sender);
  declined.set_message_id(m.env.header.message_id());
  DescribeReferral(r, &declined);
  auto index = Audit(std::move(declined));
  if (!index.ok()) return;
  r.audit_index = *index;
  if (Status s = store_->UpdateReferral(r); !s.ok()) return FailUnit(s);
  TellReferralState(r, m.sender);
  auto status = ReferralStatusMessage(r, m.sender, m.env.header.message_id());
  if (!status.ok()) return FailUnit(status.status());
  outbox_.push_back(Outgoing{m.sender, m.connection, std::move(*status)});
  spdlog::info("referral {} declined by {} ({}) (audit #{})", IdHex(r.id), m.sender, r.reason_code, *index);
}

Result<StoredReferral> GatewayCore::ReferralToAccept(const std::string& envelope, const std::string& opener) {
  const std::string id = UnverifiedMessageId(envelope);
  if (id.empty()) return InvalidArgumentError("the open's referral is not a signed referral envelope");
  KP_ASSIGN_OR_RETURN(std::optional<StoredReferral> known, store_->GetReferral(id));
  if (!known.has_value()) {
    return NotFoundError("this referral never reached the gateway: a case opens only on a referral the gateway "
                         "received and holds");
  }
  if (known->envelope != envelope) {
    return InvalidArgumentError("the open carries a referral other than the one the gateway holds under its id");
  }
  if (std::find(known->coordinators.begin(), known->coordinators.end(), opener) == known->coordinators.end()) {
    return PermissionDeniedError("referral " + known->reference + " was not addressed to you");
  }
  if (known->state != ReferralState::kWaiting) {
    return FailedPreconditionError("referral " + known->reference + " was " + Outcome(*known) +
                                   "; a case can no longer open on it");
  }
  if (known->expires_ms <= clock_.NowMillis()) {
    return FailedPreconditionError("referral " + known->reference + " lapsed on " + FormatUtcMillis(known->expires_ms) +
                                   " without a decision; ask the referrer to refer again");
  }
  return *std::move(known);
}

Status GatewayCore::AcceptReferral(StoredReferral r, const std::string& case_id, const std::string& opener) {
  r.state = ReferralState::kAccepted;
  r.decided_by = opener;
  r.decided_ms = clock_.NowMillis();
  r.case_id = case_id;
  v1::AuditRecord accepted = NewRecord(v1::AUDIT_EVENT_REFERRAL_ACCEPTED, opener);
  DescribeReferral(r, &accepted);
  accepted.set_reason("case " + case_id + " opened on referral " + r.reference + "; " + r.referrer + "'s partner admitted");
  KP_ASSIGN_OR_RETURN(r.audit_index, Audit(std::move(accepted)));
  KP_RETURN_IF_ERROR(store_->UpdateReferral(r));
  TellReferralState(r, opener);
  spdlog::info("referral {} accepted by {}: case {}", IdHex(r.id), opener, case_id);
  return OkStatus();
}

void GatewayCore::ExpireReferrals(int64_t now) {
  auto expired = store_->ExpiredReferrals(now);
  if (!expired.ok()) {
    spdlog::error("cannot read waiting referrals: {}", expired.status().message());
    return;
  }
  for (StoredReferral r : *expired) {
    r.state = ReferralState::kExpired;
    r.decided_ms = now;
    v1::AuditRecord rec = NewRecord(v1::AUDIT_EVENT_REFERRAL_EXPIRED, identity_->id());
    DescribeReferral(r, &rec);
    rec.set_reason("no coordinator of " + r.to_partner + " decided within " +
                   std::to_string(policy_->referrals().expire_days) + " days");
    auto index = Audit(std::move(rec));
    if (!index.ok()) return;
    r.audit_index = *index;
    if (Status s = store_->UpdateReferral(r); !s.ok()) return FailUnit(s);
    TellReferralState(r, "");
    spdlog::info("referral {} from {} expired undecided", IdHex(r.id), r.referrer);
  }
}

}  // namespace kp::gateway
