#include "case/case_facts.h"

#include <algorithm>
#include <set>

#include "case/commitment.h"
#include "case/consent.h"
#include "case/referral.h"
#include "core/base/time_format.h"
#include "core/identity/participant.h"

namespace kp::cases {

namespace v1 = ketenpoort::v1;

namespace {

Status CheckNewSubject(const v1::SubjectRef& s, const CaseFacts& facts, const std::set<std::string>& seen) {
  if (Status st = CheckSubjectRef(s.ref(), s.role()); !st.ok()) return st;
  if (s.commitment().size() != kCommitmentBytes) {
    return InvalidArgumentError("subject " + s.ref() + " comes without the 32-byte commitment to its identifiers");
  }
  if (facts.Subject(s.ref()) != nullptr || seen.count(s.ref()) != 0) {
    return InvalidArgumentError("the case already has a subject " + s.ref());
  }
  return OkStatus();
}

// Without a policy (the coordinator's client checking a chain it fetched)
// the fold checks structure and signers only; names are the gateway's and
// the agents' to check against the policy.
bool InPolicy(const policy::Policy* policy, int (policy::Policy::*find)(std::string_view) const,
              const std::string& id) {
  return policy == nullptr || (policy->*find)(id) >= 0;
}

std::string When(int64_t ms) { return FormatUtcMillis(ms); }

bool InAcuteMode(const CaseFacts& f) { return f.acute && f.acute_handed_over_ms == 0; }

Status ApplyOpen(const FoldContext& ctx, const ChainCommand& c, const RegistryEntry& signer, CaseFacts* next) {
  const policy::Policy* policy = ctx.policy;
  const v1::OpenCase& open = c.command.open();
  if (open.acute() && !open.referral().empty()) {
    return InvalidArgumentError("an acute case is opened on the spot, not on a referral");
  }
  if (open.acute()) {
    const bool may = policy != nullptr ? policy->MayOpenAcute(signer.role, signer.card.partner)
                                       : signer.card.kind == ParticipantKind::kCoordinator;
    if (!may) {
      return PermissionDeniedError("participant " + c.signer + " (role '" + signer.role +
                                   "') may not open acute cases: the policy gives that role no 'acute' "
                                   "(or the policy has no acute block)");
    }
  } else {
    const bool may = policy != nullptr ? MayCoordinate(*policy, signer)
                                       : signer.card.kind == ParticipantKind::kCoordinator;
    if (!may) {
      return PermissionDeniedError("participant " + c.signer + " (role '" + signer.role +
                                   "') may not open cases: the policy gives that role no 'coordinates'");
    }
  }
  if (!InPolicy(policy, &policy::Policy::PurposeIndex, open.purpose())) {
    return InvalidArgumentError("purpose '" + open.purpose() + "' is not in the policy");
  }
  if (open.subjects().empty() || open.subjects_size() > kMaxSubjects) {
    return InvalidArgumentError("a case opens with 1 to " + std::to_string(kMaxSubjects) + " subjects");
  }
  std::set<std::string> seen;
  for (const auto& s : open.subjects()) {
    if (Status st = CheckNewSubject(s, *next, seen); !st.ok()) return st;
    seen.insert(s.ref());
    next->subjects.push_back({s.ref(), s.role(), s.commitment()});
  }
  if (!open.referral().empty()) {
    auto ref = VerifyReferral(open.referral(), ctx);
    if (!ref.ok()) return Status(ref.status().code(), "the referral the case opens on: " + ref.status().message());
    const v1::Referral& r = ref->referral;
    if (r.to_partner() != signer.card.partner) {
      return PermissionDeniedError("the referral goes to " + r.to_partner() + ", not to " + signer.card.partner);
    }
    bool addressed = false;
    for (const auto& copy : r.sealed()) addressed = addressed || copy.participant() == c.signer;
    if (!addressed) return PermissionDeniedError("the referral was not sent to " + c.signer);
    if (r.purpose() != open.purpose()) {
      return InvalidArgumentError("the case must open with the referral's purpose '" + r.purpose() + "'");
    }
    bool same = r.subjects_size() == open.subjects_size();
    for (int i = 0; same && i < r.subjects_size(); ++i) {
      same = r.subjects(i).ref() == open.subjects(i).ref() && r.subjects(i).role() == open.subjects(i).role() &&
             r.subjects(i).commitment() == open.subjects(i).commitment();
    }
    if (!same) return InvalidArgumentError("the case must open with exactly the referral's subjects, in its order");
    next->referral_id = ref->id;
    next->referral_reference = r.reference();
    next->referred_by = ref->sender;
    next->members[ref->sender_partner] = c.signed_ms;
  }
  if (policy != nullptr) {
    next->phase = open.acute() ? policy->acute().phase : FirstOpenPhase(*policy);
    if (next->phase.empty()) return FailedPreconditionError("the policy has no open phase");
  }
  if (open.acute()) {
    next->acute = true;
    if (policy != nullptr) {
      next->acute_until_ms = c.signed_ms + policy->acute().window_ms;
      for (size_t i = 0; i < policy->partners().size(); ++i) {
        if ((policy->acute().partners >> i) & 1U) next->members[policy->partners()[i].id] = c.signed_ms;
      }
    }
  }
  next->purpose = open.purpose();
  next->coordinator = c.signer;
  next->coordinator_since_ms = c.signed_ms;
  next->phase_since_ms = c.signed_ms;
  next->opened_ms = c.signed_ms;
  next->phases.push_back({next->phase, c.signed_ms});
  return OkStatus();
}

Status ApplyOffer(const FoldContext& ctx, const ChainCommand& c, CaseFacts* next) {
  const v1::OfferHandover& o = c.command.offer_handover();
  if (Status s = CheckReasonCode(o.reason_code(), "a handover's reason"); !s.ok()) return s;
  if (o.to() == next->coordinator) return InvalidArgumentError("the case is already coordinated by " + o.to());
  const RegistryEntry* to = ctx.participant ? ctx.participant(o.to()) : nullptr;
  if (to == nullptr) return InvalidArgumentError("participant " + o.to() + " is not in the signed registry");
  if (ctx.policy != nullptr) {
    if (Status s = MayTakeOver(*ctx.policy, *next, *to); !s.ok()) return s;
  } else if (to->card.kind != ParticipantKind::kCoordinator) {
    return PermissionDeniedError("participant " + o.to() + " is not a coordinator");
  }
  if (o.expires_at_ms() <= c.signed_ms || o.expires_at_ms() - c.signed_ms > kMaxOfferMs) {
    return InvalidArgumentError("a handover offer lapses after it is made and within 30 days");
  }
  if (o.stand_in_until_ms() != 0 &&
      (o.stand_in_until_ms() <= c.signed_ms || o.stand_in_until_ms() - c.signed_ms > kMaxStandInMs)) {
    return InvalidArgumentError("a stand-in (waarneming) ends after it is offered and within a year");
  }
  if (!next->stand_in_for.empty() && (o.to() != next->stand_in_for || o.stand_in_until_ms() != 0)) {
    return PermissionDeniedError(next->coordinator + " stands in for " + next->stand_in_for +
                                 " and can only give the case back to " + next->stand_in_for + " early");
  }
  next->offer = HandoverOffer{c.hash,           c.signer, o.to(), o.reason_code(), c.signed_ms, o.expires_at_ms(),
                              o.stand_in_until_ms()};
  return OkStatus();
}

Status ApplyAccept(const FoldContext& ctx, const ChainCommand& c, CaseFacts* next) {
  const HandoverOffer* offer = next->PendingOfferAt(c.signed_ms);
  if (offer == nullptr) {
    if (next->offer) {
      return FailedPreconditionError("the handover offer of case " + next->case_id + " to " + next->offer->to +
                                     " lapsed on " + When(next->offer->expires_ms) + "; the case stays with " +
                                     next->coordinator);
    }
    return FailedPreconditionError("case " + next->case_id + " has no handover offer to accept");
  }
  if (offer->to != c.signer) {
    return PermissionDeniedError("the handover of case " + next->case_id + " is offered to " + offer->to + ", not to " +
                                 c.signer);
  }
  if (c.command.accept_handover().offer() != offer->hash) {
    return InvalidArgumentError("the acceptance names another handover offer than the pending one");
  }
  if (ctx.policy != nullptr) {
    const RegistryEntry* to = ctx.participant(c.signer);
    if (Status s = MayTakeOver(*ctx.policy, *next, *to); !s.ok()) return s;
  }
  HandoverMoment m{offer->from, offer->to, offer->reason, offer->offered_ms, c.signed_ms, offer->stand_in_until_ms};
  if (offer->stand_in_until_ms != 0) {
    next->stand_in_for = offer->from;
    next->stand_in_until_ms = offer->stand_in_until_ms;
  } else {
    next->stand_in_for.clear();
    next->stand_in_until_ms = 0;
  }
  next->coordinator = c.signer;
  next->coordinator_since_ms = c.signed_ms;
  if (InAcuteMode(*next)) {
    next->acute_handed_over_ms = c.signed_ms;
    next->acute_until_ms = 0;
  }
  next->handovers.push_back(std::move(m));
  next->offer.reset();
  return OkStatus();
}

// A stand-in whose end has passed gave the case back; the fold records it
// when the next command comes.
void ReturnStandIn(int64_t at_ms, CaseFacts* f) {
  if (f->stand_in_for.empty() || at_ms < f->stand_in_until_ms) return;
  f->handovers.push_back(HandoverMoment{f->coordinator, f->stand_in_for, "einde-waarneming", f->stand_in_until_ms,
                                        f->stand_in_until_ms, 0});
  f->coordinator = f->stand_in_for;
  f->coordinator_since_ms = f->stand_in_until_ms;
  f->stand_in_for.clear();
  f->stand_in_until_ms = 0;
  if (f->offer && f->offer->from != f->coordinator) f->offer.reset();  // the stand-in's offer ends with it
}

}  // namespace

Status CheckReasonCode(const std::string& code, std::string_view what) {
  bool ok = !code.empty() && code.size() <= 64 && code[0] != '-';
  for (unsigned char ch : code) ok = ok && ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-');
  if (!ok) {
    return InvalidArgumentError(std::string(what) +
                                " is a code of 1-64 lowercase letters, digits and '-' (e.g. naar-wijkteam), never "
                                "free text");
  }
  return OkStatus();
}

std::string PartnerNames(const policy::Policy& policy, uint64_t bits) {
  std::string out;
  for (size_t i = 0; i < policy.partners().size(); ++i) {
    if ((bits >> i) & 1U) out += (out.empty() ? "" : " or ") + policy.partners()[i].id;
  }
  return out;
}

Status MayTakeOver(const policy::Policy& policy, const CaseFacts& facts, const RegistryEntry& entry) {
  if (!MayCoordinate(policy, entry)) {
    return PermissionDeniedError("participant " + entry.card.id + " (role '" + entry.role +
                                 "') may not coordinate cases under the policy, so it cannot take this case over");
  }
  if (InAcuteMode(facts)) {
    const int p = policy.PartnerIndex(entry.card.partner);
    if (p < 0 || ((policy.acute().hand_over_to >> p) & 1U) == 0) {
      return PermissionDeniedError("an acute case is handed over to a coordinator of " +
                                   PartnerNames(policy, policy.acute().hand_over_to) + ", not of " +
                                   entry.card.partner);
    }
  }
  return OkStatus();
}

int64_t CoordinationEndsAt(const policy::Policy& policy, const FoldContext& ctx, const CaseFacts& facts,
                           int64_t now_ms) {
  const RegistryEntry* e = ctx.participant ? ctx.participant(facts.CoordinatorAt(now_ms)) : nullptr;
  return e == nullptr ? 0 : CoordinationEndsFor(policy, e->role, facts, now_ms);
}

int64_t CoordinationEndsFor(const policy::Policy& policy, const std::string& role, const CaseFacts& facts,
                            int64_t now_ms) {
  const int days = policy.CoordinationMaxDays(role);
  return days == 0 ? 0 : facts.CoordinatorSinceAt(now_ms) + int64_t{days} * 24 * 3600 * 1000;
}

const std::string& CaseFacts::CoordinatorAt(int64_t now_ms) const {
  if (!stand_in_for.empty() && now_ms >= stand_in_until_ms) return stand_in_for;
  return coordinator;
}

int64_t CaseFacts::CoordinatorSinceAt(int64_t now_ms) const {
  if (!stand_in_for.empty() && now_ms >= stand_in_until_ms) return stand_in_until_ms;
  return coordinator_since_ms;
}

const HandoverOffer* CaseFacts::PendingOfferAt(int64_t now_ms) const {
  if (!offer || now_ms >= offer->expires_ms) return nullptr;
  if (!stand_in_for.empty() && now_ms >= stand_in_until_ms && offer->from != stand_in_for) return nullptr;
  return &*offer;
}

const SubjectFact* CaseFacts::Subject(const std::string& ref) const {
  for (const auto& s : subjects) {
    if (s.ref == ref) return &s;
  }
  return nullptr;
}

bool CaseFacts::HasConsent(const std::vector<std::string>& refs, const std::string& for_purpose,
                           int64_t now_ms) const {
  if (refs.empty()) return false;
  for (const auto& ref : refs) {
    auto it = consents.find({ref, for_purpose});
    if (it == consents.end() || it->second.valid_until_ms <= now_ms) return false;
  }
  return true;
}

bool CaseFacts::HasApproval(const std::string& source, const std::vector<std::string>& categories,
                            const std::string& for_purpose, int64_t now_ms) const {
  if (categories.empty()) return false;
  for (const auto& cat : categories) {
    auto it = approvals.find({source, cat, for_purpose});
    if (it == approvals.end() || it->second <= now_ms) return false;
  }
  return true;
}

FoldContext FoldContext::Of(const policy::Policy* policy, const Registry& registry) {
  return FoldContext{policy, [&registry](const std::string& id) -> const RegistryEntry* {
                       auto e = registry.Find(id);
                       return e.ok() ? *e : nullptr;
                     }};
}

bool MayCoordinate(const policy::Policy& policy, const RegistryEntry& entry) {
  return entry.card.kind == ParticipantKind::kCoordinator && policy.MayCoordinate(entry.role, entry.card.partner);
}

std::string FirstOpenPhase(const policy::Policy& policy) {
  for (const auto& p : policy.phases()) {
    if (!p.closed) return p.id;
  }
  return "";
}

std::string CommandName(const v1::CaseCommand& command) {
  switch (command.command_case()) {
    case v1::CaseCommand::kOpen: return "open";
    case v1::CaseCommand::kAdmit: return "admit";
    case v1::CaseCommand::kChangePhase: return "phase";
    case v1::CaseCommand::kRecordConsent: return "consent";
    case v1::CaseCommand::kGatekeeperApproval: return "gatekeeper";
    case v1::CaseCommand::kClose: return "close";
    case v1::CaseCommand::kAddSubject: return "add-subject";
    case v1::CaseCommand::kWithdrawConsent: return "withdraw-consent";
    case v1::CaseCommand::kOfferHandover: return "handover";
    case v1::CaseCommand::kAcceptHandover: return "accept-handover";
    case v1::CaseCommand::kCancelHandover: return "cancel-handover";
    case v1::CaseCommand::kRemovePartner: return "remove-partner";
    default: return "none";
  }
}

std::string CommandSummary(const v1::CaseCommand& command) {
  auto date = [](int64_t ms) { return FormatUtcDate(ms); };
  switch (command.command_case()) {
    case v1::CaseCommand::kOpen: {
      std::string out = command.open().purpose() + ";";
      for (const auto& s : command.open().subjects()) out += " " + s.ref();
      if (command.open().acute()) out += "; acute";
      if (!command.open().referral().empty()) out += "; on a referral";
      return out;
    }
    case v1::CaseCommand::kOfferHandover: {
      const auto& o = command.offer_handover();
      std::string out = "to " + o.to() + " (" + o.reason_code() + "), offer open until " + date(o.expires_at_ms());
      if (o.stand_in_until_ms() != 0) out += ", stand-in until " + date(o.stand_in_until_ms());
      return out;
    }
    case v1::CaseCommand::kAcceptHandover: return "accepted";
    case v1::CaseCommand::kCancelHandover: return command.cancel_handover().reason_code();
    case v1::CaseCommand::kRemovePartner:
      return command.remove_partner().partner() + " (" + command.remove_partner().reason_code() + ")";
    case v1::CaseCommand::kAdmit: return command.admit().partner();
    case v1::CaseCommand::kChangePhase: return command.change_phase().phase();
    case v1::CaseCommand::kRecordConsent: {
      const auto& rc = command.record_consent();
      std::string by;
      for (int g : rc.given_by()) {
        by += by.empty() ? " given by " : "+";
        by += g == v1::CONSENT_GIVER_PARENTS ? "parents" : g == v1::CONSENT_GIVER_SUBJECT ? "subject" : "?";
      }
      return rc.subject_ref() + " " + rc.purpose() + " until " + date(rc.valid_until_ms()) + by;
    }
    case v1::CaseCommand::kWithdrawConsent:
      return command.withdraw_consent().subject_ref() + " " + command.withdraw_consent().purpose();
    case v1::CaseCommand::kGatekeeperApproval: {
      const auto& g = command.gatekeeper_approval();
      std::string cats;
      for (const auto& c : g.categories()) cats += (cats.empty() ? "" : ",") + c;
      return g.source_partner() + " " + cats + " " + g.purpose() + " until " + date(g.valid_until_ms());
    }
    case v1::CaseCommand::kAddSubject: return command.add_subject().subject().ref();
    case v1::CaseCommand::kClose: return command.close().reason_code();
    default: return "";
  }
}

Status Apply(const FoldContext& ctx, const ChainCommand& c, const std::string& case_id, CaseFacts* facts) {
  const policy::Policy* policy = ctx.policy;
  const v1::CaseCommand& cmd = c.command;
  const RegistryEntry* signer = ctx.participant ? ctx.participant(c.signer) : nullptr;
  if (signer == nullptr) {
    return PermissionDeniedError("command " + std::to_string(cmd.sequence()) + " of the case is signed by " +
                                 c.signer + ", who is not in the signed registry");
  }
  if (cmd.sequence() != facts->length) {
    return InvalidArgumentError("case command number " + std::to_string(cmd.sequence()) + " arrives where number " +
                                std::to_string(facts->length) + " belongs");
  }
  if (cmd.previous() != facts->head) {
    return InvalidArgumentError(facts->length == 0 ? "the first command of a case names no previous command"
                                                   : "case command " + std::to_string(cmd.sequence()) +
                                                         " does not follow the case's previous command");
  }
  if (facts->length >= kMaxCommands) {
    return ResourceExhaustedError("a case holds at most " + std::to_string(kMaxCommands) +
                                  " commands; open a new case to go on");
  }
  CaseFacts next = *facts;
  if (cmd.command_case() == v1::CaseCommand::kOpen) {
    if (facts->length != 0 || !cmd.case_id().empty()) {
      return InvalidArgumentError("only the first command of a case opens it, and it names no case id");
    }
    next.case_id = case_id;
    if (Status st = ApplyOpen(ctx, c, *signer, &next); !st.ok()) return st;
  } else {
    if (facts->length == 0) return InvalidArgumentError("a case begins with its open command");
    if (cmd.case_id() != facts->case_id || cmd.case_id() != case_id) {
      return InvalidArgumentError("a command of case " + cmd.case_id() + " is not a command of case " +
                                  facts->case_id);
    }
    if (facts->closed) return FailedPreconditionError("case " + facts->case_id + " is closed");
    ReturnStandIn(c.signed_ms, &next);
    if (cmd.command_case() != v1::CaseCommand::kAcceptHandover && c.signer != next.coordinator) {
      return PermissionDeniedError("only the coordinator of case " + facts->case_id + " (" + next.coordinator +
                                   ") may change it, not " + c.signer);
    }
    switch (cmd.command_case()) {
      case v1::CaseCommand::kOfferHandover: {
        if (Status st = ApplyOffer(ctx, c, &next); !st.ok()) return st;
        break;
      }
      case v1::CaseCommand::kAcceptHandover: {
        if (Status st = ApplyAccept(ctx, c, &next); !st.ok()) return st;
        break;
      }
      case v1::CaseCommand::kCancelHandover: {
        if (Status st = CheckReasonCode(cmd.cancel_handover().reason_code(), "a cancellation's reason"); !st.ok()) {
          return st;
        }
        if (next.PendingOfferAt(c.signed_ms) == nullptr) {
          return FailedPreconditionError("case " + facts->case_id + " has no pending handover offer to cancel");
        }
        next.offer.reset();
        break;
      }
      case v1::CaseCommand::kRemovePartner: {
        const auto& rp = cmd.remove_partner();
        if (Status st = CheckReasonCode(rp.reason_code(), "a removal's reason"); !st.ok()) return st;
        if (next.members.erase(rp.partner()) == 0) {
          return InvalidArgumentError("partner " + rp.partner() + " is not admitted to case " + facts->case_id);
        }
        next.removed[rp.partner()] = c.signed_ms;
        break;
      }
      case v1::CaseCommand::kAdmit: {
        const std::string& p = cmd.admit().partner();
        if (!InPolicy(policy, &policy::Policy::PartnerIndex, p)) {
          return InvalidArgumentError("partner '" + p + "' is not in the policy");
        }
        if (next.IsMember(p)) return InvalidArgumentError("partner " + p + " is already admitted to the case");
        next.members[p] = c.signed_ms;
        next.removed.erase(p);
        break;
      }
      case v1::CaseCommand::kChangePhase: {
        const int idx = policy != nullptr ? policy->PhaseIndex(cmd.change_phase().phase()) : 0;
        if (idx < 0 || (policy != nullptr && policy->phases()[static_cast<size_t>(idx)].closed)) {
          return InvalidArgumentError("'" + cmd.change_phase().phase() +
                                      "' is not an open phase of the policy (use close to close the case)");
        }
        // A change to the phase the case is in continues its current run:
        // signing "acute" again must not restart a rule's
        // within_hours_of_acute.
        if (cmd.change_phase().phase() != next.phase) next.phase_since_ms = c.signed_ms;
        next.phase = cmd.change_phase().phase();
        next.phases.push_back({next.phase, c.signed_ms});
        break;
      }
      case v1::CaseCommand::kRecordConsent: {
        const auto& rc = cmd.record_consent();
        if (next.Subject(rc.subject_ref()) == nullptr) {
          return InvalidArgumentError("the case has no subject " + rc.subject_ref());
        }
        if (!InPolicy(policy, &policy::Policy::PurposeIndex, rc.purpose())) {
          return InvalidArgumentError("purpose '" + rc.purpose() + "' is not in the policy");
        }
        if (rc.valid_until_ms() <= c.signed_ms) return InvalidArgumentError("consent needs a future end date");
        ConsentFact consent;
        consent.valid_until_ms = rc.valid_until_ms();
        consent.recorded_ms = c.signed_ms;
        auto givers = ConsentGivers(rc.given_by());
        if (!givers.ok()) return givers.status();
        consent.givers = *givers;
        if (rc.has_age_years()) {
          if (rc.age_years() > 130) return InvalidArgumentError("consent states an impossible age");
          consent.age_years = static_cast<int>(rc.age_years());
        }
        next.consents[{rc.subject_ref(), rc.purpose()}] = consent;
        break;
      }
      case v1::CaseCommand::kWithdrawConsent: {
        const auto& w = cmd.withdraw_consent();
        if (next.consents.erase({w.subject_ref(), w.purpose()}) == 0) {
          return InvalidArgumentError("subject " + w.subject_ref() + " has no consent for " + w.purpose() +
                                      " to withdraw");
        }
        break;
      }
      case v1::CaseCommand::kGatekeeperApproval: {
        const auto& g = cmd.gatekeeper_approval();
        if (!InPolicy(policy, &policy::Policy::PartnerIndex, g.source_partner()) ||
            !InPolicy(policy, &policy::Policy::PurposeIndex, g.purpose()) ||
            g.categories().empty() || g.valid_until_ms() <= c.signed_ms) {
          return InvalidArgumentError(
              "a gatekeeper approval needs a partner, categories and a purpose of the policy, and a future end date");
        }
        for (const auto& cat : g.categories()) {
          if (!InPolicy(policy, &policy::Policy::CategoryIndex, cat)) {
            return InvalidArgumentError("category '" + cat + "' is not in the policy");
          }
          next.approvals[{g.source_partner(), cat, g.purpose()}] = g.valid_until_ms();
        }
        break;
      }
      case v1::CaseCommand::kAddSubject: {
        if (next.subjects.size() >= static_cast<size_t>(kMaxSubjects)) {
          return ResourceExhaustedError("a case has at most " + std::to_string(kMaxSubjects) + " subjects");
        }
        const auto& s = cmd.add_subject().subject();
        if (Status st = CheckNewSubject(s, next, {}); !st.ok()) return st;
        next.subjects.push_back({s.ref(), s.role(), s.commitment()});
        break;
      }
      case v1::CaseCommand::kClose: {
        if (Status st = CheckReasonCode(cmd.close().reason_code(), "a closure's reason"); !st.ok()) return st;
        if (policy != nullptr) {
          const auto& phases = policy->phases();
          auto closed = std::find_if(phases.begin(), phases.end(), [](const auto& p) { return p.closed; });
          if (closed == phases.end()) return FailedPreconditionError("the policy has no closed phase");
          next.phase = closed->id;
        }
        next.phase_since_ms = c.signed_ms;
        next.phases.push_back({next.phase, c.signed_ms});
        next.closed = true;
        next.closed_ms = c.signed_ms;
        next.close_reason = cmd.close().reason_code();
        next.offer.reset();
        break;
      }
      case v1::CaseCommand::kOpen:
        break;  // handled above
      default:
        return InvalidArgumentError("a case command without a command");
    }
  }
  next.head = c.hash;
  next.length = facts->length + 1;
  *facts = std::move(next);
  return OkStatus();
}

}  // namespace kp::cases
