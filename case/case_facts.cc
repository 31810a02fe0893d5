#include "case/case_facts.h"

#include <algorithm>
#include <set>

#include "case/commitment.h"
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

}  // namespace

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
    if (it == consents.end() || it->second <= now_ms) return false;
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
    default: return "none";
  }
}

std::string CommandSummary(const v1::CaseCommand& command) {
  auto date = [](int64_t ms) { return FormatUtcDate(ms); };
  switch (command.command_case()) {
    case v1::CaseCommand::kOpen: {
      std::string out = command.open().purpose() + ";";
      for (const auto& s : command.open().subjects()) out += " " + s.ref();
      return out;
    }
    case v1::CaseCommand::kAdmit: return command.admit().partner();
    case v1::CaseCommand::kChangePhase: return command.change_phase().phase();
    case v1::CaseCommand::kRecordConsent:
      return command.record_consent().subject_ref() + " " + command.record_consent().purpose() + " until " +
             date(command.record_consent().valid_until_ms());
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
    const bool may = policy != nullptr ? MayCoordinate(*policy, *signer)
                                       : signer->card.kind == ParticipantKind::kCoordinator;
    if (!may) {
      return PermissionDeniedError("participant " + c.signer + " (role '" + signer->role +
                                   "') may not open cases: the policy gives that role no 'coordinates'");
    }
    if (!InPolicy(policy, &policy::Policy::PurposeIndex, cmd.open().purpose())) {
      return InvalidArgumentError("purpose '" + cmd.open().purpose() + "' is not in the policy");
    }
    if (cmd.open().subjects().empty() || cmd.open().subjects_size() > kMaxSubjects) {
      return InvalidArgumentError("a case opens with 1 to " + std::to_string(kMaxSubjects) + " subjects");
    }
    std::set<std::string> seen;
    for (const auto& s : cmd.open().subjects()) {
      if (Status st = CheckNewSubject(s, next, seen); !st.ok()) return st;
      seen.insert(s.ref());
      next.subjects.push_back({s.ref(), s.role(), s.commitment()});
    }
    if (policy != nullptr) {
      next.phase = FirstOpenPhase(*policy);
      if (next.phase.empty()) return FailedPreconditionError("the policy has no open phase");
    }
    next.case_id = case_id;
    next.purpose = cmd.open().purpose();
    next.coordinator = c.signer;
    next.phase_since_ms = c.signed_ms;
    next.opened_ms = c.signed_ms;
  } else {
    if (facts->length == 0) return InvalidArgumentError("a case begins with its open command");
    if (cmd.case_id() != facts->case_id || cmd.case_id() != case_id) {
      return InvalidArgumentError("a command of case " + cmd.case_id() + " is not a command of case " +
                                  facts->case_id);
    }
    if (c.signer != facts->coordinator) {
      return PermissionDeniedError("only the coordinator of case " + facts->case_id + " (" + facts->coordinator +
                                   ") may change it, not " + c.signer);
    }
    if (facts->closed) return FailedPreconditionError("case " + facts->case_id + " is closed");
    switch (cmd.command_case()) {
      case v1::CaseCommand::kAdmit: {
        const std::string& p = cmd.admit().partner();
        if (!InPolicy(policy, &policy::Policy::PartnerIndex, p)) {
          return InvalidArgumentError("partner '" + p + "' is not in the policy");
        }
        if (next.IsMember(p)) return InvalidArgumentError("partner " + p + " is already admitted to the case");
        next.members[p] = c.signed_ms;
        break;
      }
      case v1::CaseCommand::kChangePhase: {
        const int idx = policy != nullptr ? policy->PhaseIndex(cmd.change_phase().phase()) : 0;
        if (idx < 0 || (policy != nullptr && policy->phases()[static_cast<size_t>(idx)].closed)) {
          return InvalidArgumentError("'" + cmd.change_phase().phase() +
                                      "' is not an open phase of the policy (use close to close the case)");
        }
        next.phase = cmd.change_phase().phase();
        next.phase_since_ms = c.signed_ms;
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
        next.consents[{rc.subject_ref(), rc.purpose()}] = rc.valid_until_ms();
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
        if (policy != nullptr) {
          const auto& phases = policy->phases();
          auto closed = std::find_if(phases.begin(), phases.end(), [](const auto& p) { return p.closed; });
          if (closed == phases.end()) return FailedPreconditionError("the policy has no closed phase");
          next.phase = closed->id;
        }
        next.phase_since_ms = c.signed_ms;
        next.closed = true;
        next.closed_ms = c.signed_ms;
        next.close_reason = cmd.close().reason_code();
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
