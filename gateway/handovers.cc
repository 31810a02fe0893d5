// GatewayCore: what follows a case command beyond the command itself
// (docs/protocol.md §3.6) — handovers, stand-ins, acute cases, partners
// removed — and what the clock makes happen to a case: an offer lapsing, a
// stand-in ending, an acute window ending. The case library's fold decides
// whether a command may follow the history (case_commands.cc applies it);
// here the gateway records the moments, remembers the deadlines, tells the
// participants concerned (CASE_NOTICE, held in their inbox) and holds the
// former coordinator's sealed handover package until the handover is
// accepted. It reads none of the package: it is sealed to the next
// coordinator. Each part but the subjects' names the request whose answer
// it carries; on release the gateway asks the policy whether that answer may
// go to the next coordinator now (cases::DecideHandOver, on what it kept
// when it delivered the answer) and drops, records and reports a part the
// policy keeps back (§3.6, "What goes over").
#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>

#include "case/case_chain.h"
#include "case/decision.h"
#include "case/policy_category.h"
#include "case/pseudonym.h"
#include "core/base/encoding.h"
#include "core/base/time_format.h"
#include "core/envelope/wire_format.h"
#include "gateway/gateway_core.h"
#include "gateway/gateway_core_internal.h"

namespace kp::gateway {

namespace v1 = ketenpoort::v1;
using internal::IdHex;

namespace {

// At most this many parts in one handover package.
constexpr uint32_t kMaxHandoverParts = 64;

void SetHandover(const std::string& from, const std::string& to, const std::string& reason, int64_t offered_ms,
                 int64_t expires_ms, int64_t stand_in_until_ms, v1::AuditRecord* rec) {
  auto* h = rec->mutable_handover();
  h->set_from(from);
  h->set_to(to);
  h->set_reason_code(reason);
  h->set_offered_unix_millis(offered_ms);
  h->set_expires_unix_millis(expires_ms);
  h->set_stand_in_until_unix_millis(stand_in_until_ms);
}

void SetOffer(const cases::HandoverOffer& o, v1::AuditRecord* rec) {
  SetHandover(o.from, o.to, o.reason, o.offered_ms, o.expires_ms, o.stand_in_until_ms, rec);
}

v1::CaseNotice NewNotice(v1::NoticeKind kind, const cases::CaseFacts& f, const std::string& by, int64_t at_ms,
                         int64_t until_ms, const std::string& reason, uint64_t audit_index) {
  v1::CaseNotice n;
  n.set_kind(kind);
  n.set_case_id(f.case_id);
  n.set_by(by);
  n.set_phase(f.phase);
  n.set_at_ms(at_ms);
  n.set_until_ms(until_ms);
  n.set_reason_code(reason);
  n.set_audit_index(audit_index);
  return n;
}

// The request a held handover part names (HandoverPackage.request_id), read
// from the sender's envelope the gateway checked on receipt; "" for the
// subjects' part.
std::string PartRequestId(const std::string& envelope) {
  v1::Envelope env;
  v1::HandoverPackage p;
  if (!env.ParseFromString(envelope) || !p.ParseFromString(env.body())) return "";
  return p.request_id();
}

}  // namespace

// What the log says about a handover, acute or removal command beyond
// DescribeCommand (case_commands.cc): the moment, from the facts before
// and after it.
void DescribeCaseMoment(const cases::ChainCommand& c, const cases::CaseFacts& before, const cases::CaseFacts& after,
                        v1::AuditRecord* rec) {
  const v1::CaseCommand& cmd = c.command;
  switch (cmd.command_case()) {
    case v1::CaseCommand::kOfferHandover:
      rec->set_event(v1::AUDIT_EVENT_HANDOVER_OFFERED);
      if (after.offer) SetOffer(*after.offer, rec);
      rec->set_reason(cmd.offer_handover().stand_in_until_ms() != 0
                          ? "stand-in (waarneming) offered until " +
                                FormatUtcMillis(cmd.offer_handover().stand_in_until_ms())
                          : "handover offered");
      break;
    case v1::CaseCommand::kAcceptHandover:
      rec->set_event(v1::AUDIT_EVENT_HANDOVER_ACCEPTED);
      if (!after.handovers.empty()) {
        const cases::HandoverMoment& m = after.handovers.back();
        SetHandover(m.from, m.to, m.reason, m.offered_ms, before.offer ? before.offer->expires_ms : 0,
                    m.stand_in_until_ms, rec);
        rec->set_reason(m.stand_in_until_ms != 0 ? "stand-in (waarneming) until " + FormatUtcMillis(m.stand_in_until_ms)
                                                 : "handed over for good");
      }
      break;
    case v1::CaseCommand::kCancelHandover:
      rec->set_event(v1::AUDIT_EVENT_HANDOVER_CANCELLED);
      if (before.offer) SetOffer(*before.offer, rec);
      rec->set_reason(cmd.cancel_handover().reason_code());
      break;
    case v1::CaseCommand::kRemovePartner:
      rec->set_event(v1::AUDIT_EVENT_PARTNER_REMOVED);
      rec->set_recipient_partner(cmd.remove_partner().partner());
      rec->set_reason(cmd.remove_partner().reason_code());
      break;
    default:
      break;
  }
  if (after.acute && after.acute_until_ms != 0) rec->set_acute_until_unix_millis(after.acute_until_ms);
}

std::vector<std::string> GatewayCore::CoordinatorsOf(const std::string& partner, bool acute_roles_too) const {
  std::vector<std::string> out;
  for (const auto& [id, e] : registry_->entries()) {
    if (e.card.kind != ParticipantKind::kCoordinator || e.card.partner != partner) continue;
    if (cases::MayCoordinate(*policy_, e) || (acute_roles_too && policy_->MayOpenAcute(e.role, e.card.partner))) {
      out.push_back(id);
    }
  }
  return out;
}

void GatewayCore::Notify(const std::string& to, const v1::CaseNotice& notice) {
  const RegistryEntry* e = Enrolled(to);
  if (e == nullptr || e->card.kind != ParticipantKind::kCoordinator) return;  // only coordinators fetch an inbox
  auto msg = Sign(v1::MESSAGE_KIND_CASE_NOTICE, to, "", notice);
  if (!msg.ok()) return FailUnit(msg.status());
  SendOrHold(to, notice.case_id(), *msg);
}

Status GatewayCore::AfterCaseCommand(const cases::ChainCommand& c, const cases::CaseFacts& before,
                                     const cases::CaseFacts& after, uint64_t index) {
  KP_RETURN_IF_ERROR(EndWatchesAfter(c, after));  // a closure or removal ends watches (watches.cc)
  const v1::CaseCommand& cmd = c.command;
  const std::string& case_id = after.case_id;
  const int64_t now = clock_.NowMillis();
  switch (cmd.command_case()) {
    case v1::CaseCommand::kOpen: {
      if (!after.acute) break;
      // Samen op in Acuut: the window is recorded, watched, and every acute
      // partner's coordinators learn of the case at once.
      std::string partners;
      for (const auto& p : policy_->partners()) {
        const int i = policy_->PartnerIndex(p.id);
        if (((policy_->acute().partners >> i) & 1U) != 0 && after.IsMember(p.id)) {
          partners += (partners.empty() ? "" : ", ") + p.id;
        }
      }
      v1::AuditRecord rec = NewRecord(v1::AUDIT_EVENT_ACUTE_OPENED, c.signer);
      rec.set_case_id(case_id);
      rec.set_message_id(c.message_id);
      rec.set_phase(after.phase);
      rec.set_acute_until_unix_millis(after.acute_until_ms);
      if (c.command.has_open()) cases::CopySubjects(c.command.open().subjects(), &rec);
      rec.set_reason("acute case opened; window until " + FormatUtcMillis(after.acute_until_ms) +
                     "; admitted and notified: " + partners);
      KP_ASSIGN_OR_RETURN(uint64_t acute_index, Audit(std::move(rec)));
      KP_RETURN_IF_ERROR(
          store_->AddDeadline({case_id, DeadlineKind::kAcuteWindowEnds, "", after.acute_until_ms}));
      const v1::CaseNotice n =
          NewNotice(v1::NOTICE_KIND_ACUTE_OPENED, after, c.signer, c.signed_ms, after.acute_until_ms, "", acute_index);
      for (const auto& p : policy_->partners()) {
        const int i = policy_->PartnerIndex(p.id);
        if (((policy_->acute().partners >> i) & 1U) == 0 || !after.IsMember(p.id)) continue;
        for (const auto& to : CoordinatorsOf(p.id, true)) {
          if (to != c.signer) Notify(to, n);
        }
      }
      break;
    }
    case v1::CaseCommand::kOfferHandover: {
      if (!after.offer) break;
      KP_RETURN_IF_ERROR(
          store_->AddDeadline({case_id, DeadlineKind::kOfferLapses, after.offer->hash, after.offer->expires_ms}));
      Notify(after.offer->to, NewNotice(v1::NOTICE_KIND_HANDOVER_OFFERED, after, c.signer, c.signed_ms,
                                        after.offer->expires_ms, after.offer->reason, index));
      break;
    }
    case v1::CaseCommand::kAcceptHandover: {
      if (after.handovers.empty()) break;
      const cases::HandoverMoment& m = after.handovers.back();
      const std::string& offer = cmd.accept_handover().offer();
      KP_RETURN_IF_ERROR(store_->SetCoordinator(case_id, m.to));
      KP_RETURN_IF_ERROR(store_->RemoveDeadline({case_id, DeadlineKind::kOfferLapses, offer, 0}));
      if (before.acute && before.acute_until_ms != 0 && after.acute_until_ms == 0) {
        KP_RETURN_IF_ERROR(store_->RemoveDeadline({case_id, DeadlineKind::kAcuteWindowEnds, "", 0}));
      }
      if (m.stand_in_until_ms != 0) {
        KP_RETURN_IF_ERROR(store_->AddDeadline({case_id, DeadlineKind::kStandInEnds, c.hash, m.stand_in_until_ms}));
      }
      Notify(m.from, NewNotice(v1::NOTICE_KIND_HANDOVER_ACCEPTED, after, c.signer, c.signed_ms, m.stand_in_until_ms,
                               m.reason, index));
      size_t dropped = 0;
      KP_RETURN_IF_ERROR(ReleaseHandoverParts(after, offer, false, &dropped));
      (void)now;
      break;
    }
    case v1::CaseCommand::kCancelHandover: {
      if (!before.offer) break;
      KP_RETURN_IF_ERROR(store_->RemoveDeadline({case_id, DeadlineKind::kOfferLapses, before.offer->hash, 0}));
      size_t dropped = 0;
      KP_RETURN_IF_ERROR(ReleaseHandoverParts(after, before.offer->hash, true, &dropped));
      if (dropped != 0) spdlog::info("case {}: {} held handover part(s) dropped with the offer", case_id, dropped);
      Notify(before.offer->to, NewNotice(v1::NOTICE_KIND_HANDOVER_CANCELLED, after, c.signer, c.signed_ms,
                                         before.offer->expires_ms, cmd.cancel_handover().reason_code(), index));
      break;
    }
    case v1::CaseCommand::kRemovePartner: {
      const v1::CaseNotice n = NewNotice(v1::NOTICE_KIND_PARTNER_REMOVED, after, c.signer, c.signed_ms, 0,
                                         cmd.remove_partner().reason_code(), index);
      for (const auto& to : CoordinatorsOf(cmd.remove_partner().partner(), true)) Notify(to, n);
      break;
    }
    case v1::CaseCommand::kClose: {
      // A pending offer ends with the case: its package goes undelivered.
      if (const cases::HandoverOffer* o = before.PendingOfferAt(c.signed_ms)) {
        size_t dropped = 0;
        KP_RETURN_IF_ERROR(ReleaseHandoverParts(after, o->hash, true, &dropped));
      }
      // What it authorised for the case's requests is no longer kept.
      KP_RETURN_IF_ERROR(store_->ForgetDelivered(case_id));
      break;
    }
    default:
      break;
  }
  return OkStatus();
}

Status GatewayCore::ReleaseHandoverParts(const cases::CaseFacts& case_facts, const std::string& offer, bool drop,
                                         size_t* dropped) {
  const std::string& case_id = case_facts.case_id;
  KP_ASSIGN_OR_RETURN(std::vector<HeldHandoverPart> parts, store_->HandoverParts(offer));
  if (parts.empty()) return OkStatus();
  KP_RETURN_IF_ERROR(store_->DropHandoverParts(offer));
  if (drop) {
    *dropped = parts.size();
    return OkStatus();
  }
  // What goes over (§3.6): the subjects' part always; a fragment's part
  // when the policy would give its answer to the next coordinator now,
  // counting the consents its source recorded itself (§3.10) as a request does.
  cases::CaseFacts facts = case_facts;
  KP_RETURN_IF_ERROR(FillSourceConsents(&facts));
  const int64_t now = clock_.NowMillis();
  const HeldHandoverPart& first = parts.front();
  const RegistryEntry* to = Enrolled(first.recipient);
  auto policy = policy_;  // the decisions' views point into it
  struct Withheld {
    std::string request_id;
    v1::FragmentRequest request;
    policy::Decision decision;
  };
  std::vector<const HeldHandoverPart*> going;
  std::vector<Withheld> withheld;
  std::vector<Withheld> flagged;  // going, with a permit that asks to notify the privacy officer
  for (const auto& p : parts) {
    const std::string request_id = PartRequestId(p.envelope);
    if (request_id.empty()) {
      going.push_back(&p);
      continue;
    }
    Withheld w;
    w.request_id = request_id;
    KP_ASSIGN_OR_RETURN(std::optional<DeliveredRequest> delivered, store_->GetDelivered(request_id, now));
    v1::Decision original;
    if (!delivered || delivered->case_id != case_id) {
      w.decision.reason = "the gateway no longer keeps what it authorised for this request (its retention passed)";
    } else if (!w.request.ParseFromString(delivered->request) || !original.ParseFromString(delivered->decision)) {
      w.decision.reason = "what the gateway kept of this request does not parse";
    } else if (to == nullptr) {
      w.decision.reason = first.recipient + " is not enrolled";
    } else {
      policy::Decision d = cases::DecideHandOver(*policy, facts, w.request, original, *to, now);
      if (d.effect == policy::Effect::kPermit) {
        going.push_back(&p);
        if (d.obligations.notify_privacy_officer) flagged.push_back({request_id, w.request, std::move(d)});
        continue;
      }
      w.decision = std::move(d);
    }
    withheld.push_back(std::move(w));
  }
  if (!going.empty()) {
    // One record per release: who handed what size to whom (never what).
    uint64_t bytes = 0;
    for (const auto* p : going) bytes += p->envelope.size();
    v1::AuditRecord rec = NewRecord(v1::AUDIT_EVENT_HANDOVER_DATA, first.sender);
    rec.set_case_id(case_id);
    rec.set_phase(facts.phase);
    rec.set_message_id(going.front()->message_id);
    if (auto chain = store_->Commands(case_id); chain.ok()) {  // every subject's data goes over (AVG art. 15)
      std::vector<std::string> refs;
      for (const auto& s : facts.subjects) refs.push_back(s.ref);
      internal::SubjectsFromChain(*chain, refs, &rec);
    }
    rec.mutable_handover()->set_from(first.sender);
    rec.mutable_handover()->set_to(first.recipient);
    // The organisations on both sides (ids), so an access request's answer
    // names the next coordinator's organisation among the recipients.
    if (const RegistryEntry* from = Enrolled(first.sender); from != nullptr) {
      rec.set_source_partner(from->card.partner);
    }
    if (to != nullptr) rec.set_recipient_partner(to->card.partner);
    rec.mutable_payload()->set_ciphertext_bytes(bytes);
    rec.set_reason(std::to_string(going.size()) + " sealed handover part(s) of " + std::to_string(first.parts) +
                   " moved to the inbox of " + first.recipient +
                   (withheld.empty() ? "" : "; " + std::to_string(withheld.size()) + " kept back by the policy"));
    KP_ASSIGN_OR_RETURN(uint64_t data_index, Audit(std::move(rec)));
    for (const auto& f : flagged) {  // what the next coordinator now receives, told to the privacy officers
      v1::AuditRecord decided = NewRecord(v1::AUDIT_EVENT_HANDOVER_DATA, first.recipient);
      decided.set_case_id(case_id);
      decided.set_phase(facts.phase);
      decided.set_message_id(f.request_id);
      decided.set_source_partner(f.request.source_partner());
      if (to != nullptr) decided.set_recipient_partner(to->card.partner);
      decided.set_purpose(f.request.purpose());
      cases::CopySubjects(f.request.subjects(), &decided);
      for (const auto& cat : f.request.categories()) cases::AddPolicyCategory(*policy, cat, &decided);
      cases::ToAudit(*policy, f.decision, &decided);
      KP_RETURN_IF_ERROR(NotifyPrivacyOfficers(decided, data_index, "handover"));
    }
  }
  uint64_t last_index = 0;
  for (const auto& w : withheld) {
    // Ids only: the request, its source and categories, who to whom, why.
    v1::AuditRecord rec = NewRecord(v1::AUDIT_EVENT_HANDOVER_DATA_WITHHELD, identity_->id());
    rec.set_case_id(case_id);
    rec.set_phase(facts.phase);
    rec.set_message_id(w.request_id);
    rec.set_source_partner(w.request.source_partner());
    for (const auto& cat : w.request.categories()) cases::AddPolicyCategory(*policy, cat, &rec);
    if (to != nullptr) rec.set_recipient_partner(to->card.partner);
    rec.mutable_handover()->set_from(first.sender);
    rec.mutable_handover()->set_to(first.recipient);
    cases::ToAudit(*policy, w.decision, &rec);
    rec.set_reason(w.decision.reason);
    KP_ASSIGN_OR_RETURN(last_index, Audit(std::move(rec)));
  }
  for (const auto* p : going) {
    // Held until the next coordinator acknowledges it (by the package's id).
    SendOrHold(p->recipient, case_id, p->envelope, p->message_id);
  }
  if (!withheld.empty()) {
    v1::CaseNotice n = NewNotice(v1::NOTICE_KIND_HANDOVER_DATA_WITHHELD, facts, "", now, 0, "", last_index);
    n.set_withheld(static_cast<uint32_t>(withheld.size()));
    Notify(first.recipient, n);
    Notify(first.sender, n);
  }
  spdlog::info("case {}: {} handover part(s) to {}, {} kept back by the policy", case_id, going.size(),
               first.recipient, withheld.size());
  return OkStatus();
}

void GatewayCore::HandleHandoverPackage(const VerifiedMessage& m) {
  v1::HandoverPackage p;
  v1::AuditRecord rec;
  auto refuse = [&](const Status& s) { RefuseMessage(m, s, rec); };
  if (Status s = ParseBody(m.env.body, p); !s.ok()) return refuse(s);
  rec.set_case_id(internal::SafeId(p.case_id()));
  rec.mutable_payload()->set_ciphertext_bytes(p.sealed().size());
  if (internal::SafeId(p.case_id()).empty() || internal::SafeId(p.to()).empty()) {
    return refuse(InvalidArgumentError("a handover package names its case and the next coordinator by their ids"));
  }
  if (p.offer().size() != 32) return refuse(InvalidArgumentError("a handover package names its offer by its hash"));
  if (p.parts() == 0 || p.parts() > kMaxHandoverParts || p.part() == 0 || p.part() > p.parts()) {
    return refuse(InvalidArgumentError("a handover package is part 1-" + std::to_string(kMaxHandoverParts) +
                                       " of at most " + std::to_string(kMaxHandoverParts) + " parts"));
  }
  if (p.sealed().empty()) return refuse(InvalidArgumentError("a handover package holds sealed handover data"));
  rec.mutable_handover()->set_from(m.sender);
  rec.mutable_handover()->set_to(internal::SafeId(p.to()));
  auto c = store_->GetCase(p.case_id());
  if (!c.ok()) return refuse(c.status());
  auto known = CaseOf(*c);
  if (!known.ok()) return refuse(known.status());
  const cases::CaseFacts& facts = (*known)->facts;
  rec.set_phase(facts.phase);
  if (facts.closed) return refuse(FailedPreconditionError("case " + facts.case_id + " is closed"));
  // The offer it belongs to: made by the sender, to `to`; pending or accepted.
  const cases::ChainCommand* offer = nullptr;
  bool accepted = false;
  std::vector<cases::ChainCommand> commands;
  commands.reserve((*known)->chain.size());
  for (const auto& e : (*known)->chain) {
    auto cmd = cases::ParseVerifiedCommand(e);
    if (!cmd.ok()) return refuse(cmd.status());
    commands.push_back(std::move(*cmd));
  }
  for (const auto& cmd : commands) {
    if (cmd.hash == p.offer() && cmd.command.has_offer_handover()) offer = &cmd;
    if (cmd.command.has_accept_handover() && cmd.command.accept_handover().offer() == p.offer()) accepted = true;
  }
  if (offer == nullptr) {
    return refuse(NotFoundError("case " + facts.case_id + " has no handover offer with this hash"));
  }
  if (offer->signer != m.sender) {
    return refuse(PermissionDeniedError("only " + offer->signer + ", who offered this handover, sends its package"));
  }
  if (offer->command.offer_handover().to() != p.to()) {
    return refuse(InvalidArgumentError("this handover of case " + facts.case_id + " is offered to " +
                                       offer->command.offer_handover().to() + ", not to " + p.to()));
  }
  const int64_t now = clock_.NowMillis();
  const cases::HandoverOffer* pending = facts.PendingOfferAt(now);
  if (!accepted && (pending == nullptr || pending->hash != p.offer())) {
    return refuse(FailedPreconditionError("the handover offer of case " + facts.case_id + " to " + p.to() +
                                          " lapsed or was cancelled: its package is not taken"));
  }
  // A fragment's part names the request whose answer it carries: one the
  // gateway delivered in this case (§3.6, "What goes over").
  if (!p.request_id().empty()) {
    if (p.request_id().size() != 16) {
      return refuse(InvalidArgumentError("a handover part names the request whose answer it carries by its 16-byte id"));
    }
    auto delivered = store_->GetDelivered(p.request_id(), now);
    if (!delivered.ok()) return FailUnit(delivered.status());
    if (!delivered->has_value() || (*delivered)->case_id != facts.case_id) {
      return refuse(NotFoundError("the gateway delivered no answer to request " + IdHex(p.request_id()) +
                                  " in case " + facts.case_id + " (or no longer keeps it): a handover part carries "
                                  "only an answer the gateway delivered in this case"));
    }
  }
  HeldHandoverPart held{facts.case_id, p.offer(), p.to(), p.part(), p.parts(), m.sender,
                        m.env.header.message_id(), m.raw, now};
  if (Status s = store_->HoldHandoverPart(held); !s.ok()) return FailUnit(s);
  uint64_t index = 0;
  if (accepted) {
    const size_t before = unit_records_.size();
    size_t dropped = 0;
    if (Status s = ReleaseHandoverParts(facts, p.offer(), false, &dropped); !s.ok()) return FailUnit(s);
    if (unit_records_.size() > before) index = unit_records_.back().index;
  }
  v1::CaseResult result;
  result.set_case_id(facts.case_id);
  result.set_phase(facts.phase);
  result.set_audit_index(index);
  *result.mutable_status() =
      cases::CaseStatusAt(*policy_, cases::FoldContext::Of(policy_.get(), *registry_), facts, now);
  QueueSigned(m.sender, v1::MESSAGE_KIND_CASE_RESULT, m.env.header.message_id(), result);
  spdlog::info("case {}: handover part {}/{} from {} for {} {}", facts.case_id, p.part(), p.parts(), m.sender, p.to(),
               accepted ? "delivered" : "held until the handover is accepted");
}

// ------------------------------------------------------------------ timers

void GatewayCore::RunCaseDeadlines(int64_t now) {
  auto due = store_->DueDeadlines(now);
  if (!due.ok()) {
    spdlog::error("cannot read case deadlines: {}", due.status().message());
    return;
  }
  for (const CaseDeadline& d : *due) {
    // Gone in the unit that records what it meant: it happens once.
    if (Status s = store_->RemoveDeadline(d); !s.ok()) return FailUnit(s);
    auto c = store_->GetCase(d.case_id);
    auto known = c.ok() ? CaseOf(*c) : Result<const KnownCase*>(c.status());
    if (!known.ok()) {
      spdlog::warn("case {}: a deadline came, but the case cannot be read: {}", d.case_id, known.status().message());
      continue;
    }
    const cases::CaseFacts& f = (*known)->facts;
    const std::string gateway = identity_->id();
    v1::AuditRecord rec;
    switch (d.kind) {
      case DeadlineKind::kOfferLapses: {
        size_t dropped = 0;
        const bool lapsed = !f.closed && f.offer && f.offer->hash == d.key && f.PendingOfferAt(now) == nullptr;
        if (!lapsed) {
          // Accepted, cancelled or closed meanwhile: nothing happened.
          if (Status s = ReleaseHandoverParts(f, d.key, true, &dropped); !s.ok()) return FailUnit(s);
          break;
        }
        const cases::HandoverOffer& o = *f.offer;
        if (Status s = ReleaseHandoverParts(f, o.hash, true, &dropped); !s.ok()) return FailUnit(s);
        rec = NewRecord(v1::AUDIT_EVENT_HANDOVER_LAPSED, gateway);
        rec.set_case_id(f.case_id);
        rec.set_phase(f.phase);
        SetOffer(o, &rec);
        rec.set_reason("the offer to " + o.to + " was not accepted by " + FormatUtcMillis(o.expires_ms) +
                       "; the case stays with " + f.CoordinatorAt(now) +
                       (dropped != 0 ? "; " + std::to_string(dropped) + " held handover part(s) dropped" : ""));
        auto index = Audit(std::move(rec));
        if (!index.ok()) return;
        const v1::CaseNotice n = NewNotice(v1::NOTICE_KIND_HANDOVER_LAPSED, f, "", now, o.expires_ms, o.reason, *index);
        Notify(o.from, n);
        Notify(o.to, n);
        spdlog::info("case {}: handover offer to {} lapsed", f.case_id, o.to);
        break;
      }
      case DeadlineKind::kStandInEnds: {
        // The stand-in (waarneming) and whom it stood in for: still running
        // in the facts, or already folded back by a later command.
        std::string stand_in, principal;
        if (!f.stand_in_for.empty() && f.stand_in_until_ms == d.due_ms) {
          stand_in = f.coordinator;
          principal = f.stand_in_for;
        } else {
          for (const auto& h : f.handovers) {
            if (h.accepted_ms == d.due_ms && h.reason == "einde-waarneming") {
              stand_in = h.from;
              principal = h.to;
            }
          }
        }
        if (f.closed || principal.empty()) break;  // given back early, handed on, or closed
        if (Status s = store_->SetCoordinator(f.case_id, principal); !s.ok()) return FailUnit(s);
        rec = NewRecord(v1::AUDIT_EVENT_STAND_IN_ENDED, gateway);
        rec.set_case_id(f.case_id);
        rec.set_phase(f.phase);
        SetHandover(stand_in, principal, "einde-waarneming", 0, 0, d.due_ms, &rec);
        rec.set_reason("the stand-in of " + stand_in + " ended on " + FormatUtcMillis(d.due_ms) + "; " + principal +
                       " coordinates the case again");
        auto index = Audit(std::move(rec));
        if (!index.ok()) return;
        const v1::CaseNotice n =
            NewNotice(v1::NOTICE_KIND_STAND_IN_ENDED, f, "", now, d.due_ms, "einde-waarneming", *index);
        Notify(principal, n);
        Notify(stand_in, n);
        spdlog::info("case {}: stand-in of {} ended; back with {}", f.case_id, stand_in, principal);
        break;
      }
      case DeadlineKind::kAcuteWindowEnds: {
        if (f.closed || !f.AcuteWindowOver(now) || f.acute_until_ms != d.due_ms) break;
        rec = NewRecord(v1::AUDIT_EVENT_ACUTE_WINDOW_ENDED, gateway);
        rec.set_case_id(f.case_id);
        rec.set_phase(f.phase);
        rec.set_acute_until_unix_millis(f.acute_until_ms);
        rec.set_reason("the acute window ended without a handover; requests are refused until the case is handed "
                       "over or closed");
        auto index = Audit(std::move(rec));
        if (!index.ok()) return;
        Notify(f.CoordinatorAt(now),
               NewNotice(v1::NOTICE_KIND_ACUTE_WINDOW_ENDED, f, "", now, f.acute_until_ms, "", *index));
        spdlog::info("case {}: acute window ended without a handover", f.case_id);
        break;
      }
    }
  }
}

}  // namespace kp::gateway
