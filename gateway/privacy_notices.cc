// GatewayCore: notices to the privacy officers (issue 17 §2; docs/protocol.md
// §3.11). A permit whose obligations carry notify_privacy_officer — a
// request, a watch, a push, or a fragment that goes over in a handover — is
// told to every enrolled privacy officer: one signed CASE_NOTICE of kind
// PRIVACY_OFFICER each, ids and metadata only, held in the officer's inbox
// until the officer acknowledges it (DELIVERY_ACK naming the notice's own
// message id), and one PRIVACY_OFFICER_NOTIFIED record, all in the unit of
// the decision: the decision, the record and the held notices commit
// together or not at all.
#include <spdlog/spdlog.h>

#include "gateway/gateway_core.h"
#include "gateway/gateway_core_internal.h"

namespace kp::gateway {

namespace v1 = ketenpoort::v1;

std::vector<std::string> GatewayCore::PrivacyOfficers() const {
  std::vector<std::string> out;  // the registry's order: sorted by id
  for (const auto& [id, e] : registry_->entries()) {
    if (e.card.kind == ParticipantKind::kPrivacyOfficer) out.push_back(id);
  }
  return out;
}

Status GatewayCore::NotifyPrivacyOfficers(const v1::AuditRecord& decided, uint64_t decided_index,
                                          const std::string& what) {
  KP_CHECK(in_unit_);
  const std::vector<std::string> officers = PrivacyOfficers();
  const int64_t now = clock_.NowMillis();

  // The record first: a notice never leaves unrecorded. Ids only: who the
  // notice is held for, never anything of the subjects but their refs and
  // pseudonyms as the decision's record already carries them.
  v1::AuditRecord rec = NewRecord(v1::AUDIT_EVENT_PRIVACY_OFFICER_NOTIFIED, identity_->id());
  rec.set_case_id(decided.case_id());
  rec.set_message_id(decided.message_id());
  rec.set_source_partner(decided.source_partner());
  // recipient_partner stays empty (audit.proto): the disclosure's recipient
  // is on the decision's record, found by message_id.
  *rec.mutable_categories() = decided.categories();
  rec.set_purpose(decided.purpose());
  rec.set_legal_basis(decided.legal_basis());
  rec.set_phase(decided.phase());
  *rec.mutable_decision() = decided.decision();
  *rec.mutable_subjects() = decided.subjects();
  std::string held_for;
  for (const auto& id : officers) held_for += (held_for.empty() ? "" : ", ") + id;
  rec.set_reason(officers.empty() ? what + " flagged for the privacy officer (record #" +
                                        std::to_string(decided_index) + "), but no privacy officer is enrolled"
                                  : what + " flagged for the privacy officer (record #" +
                                        std::to_string(decided_index) + "); notice held for " + held_for);
  KP_RETURN_IF_ERROR(Audit(std::move(rec)).status());
  if (officers.empty()) {
    spdlog::warn("case {}: a decision asks to notify the privacy officer, but none is enrolled", decided.case_id());
    return OkStatus();
  }

  v1::CaseNotice n;
  n.set_kind(v1::NOTICE_KIND_PRIVACY_OFFICER);
  n.set_case_id(decided.case_id());
  n.set_by(decided.actor().participant_id());
  n.set_phase(decided.phase());
  n.set_at_ms(now);
  n.set_reason_code(what);
  n.set_audit_index(decided_index);
  n.set_request_id(decided.message_id());
  n.set_source_partner(decided.source_partner());
  n.set_recipient_partner(decided.recipient_partner());
  for (const auto& c : decided.categories()) n.add_categories(c.name());
  n.set_purpose(decided.purpose());
  n.set_legal_basis(decided.legal_basis());
  for (const auto& r : decided.decision().rule_ids()) n.add_rule_ids(r);
  n.set_justification(decided.decision().justification() != v1::AUDIT_JUSTIFICATION_NONE);
  for (const auto& officer : officers) {
    auto msg = signer_->Sign(v1::MESSAGE_KIND_CASE_NOTICE, officer, "", n.SerializeAsString());
    if (!msg.ok()) {
      FailUnit(msg.status());
      return msg.status();
    }
    // Held under the notice's own message id, which the officer's
    // DELIVERY_ACK names: it stays until acknowledged, sent or not.
    SendOrHold(officer, decided.case_id(), msg->bytes, msg->message_id);
  }
  spdlog::debug("case {}: {} notice held for {} privacy officer(s)", decided.case_id(), what, officers.size());
  return unit_failed_;
}

}  // namespace kp::gateway
