// Responder: the approval queue and the consents the partner records itself
// (docs/agent.md, "The source's professional decides"; protocol §3.10).
#include <spdlog/spdlog.h>

#include "agent/responder.h"
#include "case/decision.h"
#include "case/pseudonym.h"
#include "case/subject_role.h"
#include "core/base/clock.h"
#include "core/base/encoding.h"
#include "core/envelope/wire_format.h"

namespace kp::agent {

namespace v1 = ketenpoort::v1;

namespace {

std::string RoleId(v1::SubjectRole role) {
  const std::string_view id = cases::SubjectRoleId(role);
  return id.empty() ? "unknown" : std::string(id);
}

std::string Hours(int64_t ms) {
  const int64_t h = ms / 3'600'000;
  if (h >= 1) return std::to_string(h) + (h == 1 ? " hour" : " hours");
  const int64_t m = ms / 60'000;
  if (m >= 1) return std::to_string(m) + (m == 1 ? " minute" : " minutes");
  return std::to_string(ms / 1000) + " seconds";
}

}  // namespace

bool Responder::NeedsApproval(const v1::Authorisation& auth, const ToHold& held) const {
  // The agent's own decision says so; so may the gateway's (the same
  // policy) and the partner's own restriction.
  if (held.decision.needs_source_approval || auth.decision().obligations().source_approval()) return true;
  for (const auto& c : held.request.categories()) {
    if (options_.approve_categories.count(c) != 0) return true;
  }
  return false;
}

Outcome Responder::HoldForApproval(const v1::Authorisation& auth, const ToHold& held) {
  const int64_t now = clock_.NowMillis();
  const std::string& request_id = held.request_id;
  if (options_.approvals == nullptr) {
    Status why = FailedPreconditionError("this request needs the approval of a professional at " + me_.partner() +
                                         ", and this agent keeps no approval queue");
    v1::AuditRecord rec = NewRecord(v1::AUDIT_EVENT_REFUSED);
    rec.set_case_id(held.request.case_id());
    rec.set_message_id(request_id);
    cases::CopySubjects(held.request.subjects(), &rec);
    rec.set_reason("refused by the agent: " + why.ToString());
    AppendAsync(std::move(rec));
    ++refused_count_;
    auto msg = SignAgentRefusal(request_id, held.request.case_id(), why.message(), {});
    return {msg.ok() ? std::optional<std::string>(std::move(*msg)) : std::nullopt, why};
  }
  PendingApproval a;
  a.request_id = request_id;
  a.case_id = held.request.case_id();
  a.coordinator = held.coordinator;
  a.recipient_partner = held.coordinator_partner;
  a.purpose = held.request.purpose();
  a.categories.assign(held.request.categories().begin(), held.request.categories().end());
  for (auto r : held.decision.rule_ids) a.rule_ids.emplace_back(r);
  for (auto b : held.decision.legal_bases) a.legal_basis += (a.legal_basis.empty() ? "" : ",") + std::string(b);
  a.phase = held.phase;
  for (const auto& s : held.subjects.subjects()) a.subject_roles.push_back(RoleId(s.role()));
  a.justification = held.request.justification_present();
  a.authorisation = auth.SerializeAsString();  // the subjects inside stay sealed to this agent
  a.queued_ms = now;
  a.decide_by_ms = now + options_.approval_time_ms;
  if (Status s = options_.approvals->Add(a); !s.ok()) {
    spdlog::error("request {}: cannot keep it in the approval queue: {}", HexEncode(request_id), s.message());
    Status why = UnavailableError("the agent of " + me_.partner() + " cannot keep the request for its professional's "
                                  "approval now; send it again later");
    auto msg = SignAgentRefusal(request_id, a.case_id, why.message(), {});
    return {msg.ok() ? std::optional<std::string>(std::move(*msg)) : std::nullopt, why};
  }
  v1::AuditRecord rec = NewRecord(v1::AUDIT_EVENT_APPROVAL_PENDING);
  rec.set_case_id(a.case_id);
  rec.set_message_id(request_id);
  cases::CopySubjects(held.request.subjects(), &rec);
  rec.set_recipient_partner(a.recipient_partner);
  rec.set_purpose(a.purpose);
  rec.set_phase(a.phase);
  for (const auto& c : a.categories) rec.add_categories()->set_name(c);
  cases::ToAudit(*policy_, held.decision, &rec);
  rec.set_reason("held for the approval of a professional at " + me_.partner() + " until " +
                 FormatRfc3339Millis(a.decide_by_ms));
  AppendAsync(std::move(rec));
  spdlog::info("request {} case={} waits for a professional's approval (until {}): ketenpoort-agent approvals list",
               HexEncode(request_id), a.case_id, FormatRfc3339Millis(a.decide_by_ms));
  v1::ApprovalPending pending;
  pending.set_request_id(request_id);
  pending.set_case_id(a.case_id);
  pending.set_decide_by_ms(a.decide_by_ms);
  auto msg = signer_.Sign(v1::MESSAGE_KIND_APPROVAL_PENDING, "", request_id, pending.SerializeAsString());
  if (!msg.ok()) return {std::nullopt, msg.status()};
  return {std::move(msg->bytes), OkStatus()};
}

std::optional<Outcome> Responder::ApprovalAgain(const std::string& request_id) {
  auto got = options_.approvals->Get(request_id);
  if (!got.ok()) {
    spdlog::error("cannot read the approval queue: {}", got.status().message());
    return Outcome{std::nullopt, got.status()};  // nothing now; the gateway asks again after a reconnect
  }
  if (!got->has_value()) return std::nullopt;
  const PendingApproval& a = **got;
  switch (a.state) {
    case ApprovalState::kWaiting: {
      // The gateway may not have the pending notice (a reconnect): again.
      v1::ApprovalPending pending;
      pending.set_request_id(request_id);
      pending.set_case_id(a.case_id);
      pending.set_decide_by_ms(a.decide_by_ms);
      auto msg = signer_.Sign(v1::MESSAGE_KIND_APPROVAL_PENDING, "", request_id, pending.SerializeAsString());
      if (!msg.ok()) return Outcome{std::nullopt, msg.status()};
      return Outcome{std::move(msg->bytes), OkStatus()};
    }
    case ApprovalState::kApproved:
    case ApprovalState::kDeclined:
      return Outcome{};  // decided: ActOnApprovals answers it at the next look
    case ApprovalState::kRefused:
    case ApprovalState::kExpired: {
      // Refused already; the gateway did not get it (it asks again).
      auto msg = SignAgentRefusal(request_id, a.case_id, a.outcome, a.rule_ids);
      if (!msg.ok()) return Outcome{std::nullopt, msg.status()};
      return Outcome{std::move(*msg), OkStatus()};
    }
    case ApprovalState::kAnswered:
      return std::nullopt;  // the kept answer (or the answered-once rule) handles it
  }
  return std::nullopt;
}

Result<std::string> Responder::SignAgentRefusal(const std::string& request_id, const std::string& case_id,
                                                const std::string& reason, const std::vector<std::string>& rule_ids) {
  v1::Refusal refusal;
  refusal.set_request_id(request_id);
  refusal.set_case_id(case_id);
  refusal.set_refused_by(v1::REFUSED_BY_AGENT);
  refusal.set_reason(reason);
  for (const auto& r : rule_ids) refusal.add_rule_ids(r);
  KP_ASSIGN_OR_RETURN(SignedMessage msg,
                      signer_.Sign(v1::MESSAGE_KIND_REFUSAL, "", request_id, refusal.SerializeAsString()));
  return std::move(msg.bytes);
}

std::vector<std::string> Responder::ActOnApprovals() {
  std::vector<std::string> out;
  if (options_.approvals == nullptr) return out;
  const int64_t now = clock_.NowMillis();
  // Settled entries go a while after their time (Approvals::kKeepSettledMs).
  if (auto pruned = options_.approvals->PruneSettled(now); !pruned.ok()) {
    spdlog::warn("cannot prune the approval queue: {}", pruned.status().message());
  } else if (*pruned > 0) {
    spdlog::info("{} settled approval(s) removed from the queue", *pruned);
  }
  auto due = options_.approvals->ToActOn(now);
  if (!due.ok()) {
    spdlog::error("cannot read the approval queue: {}", due.status().message());
    return out;
  }
  for (const PendingApproval& a : *due) {
    const std::string id = HexEncode(a.request_id);
    v1::AuditRecord rec = NewRecord(v1::AUDIT_EVENT_UNSPECIFIED);
    rec.set_case_id(a.case_id);
    rec.set_message_id(a.request_id);
    SubjectsOfAuthorisation(a.authorisation, &rec);
    rec.set_recipient_partner(a.recipient_partner);
    rec.set_purpose(a.purpose);
    rec.set_phase(a.phase);
    for (const auto& c : a.categories) rec.add_categories()->set_name(c);
    for (const auto& r : a.rule_ids) rec.mutable_decision()->add_rule_ids(r);
    std::string reason;
    ApprovalState settled = ApprovalState::kRefused;
    if (a.state == ApprovalState::kWaiting) {
      rec.set_event(v1::AUDIT_EVENT_APPROVAL_EXPIRED);
      rec.set_reason("no professional decided within " + Hours(a.decide_by_ms - a.queued_ms));
      // The reason begins with "approval expired: " (protocol §3.10): the
      // gateway tells this lapse from a decline by it, and only for a lapse
      // sends the coordinator the APPROVAL_EXPIRED notice.
      reason = "approval expired: the request waited for the approval of a professional at " + me_.partner() +
               " and no one decided within " + Hours(a.decide_by_ms - a.queued_ms);
      settled = ApprovalState::kExpired;
    } else if (a.state == ApprovalState::kDeclined) {
      rec.set_event(v1::AUDIT_EVENT_SOURCE_DECLINED);
      rec.set_reason("declined by " + a.decided_by + ": " + a.reason);
      reason = "declined by the professional at " + me_.partner() + ": " + a.reason;
    } else {
      rec.set_event(v1::AUDIT_EVENT_SOURCE_APPROVED);
      rec.set_reason("approved by " + a.decided_by + (a.reason.empty() ? "" : ": " + a.reason));
      AppendAsync(std::move(rec));
      v1::Authorisation auth;
      Outcome answered;
      if (!auth.ParseFromString(a.authorisation)) {
        answered = Outcome{std::nullopt, DataLossError("the kept authorisation does not parse")};
      } else {
        answered = AnswerApproved(auth, a.request_id, a.decide_by_ms);
      }
      std::string outcome = answered.status.ok() ? "answered" : "refused: " + answered.status.message();
      if (Status s = options_.approvals->Settle(a.request_id, ApprovalState::kAnswered, outcome); !s.ok()) {
        spdlog::error("request {}: cannot settle its approval: {}", id, s.message());
      }
      spdlog::info("request {} case={} approved by the professional: {}", id, a.case_id, outcome);
      if (answered.reply.has_value()) out.push_back(std::move(*answered.reply));
      continue;
    }
    AppendAsync(std::move(rec));
    ++refused_count_;
    if (Status s = options_.approvals->Settle(a.request_id, settled, reason); !s.ok()) {
      spdlog::error("request {}: cannot settle its approval: {}", id, s.message());
      continue;  // again at the next look
    }
    spdlog::info("request {} case={} {}", id, a.case_id,
                 settled == ApprovalState::kExpired ? "expired: no professional decided in time"
                                                    : "declined by the professional");
    auto msg = SignAgentRefusal(a.request_id, a.case_id, reason, a.rule_ids);
    if (msg.ok()) out.push_back(std::move(*msg));
  }
  return out;
}

std::vector<std::string> Responder::SourceConsentsToSend() {
  std::vector<std::string> out;
  if (options_.approvals == nullptr) return out;
  auto unsent = options_.approvals->UnsentConsents();
  if (!unsent.ok()) {
    spdlog::error("cannot read the consents to send: {}", unsent.status().message());
    return out;
  }
  const int64_t now = clock_.NowMillis();
  for (const SourceConsentEntry& c : *unsent) {
    auto it = consent_sent_ms_.find(c.id);
    if (it != consent_sent_ms_.end() && now - it->second < kConsentResendMs) continue;
    v1::SourceConsent body;
    body.set_case_id(c.case_id);
    body.set_subject_ref(c.subject_ref);
    body.set_purpose(c.purpose);
    body.set_withdrawn(c.withdrawn);
    if (!c.withdrawn) {
      body.set_valid_until_ms(c.valid_until_ms);
      if ((c.givers & policy::kGiverSubject) != 0) body.add_given_by(v1::CONSENT_GIVER_SUBJECT);
      if ((c.givers & policy::kGiverParents) != 0) body.add_given_by(v1::CONSENT_GIVER_PARENTS);
      if (c.age_years >= 0) body.set_age_years(static_cast<uint32_t>(c.age_years));
    }
    auto msg = signer_.Sign(v1::MESSAGE_KIND_SOURCE_CONSENT, "", "", body.SerializeAsString());
    if (!msg.ok()) continue;
    if (Status s = options_.approvals->MarkConsentSent(c.id, msg->message_id); !s.ok()) {
      spdlog::error("cannot note a consent as sent: {}", s.message());
      continue;
    }
    consent_sent_ms_[c.id] = now;
    out.push_back(std::move(msg->bytes));
  }
  return out;
}

Outcome Responder::HandleCaseResult(const VerifiedEnvelope& env) {
  if (options_.approvals == nullptr) return {};
  v1::CaseResult result;
  if (Status s = ParseBody(env.body, result); !s.ok()) return {std::nullopt, s};
  auto c = options_.approvals->ConsentByMessage(env.header.request_id());
  if (!c.ok() || !c->has_value()) {
    spdlog::warn("ignored a case result for a message this agent did not send");
    return {};
  }
  if ((*c)->confirmed) return {};
  if (Status s = options_.approvals->ConfirmConsent(env.header.request_id(), result.audit_index()); !s.ok()) {
    spdlog::error("cannot note the gateway's confirmation of a consent: {}", s.message());
    return {std::nullopt, s};
  }
  consent_sent_ms_.erase((*c)->id);
  const SourceConsentEntry& e = **c;
  v1::AuditRecord rec =
      NewRecord(e.withdrawn ? v1::AUDIT_EVENT_SOURCE_CONSENT_WITHDRAWN : v1::AUDIT_EVENT_SOURCE_CONSENT_RECORDED);
  rec.set_case_id(e.case_id);
  rec.set_purpose(e.purpose);
  rec.set_message_id(env.header.request_id());
  rec.set_reason(std::string(e.withdrawn ? "consent withdrawn" : "consent recorded") + " for subject " +
                 e.subject_ref + " by " + e.recorded_by +
                 (e.withdrawn ? "" : ", valid until " + FormatRfc3339Millis(e.valid_until_ms)) +
                 "; gateway log index " + std::to_string(result.audit_index()));
  AppendAsync(std::move(rec));
  spdlog::info("consent for subject {} of case {} {} at the gateway (log #{})", e.subject_ref, e.case_id,
               e.withdrawn ? "withdrawn" : "recorded", result.audit_index());
  return {};
}

bool Responder::HandleConsentError(const std::string& message_id, const v1::Error& err) {
  if (options_.approvals == nullptr || message_id.empty()) return false;
  auto c = options_.approvals->ConsentByMessage(message_id);
  if (!c.ok() || !c->has_value()) return false;
  if (err.code() == v1::ERROR_CODE_UNAVAILABLE || err.code() == v1::ERROR_CODE_RESOURCE_EXHAUSTED ||
      err.code() == v1::ERROR_CODE_UNAUTHENTICATED) {
    consent_sent_ms_[(*c)->id] = 0;  // again at the next look
    return true;
  }
  (void)options_.approvals->RefuseConsent(message_id, err.message());
  v1::AuditRecord rec = NewRecord(v1::AUDIT_EVENT_REFUSED);
  rec.set_case_id((*c)->case_id);
  rec.set_message_id(message_id);
  rec.set_reason("the gateway refused the consent this partner recorded: " + err.message());
  AppendAsync(std::move(rec));
  spdlog::warn("the gateway refused the consent for subject {} of case {}: {}", (*c)->subject_ref, (*c)->case_id,
               err.message());
  return true;
}

}  // namespace kp::agent
