// GatewayCore: the coordinator's case commands and the case's history
// (docs/protocol.md §3.5 and §6, CaseCommand and CaseFetch). What a command
// means and whether it may follow the case's history is the case library's
// to say (case/case_facts.h), the same code the agents check the history
// with; here the command is kept in the case's chain, the cases row that
// indexes it follows, and the change is audited, all in the unit.
#include <spdlog/spdlog.h>

#include <ctime>
#include <optional>

#include "case/case_chain.h"
#include "case/commitment.h"
#include "case/decision.h"
#include "core/base/encoding.h"
#include "core/base/time_format.h"
#include "core/envelope/wire_format.h"
#include "gateway/gateway_core.h"
#include "gateway/gateway_core_internal.h"

namespace kp::gateway {

namespace v1 = ketenpoort::v1;

namespace {

// At most this many commands, and bytes of them, in one CASE_CHAIN answer.
constexpr size_t kChainCommandsPerAnswer = 256;
constexpr size_t kChainBytesPerAnswer = 512 * 1024;
// Folded case histories kept in memory (by head).
constexpr size_t kKnownCases = 4096;

int CurrentYear(int64_t now_ms) {
  std::time_t t = static_cast<std::time_t>(now_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return tm.tm_year + 1900;
}

// What the log says about a case command (ids and policy names only).
void DescribeCommand(const v1::CaseCommand& cmd, v1::AuditRecord* rec) {
  switch (cmd.command_case()) {
    case v1::CaseCommand::kOpen:
      rec->set_event(v1::AUDIT_EVENT_CASE_OPENED);
      rec->set_purpose(cmd.open().purpose());
      cases::CopySubjects(cmd.open().subjects(), rec);  // refs and pseudonyms as signed (AVG art. 15)
      rec->set_reason(std::to_string(cmd.open().subjects_size()) + " subject(s) committed" +
                      (cmd.open().acute() ? "; acute (Samen op in Acuut)" : "") +
                      (cmd.open().referral().empty() ? "" : "; on a referral"));
      break;
    case v1::CaseCommand::kAdmit:
      rec->set_event(v1::AUDIT_EVENT_PARTNER_ADMITTED);
      rec->set_recipient_partner(cmd.admit().partner());
      break;
    case v1::CaseCommand::kChangePhase:
      rec->set_event(v1::AUDIT_EVENT_PHASE_CHANGED);
      break;
    case v1::CaseCommand::kRecordConsent:
      rec->set_event(v1::AUDIT_EVENT_CONSENT_RECORDED);
      rec->set_purpose(cmd.record_consent().purpose());
      rec->set_reason("consent recorded for subject " + cmd.record_consent().subject_ref() + " until " +
                      FormatRfc3339Millis(cmd.record_consent().valid_until_ms()));
      break;
    case v1::CaseCommand::kWithdrawConsent:
      rec->set_event(v1::AUDIT_EVENT_CONSENT_WITHDRAWN);
      rec->set_purpose(cmd.withdraw_consent().purpose());
      rec->set_reason("consent of subject " + cmd.withdraw_consent().subject_ref() + " withdrawn");
      break;
    case v1::CaseCommand::kGatekeeperApproval:
      rec->set_event(v1::AUDIT_EVENT_CONSENT_RECORDED);
      rec->set_source_partner(cmd.gatekeeper_approval().source_partner());
      rec->set_purpose(cmd.gatekeeper_approval().purpose());
      for (const auto& cat : cmd.gatekeeper_approval().categories()) rec->add_categories()->set_name(cat);
      rec->set_reason("gatekeeper approval recorded until " +
                      FormatRfc3339Millis(cmd.gatekeeper_approval().valid_until_ms()));
      break;
    case v1::CaseCommand::kAddSubject:
      rec->set_event(v1::AUDIT_EVENT_SUBJECT_ADDED);
      {
        google::protobuf::RepeatedPtrField<v1::SubjectRef> added;
        *added.Add() = cmd.add_subject().subject();
        cases::CopySubjects(added, rec);
      }
      rec->set_reason("subject " + cmd.add_subject().subject().ref() + " committed");
      break;
    case v1::CaseCommand::kClose:
      rec->set_event(v1::AUDIT_EVENT_CASE_CLOSED);
      rec->set_reason(cmd.close().reason_code());
      break;
    default:
      break;
  }
}

}  // namespace

Result<const GatewayCore::KnownCase*> GatewayCore::CaseOf(const CaseRecord& c) {
  if (c.length == 0) {
    return FailedPreconditionError("case " + c.id + " has no signed history (opened by an older version of "
                                   "Ketenpoort): it cannot be continued; open a new case for this family");
  }
  if (auto it = cases_by_head_.find(c.head); it != cases_by_head_.end()) return &it->second;
  KnownCase known;
  KP_ASSIGN_OR_RETURN(known.chain, store_->Commands(c.id));
  KP_ASSIGN_OR_RETURN(known.facts,
                      cases::FoldVerified(cases::FoldContext::Of(policy_.get(), *registry_), known.chain, c.id));
  if (cases_by_head_.size() >= kKnownCases) cases_by_head_.clear();
  return &cases_by_head_.emplace(c.head, std::move(known)).first->second;
}

void GatewayCore::HandleCaseCommand(const VerifiedMessage& m) {
  const std::string& sender = m.sender;
  const std::string& msg_id = m.env.header.message_id();
  auto fail = [&](const Status& s, const std::string& case_id) {
    v1::AuditRecord r;
    r.set_case_id(case_id);
    RefuseMessage(m, s, std::move(r));
  };
  cases::ChainCommand c;
  if (Status s = ParseBody(m.env.body, c.command); !s.ok()) return fail(s, "");
  c.hash = cases::CommandHash(m.raw);
  c.signer = sender;
  c.signed_ms = m.env.header.sent_at_ms();
  c.message_id = msg_id;
  const v1::CaseCommand& cmd = c.command;
  const bool open = cmd.command_case() == v1::CaseCommand::kOpen;
  const int64_t now = clock_.NowMillis();

  // The case as its history stands, and whether this command may follow it.
  KnownCase next;
  std::string case_id = cmd.case_id();
  if (!open) {
    auto got = store_->GetCase(case_id);
    if (!got.ok()) return fail(got.status(), case_id);
    auto known = CaseOf(*got);
    if (!known.ok()) return fail(known.status(), case_id);
    next = **known;
    if (cmd.sequence() != next.facts.length || cmd.previous() != next.facts.head) {
      return fail(FailedPreconditionError("case " + case_id + " has changed since this command was signed (it has " +
                                          std::to_string(next.facts.length) + " commands; the command follows " +
                                          std::to_string(cmd.sequence()) +
                                          "): fetch the case (ketenpoort case sync) and sign it again"),
                  case_id);
    }
  }
  // Opening on a referral: the gateway must hold it, waiting, for this
  // coordinator (the fold checks the envelope and the subjects).
  std::optional<StoredReferral> referral;
  if (open && !cmd.open().referral().empty()) {
    auto r = ReferralToAccept(cmd.open().referral(), sender);
    if (!r.ok()) return fail(r.status(), case_id);
    referral = std::move(*r);
  }
  const cases::FoldContext ctx = cases::FoldContext::Of(policy_.get(), *registry_);
  const cases::CaseFacts before = next.facts;
  if (Status s = cases::Apply(ctx, c, case_id, &next.facts); !s.ok()) {
    return fail(s, case_id);
  }

  v1::AuditRecord rec = NewRecord(v1::AUDIT_EVENT_UNSPECIFIED, sender);
  rec.set_message_id(msg_id);
  DescribeCommand(cmd, &rec);
  DescribeCaseMoment(c, before, next.facts, &rec);
  // Whose consent: the subject with the pseudonyms the case committed it with.
  if (cmd.has_record_consent()) internal::SubjectsFromChain(next.chain, {cmd.record_consent().subject_ref()}, &rec);
  if (cmd.has_withdraw_consent()) {
    internal::SubjectsFromChain(next.chain, {cmd.withdraw_consent().subject_ref()}, &rec);
  }
  if (Status s = store_->Begin(); !s.ok()) return fail(s, case_id);
  Status change;
  if (open) {
    auto opened = store_->OpenCase(cmd.open().purpose(), sender, next.facts.phase, CurrentYear(now), now);
    if (opened.ok()) {
      case_id = opened->id;
      next.facts.case_id = case_id;
    }
    change = opened.status();
  }
  if (change.ok()) change = store_->AppendCommand(case_id, cmd.sequence(), c.hash, m.raw);
  if (change.ok() && cmd.has_change_phase()) change = store_->SetPhase(case_id, next.facts.phase);
  if (change.ok() && cmd.has_close()) change = store_->CloseCase(case_id, next.facts.phase, now);
  if (!change.ok()) {
    store_->Rollback();
    return fail(change, case_id);
  }
  rec.set_case_id(case_id);
  rec.set_phase(next.facts.phase);
  auto index = Audit(std::move(rec));
  if (!index.ok()) {
    store_->Rollback();  // no change the log does not show; the unit fails and its sender is told
    return;
  }
  // What the command sets going: a referral taken, deadlines, notices,
  // handover packages released or dropped (handovers.cc).
  Status after = referral ? AcceptReferral(*referral, case_id, sender) : OkStatus();
  if (after.ok()) after = AfterCaseCommand(c, before, next.facts, *index);
  if (!after.ok()) {
    store_->Rollback();
    FailUnit(after);  // records are staged: the whole unit goes
    return;
  }
  if (Status s = store_->Commit(); !s.ok()) {
    store_->Rollback();
    FailUnit(s);  // its record is staged: the whole unit goes
    return;
  }
  spdlog::info("case {}: command {} ({}) by {} (audit #{})", case_id, cmd.sequence(), cases::CommandName(cmd), sender,
               *index);
  v1::CaseResult result;
  result.set_case_id(case_id);
  result.set_phase(next.facts.phase);
  result.set_audit_index(*index);
  *result.mutable_status() = cases::CaseStatusAt(*policy_, ctx, next.facts, now);
  next.chain.push_back(m.raw);
  const std::string head = next.facts.head;
  if (cases_by_head_.size() >= kKnownCases) cases_by_head_.clear();
  cases_by_head_.insert_or_assign(head, std::move(next));
  QueueSigned(sender, v1::MESSAGE_KIND_CASE_RESULT, msg_id, result);
}

void GatewayCore::HandleCaseFetch(const VerifiedMessage& m) {
  v1::CaseFetch fetch;
  if (Status s = ParseBody(m.env.body, fetch); !s.ok()) return RefuseMessage(m, s);
  auto c = store_->GetCase(fetch.case_id());
  if (!c.ok()) return RefuseMessage(m, c.status());
  const int64_t now = clock_.NowMillis();
  v1::CaseChain chain;
  if (c->length == 0) {
    // An old case without signed history: its opener learns it is empty
    // (and the client says plainly it cannot be continued).
    if (c->coordinator != m.sender) return RefuseMessage(m, PermissionDeniedError("you do not coordinate case " + c->id));
  } else {
    auto known = CaseOf(*c);
    if (!known.ok()) return RefuseMessage(m, known.status());
    const cases::CaseFacts& f = (*known)->facts;
    // Who may see the history (the same answer as for a case that does not
    // exist would tell nothing more: ids are not secret): its coordinator
    // now, the participant a pending handover is offered to (to check the
    // case before accepting it), and during a stand-in whom it stands in for.
    const cases::HandoverOffer* offer = f.PendingOfferAt(now);
    const bool may = f.CoordinatorAt(now) == m.sender || (offer != nullptr && offer->to == m.sender) ||
                     (!f.stand_in_for.empty() && f.stand_in_for == m.sender);
    if (!may) {
      return RefuseMessage(m, PermissionDeniedError("you do not coordinate case " + c->id +
                                                    " and no handover of it is offered to you"));
    }
    *chain.mutable_status() =
        cases::CaseStatusAt(*policy_, cases::FoldContext::Of(policy_.get(), *registry_), f, now);
  }
  auto commands = store_->Commands(c->id, fetch.from(), kChainCommandsPerAnswer, kChainBytesPerAnswer);
  if (!commands.ok()) return RefuseMessage(m, commands.status());
  chain.set_case_id(c->id);
  chain.set_from(fetch.from());
  chain.set_length(c->length);
  for (auto& e : *commands) chain.add_commands(std::move(e));
  QueueSigned(m.sender, v1::MESSAGE_KIND_CASE_CHAIN, m.env.header.message_id(), chain);
}

}  // namespace kp::gateway
