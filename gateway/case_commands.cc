// GatewayCore: the coordinator's case commands (docs/protocol.md §6,
// CaseCommand): open, admit, change phase, record consent, gatekeeper
// approval, close. Each change, its evidence (the coordinator's signed
// command, kept for the agents) and its audit record go together.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <ctime>

#include "core/base/encoding.h"
#include "gateway/gateway_core.h"
#include "gateway/gateway_core_internal.h"

namespace kp::gateway {

namespace v1 = ketenpoort::v1;

namespace {

int CurrentYear(int64_t now_ms) {
  std::time_t t = static_cast<std::time_t>(now_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return tm.tm_year + 1900;
}

}  // namespace

void GatewayCore::HandleCaseCommand(const VerifiedMessage& m) {
  const std::string& sender = m.sender;
  const std::string& raw = m.raw;
  const std::string& msg_id = m.env.header.message_id();
  auto fail = [&](const Status& s, const std::string& case_id) {
    v1::AuditRecord r;
    r.set_case_id(case_id);
    RefuseMessage(m, s, std::move(r));
  };
  v1::CaseCommand cmd;
  if (Status s = ParseBody(m.env.body, cmd); !s.ok()) return fail(s, "");
  const RegistryEntry* me = m.entry;
  if (me->role != internal::kCasusregisseur) {
    return fail(PermissionDeniedError("only a casusregisseur may open or change cases; the registry gives " +
                                      sender + " no such role"),
                cmd.case_id());
  }
  const int64_t now = clock_.NowMillis();
  const auto& phases = policy_->phases();
  CaseRecord c;
  if (cmd.command_case() != v1::CaseCommand::kOpen) {
    auto got = store_->GetCase(cmd.case_id());
    if (!got.ok()) return fail(got.status(), cmd.case_id());
    c = *got;
    if (c.coordinator != sender) {
      return fail(PermissionDeniedError("only the casusregisseur of case " + c.id + " may change it"), c.id);
    }
    if (c.closed) return fail(FailedPreconditionError("case " + c.id + " is closed"), c.id);
  }

  v1::AuditRecord rec = NewRecord(v1::AUDIT_EVENT_UNSPECIFIED, sender);
  rec.set_message_id(msg_id);
  if (Status s = store_->Begin(); !s.ok()) return fail(s, cmd.case_id());
  Status change;
  switch (cmd.command_case()) {
    case v1::CaseCommand::kOpen: {
      if (policy_->PurposeIndex(cmd.open().purpose()) < 0) {
        change = InvalidArgumentError("purpose '" + cmd.open().purpose() + "' is not in the policy");
        break;
      }
      auto first = std::find_if(phases.begin(), phases.end(), [](const auto& p) { return !p.closed; });
      auto opened = store_->OpenCase(cmd.open().purpose(), sender, first->id, CurrentYear(now), now);
      if (!opened.ok()) {
        change = opened.status();
        break;
      }
      c = *opened;
      rec.set_event(v1::AUDIT_EVENT_CASE_OPENED);
      rec.set_purpose(c.purpose);
      break;
    }
    case v1::CaseCommand::kAdmit: {
      if (policy_->PartnerIndex(cmd.admit().partner()) < 0) {
        change = InvalidArgumentError("partner '" + cmd.admit().partner() + "' is not in the policy");
        break;
      }
      change = store_->AdmitPartner(c.id, cmd.admit().partner(), now);
      if (change.ok()) change = store_->PutEvidence(c.id, "admit/" + cmd.admit().partner(), raw);
      rec.set_event(v1::AUDIT_EVENT_PARTNER_ADMITTED);
      rec.set_recipient_partner(cmd.admit().partner());
      break;
    }
    case v1::CaseCommand::kChangePhase: {
      int idx = policy_->PhaseIndex(cmd.change_phase().phase());
      if (idx < 0 || phases[static_cast<size_t>(idx)].closed) {
        change = InvalidArgumentError("'" + cmd.change_phase().phase() +
                                      "' is not an open phase of the policy (use close to close the case)");
        break;
      }
      change = store_->SetPhase(c.id, cmd.change_phase().phase());
      if (change.ok()) change = store_->PutEvidence(c.id, "phase", raw);
      c.phase = cmd.change_phase().phase();
      rec.set_event(v1::AUDIT_EVENT_PHASE_CHANGED);
      break;
    }
    case v1::CaseCommand::kRecordConsent: {
      const auto& rc = cmd.record_consent();
      if (rc.subject_ref().empty() || rc.subject_ref().size() > 16 || policy_->PurposeIndex(rc.purpose()) < 0 ||
          rc.valid_until_ms() <= now) {
        change = InvalidArgumentError("consent needs a subject reference, a purpose of the policy and a future end date");
        break;
      }
      change = store_->RecordConsent(c.id, rc.subject_ref(), rc.purpose(), rc.valid_until_ms());
      if (change.ok()) change = store_->PutEvidence(c.id, "consent/" + rc.subject_ref() + "/" + rc.purpose(), raw);
      rec.set_event(v1::AUDIT_EVENT_CONSENT_RECORDED);
      rec.set_purpose(rc.purpose());
      rec.set_reason("consent recorded for subject " + rc.subject_ref() + " until " +
                     FormatRfc3339Millis(rc.valid_until_ms()));
      break;
    }
    case v1::CaseCommand::kGatekeeperApproval: {
      const auto& g = cmd.gatekeeper_approval();
      if (policy_->PartnerIndex(g.source_partner()) < 0 || policy_->PurposeIndex(g.purpose()) < 0 ||
          g.categories().empty() || g.valid_until_ms() <= now) {
        change = InvalidArgumentError("a gatekeeper approval needs a partner, categories and a purpose of the "
                                      "policy, and a future end date");
        break;
      }
      for (const auto& cat : g.categories()) {
        if (policy_->CategoryIndex(cat) < 0) {
          change = InvalidArgumentError("category '" + cat + "' is not in the policy");
          break;
        }
        if (change = store_->RecordGatekeeperApproval(c.id, g.source_partner(), cat, g.purpose(), g.valid_until_ms());
            !change.ok()) {
          break;
        }
        rec.add_categories()->set_name(cat);
        if (change = store_->PutEvidence(c.id, "gatekeeper/" + g.source_partner() + "/" + g.purpose() + "/" + cat, raw);
            !change.ok()) {
          break;
        }
      }
      rec.set_event(v1::AUDIT_EVENT_CONSENT_RECORDED);
      rec.set_source_partner(g.source_partner());
      rec.set_purpose(g.purpose());
      rec.set_reason("gatekeeper approval recorded until " + FormatRfc3339Millis(g.valid_until_ms()));
      break;
    }
    case v1::CaseCommand::kClose: {
      auto closed = std::find_if(phases.begin(), phases.end(), [](const auto& p) { return p.closed; });
      if (closed == phases.end()) {
        change = FailedPreconditionError("the policy has no closed phase");
        break;
      }
      change = store_->CloseCase(c.id, closed->id, now);
      c.phase = closed->id;
      rec.set_event(v1::AUDIT_EVENT_CASE_CLOSED);
      rec.set_reason(cmd.close().reason_code());
      break;
    }
    default:
      change = InvalidArgumentError("case command without a command");
  }
  if (!change.ok()) {
    store_->Rollback();
    return fail(change, c.id.empty() ? cmd.case_id() : c.id);
  }
  rec.set_case_id(c.id);
  rec.set_phase(c.phase);
  auto index = Audit(std::move(rec));
  if (!index.ok()) {
    store_->Rollback();  // no change the log does not show; the unit fails and its sender is told
    return;
  }
  if (Status s = store_->Commit(); !s.ok()) {
    store_->Rollback();
    FailUnit(s);  // its record is staged: the whole unit goes
    return;
  }
  spdlog::info("case {}: {} by {} (audit #{})", c.id, cmd.GetDescriptor()->FindFieldByNumber(cmd.command_case())->name(),
               sender, *index);
  v1::CaseResult result;
  result.set_case_id(c.id);
  result.set_phase(c.phase);
  result.set_audit_index(*index);
  QueueSigned(sender, v1::MESSAGE_KIND_CASE_RESULT, msg_id, result);
}

}  // namespace kp::gateway
