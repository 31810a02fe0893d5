// GatewayCore: watches and content-free signals (docs/protocol.md §3.8).
//
// A watch is a FRAGMENT_REQUEST with watch_until_ms set. It is decided,
// audited and forwarded like any request (requests.cc; its end date is
// checked here first). The source agent answers it with a SIGNAL
// WATCH_STARTED instead of a delivery: the request closes, the watch is kept
// (WATCH_STARTED recorded) and the signal goes to the coordinator like an
// answer. From then on the agent may send CHANGED signals for that watch —
// only the partner that keeps it, only while it is active, only about its
// subjects and categories, only while the case is open and the partner
// admitted — each recorded (SIGNAL) and held in the case's coordinator's
// inbox until acknowledged by its message id. A watch ends at its end date,
// when the case closes, when the source partner is removed, or when its
// agent says so; the agent gets a CASE_NOTICE WATCH_ENDED for the first three,
// the case's coordinator one for the end date and the removal.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "case/policy_category.h"
#include "core/base/encoding.h"
#include "core/base/time_format.h"
#include "core/envelope/wire_format.h"
#include "gateway/gateway_core.h"
#include "gateway/gateway_core_internal.h"

namespace kp::gateway {

namespace v1 = ketenpoort::v1;
using internal::IdHex;

namespace {

constexpr int64_t kDayMs = 24LL * 3600 * 1000;
constexpr int64_t kMaxWatchMs = 365 * kDayMs;

bool Has(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

}  // namespace

Status GatewayCore::CheckWatchRequest(const cases::CaseFacts& facts, const v1::FragmentRequest& req,
                                      int64_t now) const {
  const int64_t until = req.watch_until_ms();
  if (until <= now) {
    return InvalidArgumentError("a watch must end in the future (watch_until " + FormatUtcMillis(until) + ")");
  }
  if (until > now + kMaxWatchMs) {
    return InvalidArgumentError("a watch lasts at most 365 days; ask again before it ends");
  }
  const int64_t coordination_ends =
      cases::CoordinationEndsAt(*policy_, cases::FoldContext::Of(policy_.get(), *registry_), facts, now);
  if (coordination_ends != 0 && until > coordination_ends) {
    return InvalidArgumentError("a watch may not outlast the case's coordination, which ends " +
                                FormatUtcMillis(coordination_ends));
  }
  if (facts.acute && facts.acute_handed_over_ms == 0 && facts.acute_until_ms != 0 && until > facts.acute_until_ms) {
    return InvalidArgumentError("a watch on an acute case may not outlast its window, which ends " +
                                FormatUtcMillis(facts.acute_until_ms));
  }
  return OkStatus();
}

void GatewayCore::HandleSignal(const VerifiedMessage& m) {
  const std::string& sender = m.sender;
  const std::string& watch_id = m.env.header.request_id();
  const std::string& partner = m.entry->card.partner;
  const int64_t now = clock_.NowMillis();
  v1::AuditRecord rec = NewRecord(v1::AUDIT_EVENT_SIGNAL, sender);
  rec.set_message_id(watch_id);
  rec.set_source_partner(partner);
  auto refuse = [&](const Status& why) {
    rec.set_event(v1::AUDIT_EVENT_REFUSED);
    rec.set_reason("signal refused: " + why.ToString());
    RefuseMessage(m, why, rec);
  };
  auto receipt = [&](uint64_t index) {
    v1::Receipt r;
    r.set_delivery_id(m.env.header.message_id());
    r.set_audit_index(index);
    QueueReceipt(sender, watch_id, std::move(r));  // with the unit's checkpoint
  };
  v1::Signal sig;
  if (Status s = ParseBody(m.env.body, sig); !s.ok()) return refuse(s);
  if (sig.watch_id() != watch_id) return refuse(InvalidArgumentError("the signal names two different watches"));
  rec.set_case_id(internal::SafeId(sig.case_id()));

  auto known = store_->GetWatch(watch_id);
  if (!known.ok()) return refuse(known.status());

  if (sig.kind() == v1::SIGNAL_KIND_WATCH_STARTED) {
    if (known->has_value()) {
      // Sent again (the receipt was lost): receipted again, nothing twice.
      const StoredWatch& w = **known;
      if (w.source_partner != partner) return refuse(PermissionDeniedError("this watch is kept by partner " + w.source_partner));
      receipt(w.started_index);
      return;
    }
    auto pending = store_->GetRequest(watch_id);
    if (!pending.ok()) return refuse(pending.status());
    if (!pending->has_value() || (*pending)->source_partner != partner) {
      return refuse(NotFoundError("no waiting watch request of your partner with this id"));
    }
    const StoredRequest& r = **pending;
    v1::Authorisation auth;
    v1::Envelope request_envelope;
    v1::Header request_header;
    v1::FragmentRequest req;
    if (!auth.ParseFromString(r.authorisation) || !request_envelope.ParseFromString(auth.request_envelope()) ||
        !req.ParseFromString(request_envelope.body())) {
      FailUnit(InternalError("the stored authorisation of a watch does not parse"));
      return;
    }
    if (req.watch_until_ms() == 0) {
      return refuse(InvalidArgumentError("request " + IdHex(watch_id) + " is not a watch; answer it with a delivery"));
    }
    if (sig.case_id() != r.case_id || sig.watch_until_ms() != req.watch_until_ms()) {
      return refuse(InvalidArgumentError("the signal's case or end date is not the watch request's"));
    }
    if (r.expires_ms <= now) return refuse(FailedPreconditionError("the authorisation has expired"));
    rec.set_event(v1::AUDIT_EVENT_WATCH_STARTED);
    rec.set_case_id(r.case_id);
    cases::CopySubjects(req.subjects(), &rec);
    rec.set_purpose(req.purpose());
    const RegistryEntry* coord = Enrolled(r.coordinator);
    if (coord != nullptr) rec.set_recipient_partner(coord->card.partner);
    for (const auto& cat : r.categories) cases::AddPolicyCategory(*policy_, cat, &rec);
    rec.set_reason("watch until " + FormatUtcMillis(req.watch_until_ms()) + " on " +
                   std::to_string(req.subjects_size()) + " subject(s)");
    auto index = Audit(rec);
    if (!index.ok()) return;  // the unit fails; the agent is told to send it again
    StoredWatch w;
    w.watch_id = watch_id;
    w.case_id = r.case_id;
    w.coordinator = r.coordinator;
    w.source_partner = partner;
    w.agent = sender;
    w.categories = r.categories;
    for (const auto& s : req.subjects()) w.subject_refs.push_back(s.ref());
    w.started_ms = now;
    w.until_ms = req.watch_until_ms();
    w.started_index = *index;
    if (Status s = store_->AddWatch(w); !s.ok()) return FailUnit(s);
    if (Status s = store_->CloseRequest(r, ClosedRequest{watch_id, r.coordinator, partner, RequestOutcome::kDelivered,
                                                        *index, m.env.header.message_id(), now});
        !s.ok()) {
      return FailUnit(s);
    }
    // The agent's signed envelope, unchanged, as the answer to the request.
    SendOrHold(r.coordinator, r.case_id, m.raw, watch_id);
    receipt(*index);
    spdlog::debug("watch {} started case={} by {} until {}", IdHex(watch_id), r.case_id, sender,
                  FormatUtcMillis(w.until_ms));
    return;
  }

  if (!known->has_value()) return refuse(NotFoundError("no watch with this id"));
  const StoredWatch& w = **known;
  if (w.source_partner != partner) {
    return refuse(PermissionDeniedError("this watch is kept by partner " + w.source_partner + ", not by " + partner));
  }
  rec.set_case_id(w.case_id);
  if (sig.case_id() != w.case_id) return refuse(InvalidArgumentError("the signal names another case than its watch"));
  if (w.ended_ms != 0) {
    return refuse(FailedPreconditionError("the watch ended (" + w.end_reason + ", " + FormatUtcMillis(w.ended_ms) +
                                          "): forget it"));
  }
  auto c = store_->GetCase(w.case_id);
  if (!c.ok()) return refuse(c.status());
  auto facts_of = CaseOf(*c);
  if (!facts_of.ok()) return refuse(facts_of.status());
  const cases::CaseFacts& facts = (*facts_of)->facts;

  if (sig.kind() == v1::SIGNAL_KIND_WATCH_ENDED) {
    // The agent gave the watch up (its end date, or the partner's own
    // reasons): recorded, and the coordinator learns it.
    if (Status s = internal::SafeId(sig.reason_code()).empty() && !sig.reason_code().empty()
                       ? InvalidArgumentError("a watch's end reason is a code")
                       : OkStatus();
        !s.ok()) {
      return refuse(s);
    }
    if (Status s = EndWatch(w, sig.reason_code().empty() ? "door-bron-beeindigd" : sig.reason_code(), sender);
        !s.ok()) {
      return;  // the unit failed
    }
    if (Status s = store_->MarkWatchTold(watch_id); !s.ok()) return FailUnit(s);
    SendOrHold(facts.CoordinatorAt(now), w.case_id, m.raw, m.env.header.message_id());
    receipt(0);
    return;
  }
  if (sig.kind() != v1::SIGNAL_KIND_CHANGED) return refuse(InvalidArgumentError("unknown signal kind"));

  if (w.until_ms <= now) {
    (void)EndWatch(w, "einddatum", identity_->id());
    return refuse(FailedPreconditionError("the watch ended at " + FormatUtcMillis(w.until_ms) + ": forget it"));
  }
  if (facts.closed) {
    (void)EndWatch(w, "casus-gesloten", identity_->id());
    return refuse(FailedPreconditionError("case " + w.case_id + " is closed: the watch ended; forget it"));
  }
  if (!facts.IsMember(partner)) {
    (void)EndWatch(w, "partner-verwijderd", identity_->id());
    return refuse(FailedPreconditionError("partner " + partner + " is no longer admitted to case " + w.case_id +
                                          ": the watch ended; forget it"));
  }
  if (!Has(w.subject_refs, sig.subject_ref())) {
    return refuse(InvalidArgumentError("the watch is not about subject '" + internal::SafeId(sig.subject_ref()) + "'"));
  }
  if (!Has(w.categories, sig.category())) {
    return refuse(InvalidArgumentError("the watch is not on category '" + internal::SafeId(sig.category()) + "'"));
  }
  if (sig.changed_at_ms() <= 0 || sig.changed_at_ms() > now + config_.replay_window_ms) {
    return refuse(InvalidArgumentError("a signal says when the source saw the change, not in the future"));
  }
  cases::AddPolicyCategory(*policy_, sig.category(), &rec);
  internal::SubjectsFromChain((*facts_of)->chain, {sig.subject_ref()}, &rec);  // as the case committed it
  const std::string to = facts.CoordinatorAt(now);
  const RegistryEntry* coord = Enrolled(to);
  if (coord != nullptr) rec.set_recipient_partner(coord->card.partner);
  rec.set_phase(facts.phase);
  rec.set_reason("subject " + sig.subject_ref() + " changed at " + FormatUtcMillis(sig.changed_at_ms()));
  auto index = Audit(rec);
  if (!index.ok()) return;
  // Held until acknowledged by the signal's own id: a watch has many.
  SendOrHold(to, w.case_id, m.raw, m.env.header.message_id());
  receipt(*index);
  spdlog::debug("signal for watch {} case={} category={} (audit #{})", IdHex(watch_id), w.case_id, sig.category(),
                *index);
}

Status GatewayCore::EndWatch(const StoredWatch& w, const std::string& reason, const std::string& actor) {
  const int64_t now = clock_.NowMillis();
  v1::AuditRecord rec = NewRecord(v1::AUDIT_EVENT_WATCH_ENDED, actor);
  rec.set_case_id(w.case_id);
  rec.set_message_id(w.watch_id);
  if (auto chain = store_->Commands(w.case_id); chain.ok()) internal::SubjectsFromChain(*chain, w.subject_refs, &rec);
  rec.set_source_partner(w.source_partner);
  for (const auto& cat : w.categories) cases::AddPolicyCategory(*policy_, cat, &rec);
  rec.set_reason(reason);
  auto index = Audit(std::move(rec));
  if (!index.ok()) return index.status();
  if (Status s = store_->EndWatch(w.watch_id, now, reason); !s.ok()) {
    FailUnit(s);
    return s;
  }
  // The case's coordinator learns it too (held in its inbox), unless the
  // agent ended it (its own WATCH_ENDED signal goes there) or the
  // coordinator closed the case (its client knows every watch ended then).
  if (actor != w.agent && reason != "casus-gesloten") {
    auto c = store_->GetCase(w.case_id);
    if (c.ok()) {
      if (auto facts_of = CaseOf(*c); facts_of.ok()) {
        v1::CaseNotice n;
        n.set_kind(v1::NOTICE_KIND_WATCH_ENDED);
        n.set_case_id(w.case_id);
        n.set_at_ms(now);
        n.set_until_ms(w.until_ms);
        n.set_reason_code(reason);
        n.set_request_id(w.watch_id);
        n.set_audit_index(*index);
        Notify((*facts_of)->facts.CoordinatorAt(now), n);
      }
    }
  }
  spdlog::debug("watch {} case={} ended: {}", IdHex(w.watch_id), w.case_id, reason);
  return OkStatus();
}

Status GatewayCore::EndWatchesAfter(const cases::ChainCommand& c, const cases::CaseFacts& after) {
  const v1::CaseCommand& cmd = c.command;
  std::string removed;
  std::string reason;
  if (cmd.has_close()) {
    reason = "casus-gesloten";
  } else if (cmd.has_remove_partner()) {
    removed = cmd.remove_partner().partner();
    reason = "partner-verwijderd";
  } else {
    return OkStatus();
  }
  KP_ASSIGN_OR_RETURN(std::vector<StoredWatch> active, store_->ActiveWatches(after.case_id));
  std::vector<std::string> partners;
  for (const auto& w : active) {
    if (!removed.empty() && w.source_partner != removed) continue;
    KP_RETURN_IF_ERROR(EndWatch(w, reason, c.signer));
    if (!Has(partners, w.source_partner)) partners.push_back(w.source_partner);
  }
  for (const auto& p : partners) TellEndedWatches(p);
  return OkStatus();
}

void GatewayCore::TellEndedWatches(const std::string& partner) {
  std::string agent;
  for (const auto& [id, e] : registry_->entries()) {
    if (e.card.kind == ParticipantKind::kAgent && e.card.partner == partner && !presence_(id).empty()) {
      agent = id;
      break;
    }
  }
  if (agent.empty()) return;  // told when it connects
  auto ended = store_->UntoldEndedWatches(partner);
  if (!ended.ok()) {
    spdlog::error("cannot read the ended watches of {}: {}", partner, ended.status().message());
    return;
  }
  for (const auto& w : *ended) {
    v1::CaseNotice n;
    n.set_kind(v1::NOTICE_KIND_WATCH_ENDED);
    n.set_case_id(w.case_id);
    n.set_at_ms(w.ended_ms);
    n.set_until_ms(w.until_ms);
    n.set_reason_code(w.end_reason);
    n.set_request_id(w.watch_id);
    if (!QueueSigned(agent, v1::MESSAGE_KIND_CASE_NOTICE, "", n)) return;
    if (Status s = store_->MarkWatchTold(w.watch_id); !s.ok()) return FailUnit(s);
  }
}

void GatewayCore::ExpireWatches(int64_t now) {
  auto due = store_->ActiveWatches("", now);
  if (!due.ok()) return;
  std::vector<std::string> partners;
  for (const auto& w : *due) {
    if (!EndWatch(w, "einddatum", identity_->id()).ok()) return;
    if (!Has(partners, w.source_partner)) partners.push_back(w.source_partner);
  }
  for (const auto& p : partners) TellEndedWatches(p);
}

}  // namespace kp::gateway
