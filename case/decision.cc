#include "case/decision.h"

#include <algorithm>
#include <set>

#include "case/commitment.h"
#include "core/base/encoding.h"
#include "core/base/time_format.h"
#include "core/crypto/secret_bytes.h"

namespace kp::cases {

namespace v1 = ketenpoort::v1;

Status CheckAsker(const policy::Policy& policy, const CaseFacts& facts, const std::string& asker_id,
                  const RegistryEntry& asker, const v1::FragmentRequest& request, int64_t now_ms) {
  if (facts.closed) {
    return FailedPreconditionError("case " + facts.case_id + " is closed; no further requests are possible");
  }
  if (facts.CoordinatorAt(now_ms) != asker_id) {
    return PermissionDeniedError("you do not coordinate case " + facts.case_id +
                                 (facts.CoordinatorAt(now_ms).empty() ? "" : " (" + facts.CoordinatorAt(now_ms) + " does)"));
  }
  const bool acute_now = facts.acute && facts.acute_handed_over_ms == 0;
  if (!MayCoordinate(policy, asker) && !(acute_now && policy.MayOpenAcute(asker.role, asker.card.partner))) {
    return PermissionDeniedError("your role '" + asker.role + "' may not coordinate cases under the policy in force");
  }
  if (facts.AcuteWindowOver(now_ms)) {
    return FailedPreconditionError("the acute window of case " + facts.case_id + " ended on " +
                                   FormatUtcMillis(facts.acute_until_ms) + " without a handover to " +
                                   PartnerNames(policy, policy.acute().hand_over_to) +
                                   ": hand it over (ketenpoort case handover) or close it");
  }
  if (const int64_t ends = CoordinationEndsFor(policy, asker.role, facts, now_ms); ends != 0 && now_ms >= ends) {
    return FailedPreconditionError("your coordination of case " + facts.case_id + " (role '" + asker.role +
                                   "', at most " + std::to_string(policy.CoordinationMaxDays(asker.role)) +
                                   " days) ended on " + FormatUtcDate(ends) +
                                   ": hand it over (ketenpoort case handover) or close it");
  }
  if (!facts.IsMember(request.source_partner())) {
    return PermissionDeniedError("partner " + request.source_partner() + " is not admitted to case " + facts.case_id +
                                 (facts.removed.count(request.source_partner()) != 0 ? " (it was removed)" : "") +
                                 "; admit it first (ketenpoort case admit)");
  }
  return OkStatus();
}

v1::CaseStatus CaseStatusAt(const policy::Policy& policy, const FoldContext& ctx, const CaseFacts& facts,
                            int64_t now_ms) {
  v1::CaseStatus st;
  st.set_phase(facts.phase);
  st.set_coordinator(facts.CoordinatorAt(now_ms));
  for (const auto& [partner, since] : facts.members) st.add_members(partner);
  if (!facts.closed) {
    st.set_coordination_ends_ms(CoordinationEndsAt(policy, ctx, facts, now_ms));
    if (facts.acute && facts.acute_handed_over_ms == 0) st.set_acute_until_ms(facts.acute_until_ms);
    if (const HandoverOffer* o = facts.PendingOfferAt(now_ms)) {
      st.set_pending_handover_to(o->to);
      st.set_pending_handover_expires_ms(o->expires_ms);
    }
  }
  return st;
}

Status CheckRequestSubjects(const CaseFacts& facts, const v1::FragmentRequest& request) {
  if (request.subjects().empty()) return InvalidArgumentError("a request names at least one subject");
  std::set<std::string> seen;
  for (const auto& s : request.subjects()) {
    if (Status st = CheckSubjectRef(s.ref(), s.role()); !st.ok()) return st;
    if (!seen.insert(s.ref()).second) return InvalidArgumentError("the request names subject " + s.ref() + " twice");
    const SubjectFact* known = facts.Subject(s.ref());
    if (known == nullptr) {
      return InvalidArgumentError("case " + facts.case_id + " has no subject " + s.ref());
    }
    if (known->role != s.role()) {
      return InvalidArgumentError("subject " + s.ref() + " has another role in case " + facts.case_id);
    }
  }
  return OkStatus();
}

Status CheckSealedSubjects(const CaseFacts& facts, const v1::FragmentRequest& request, const v1::SubjectData& sealed) {
  if (sealed.case_id() != request.case_id()) {
    return InvalidArgumentError("the sealed subject data belongs to another case");
  }
  if (Status s = CheckRequestSubjects(facts, request); !s.ok()) return s;
  std::vector<std::string> asked, opened;
  for (const auto& s : request.subjects()) asked.push_back(s.ref());
  for (const auto& s : sealed.subjects()) opened.push_back(s.ref());
  std::sort(asked.begin(), asked.end());
  std::sort(opened.begin(), opened.end());
  if (asked != opened) return InvalidArgumentError("the sealed subject data does not match the subjects of the request");
  for (const auto& s : sealed.subjects()) {
    const SubjectFact* known = facts.Subject(s.ref());
    auto commitment = SubjectCommitment(s);
    if (!commitment.ok()) return commitment.status();
    if (known->role != s.role() || !ConstantTimeEquals(*commitment, known->commitment)) {
      return PermissionDeniedError("the identifiers sealed for subject " + s.ref() +
                                   " are not the ones the coordinator committed to in case " + facts.case_id);
    }
  }
  return OkStatus();
}

policy::Justification ClaimedJustification(const v1::FragmentRequest& request) {
  if (request.justification_kind() == v1::JUSTIFICATION_KIND_WEIGHING) return policy::Justification::kWeighing;
  if (request.justification_kind() == v1::JUSTIFICATION_KIND_TEXT || request.justification_present()) {
    return policy::Justification::kText;
  }
  return policy::Justification::kNone;
}

policy::Justification SealedJustification(const v1::SubjectData& sealed) {
  if (!sealed.has_weighing()) return policy::AssessJustification(sealed.justification(), nullptr);
  const v1::Weighing& w = sealed.weighing();
  const policy::WeighingAnswers answers{w.consent(), w.harm(), w.no_other_way(), w.effect(), w.minimum(),
                                        w.approver()};
  return policy::AssessJustification(sealed.justification(), &answers);
}

namespace {

// The subjects of `request` as the policy sees them at `now_ms`.
void FillSubjects(const CaseFacts& facts, const v1::FragmentRequest& request, int64_t now_ms,
                  std::vector<policy::SubjectFacts>* out) {
  for (const auto& s : request.subjects()) {
    policy::SubjectFacts sf;
    const SubjectFact* known = facts.Subject(s.ref());
    sf.role = SubjectRoleId(known != nullptr ? known->role : s.role());
    const ConsentFact* consent = nullptr;
    auto by_source = facts.source_consents.find({request.source_partner(), s.ref(), request.purpose()});
    if (by_source != facts.source_consents.end() && by_source->second.valid_until_ms > now_ms) {
      consent = &by_source->second;
      sf.consent_by_source = true;
    } else if (auto it = facts.consents.find({s.ref(), request.purpose()});
               it != facts.consents.end() && it->second.valid_until_ms > now_ms) {
      consent = &it->second;
    }
    if (consent != nullptr) {
      sf.consent_givers = consent->givers == 0 ? static_cast<uint8_t>(policy::kGiverSubject) : consent->givers;
      sf.age_years = consent->age_years;
      sf.consent_recorded_ms = consent->recorded_ms;
    }
    out->push_back(sf);
  }
}

// When the case's current run of its phase began. The engine counts it only
// when that phase is the policy's acute phase (within_hours_of_acute).
int64_t AcuteSince(const CaseFacts& facts) { return facts.phase_since_ms; }

}  // namespace

policy::Request AskPolicy(const CaseFacts& facts, const v1::FragmentRequest& request, const RegistryEntry& asker,
                          policy::Justification justification, int64_t now_ms) {
  policy::Request pr;
  pr.from = request.source_partner();
  pr.to = asker.card.partner;
  pr.to_role = asker.role;
  for (const auto& c : request.categories()) pr.categories.push_back(c);
  pr.purpose = request.purpose();
  pr.phase = facts.phase;
  pr.requester_is_member = facts.CoordinatorAt(now_ms) == asker.card.id;
  FillSubjects(facts, request, now_ms, &pr.subjects);
  std::vector<std::string> cats(request.categories().begin(), request.categories().end());
  pr.gatekeeper_approved = facts.HasApproval(request.source_partner(), cats, request.purpose(), now_ms);
  pr.justification_level = justification;
  pr.now_ms = now_ms;
  pr.acute_phase_since_ms = AcuteSince(facts);
  return pr;
}

policy::Decision DecideHandOver(const policy::Policy& policy, const CaseFacts& facts,
                                const v1::FragmentRequest& original, const v1::Decision& original_decision,
                                const RegistryEntry& to, int64_t now_ms) {
  policy::Request pr;
  pr.from = original.source_partner();
  pr.to = to.card.partner;
  pr.to_role = to.role;
  for (const auto& c : original.categories()) pr.categories.push_back(c);
  pr.purpose = original.purpose();
  pr.phase = facts.phase;
  pr.requester_is_member = true;  // it takes the case over
  FillSubjects(facts, original, now_ms, &pr.subjects);
  std::vector<std::string> cats(original.categories().begin(), original.categories().end());
  pr.gatekeeper_approved = facts.HasApproval(original.source_partner(), cats, original.purpose(), now_ms);
  pr.justification_level = ClaimedJustification(original);
  pr.now_ms = now_ms;
  pr.acute_phase_since_ms = AcuteSince(facts);
  policy::Decision d = policy.Decide(pr);
  if (d.effect != policy::Effect::kPermit) return d;
  // Every field the fragment may hold must be one `to` may see.
  for (const auto& held : original_decision.obligations().allowed_fields()) {
    const policy::CategoryFields* now = nullptr;
    for (const auto& cf : d.obligations.fields) {
      if (cf.category == held.category()) now = &cf;
    }
    for (const auto& field : held.fields()) {
      const bool allowed = now != nullptr && std::find(now->fields.begin(), now->fields.end(), field) != now->fields.end();
      if (!allowed) {
        d.effect = policy::Effect::kDeny;
        d.legal_bases.clear();
        d.reason = "the fragment holds field " + held.category() + "." + field + ", which the policy does not give " +
                   std::string(to.card.partner) + "/" + to.role + " now";
        return d;
      }
    }
  }
  return d;
}

std::string JoinLegalBases(const policy::Decision& decision) {
  std::string out;
  for (auto lb : decision.legal_bases) out += (out.empty() ? "" : ",") + std::string(lb);
  return out;
}

void ToWire(const policy::Decision& d, v1::Decision* out) {
  out->set_effect(d.effect == policy::Effect::kPermit ? v1::EFFECT_PERMIT : v1::EFFECT_DENY);
  for (auto r : d.rule_ids) out->add_rule_ids(std::string(r));
  out->set_legal_basis(JoinLegalBases(d));
  out->set_reason(d.reason);
  out->set_policy_sha256(HexDecode(d.policy_sha256).value_or(std::string()));
  auto* ob = out->mutable_obligations();
  for (const auto& cf : d.obligations.fields) {
    auto* f = ob->add_allowed_fields();
    f->set_category(std::string(cf.category));
    for (auto field : cf.fields) f->add_fields(std::string(field));
  }
  ob->set_retention_days(static_cast<uint32_t>(d.obligations.retention_days));
  ob->set_no_onward_sharing(d.obligations.no_onward_sharing);
  ob->set_notify_privacy_officer(d.obligations.notify_privacy_officer);
  ob->set_retention_from_closure(d.obligations.retention_from_closure);
  ob->set_source_approval(d.needs_source_approval);
}

void ToAudit(const policy::Decision& d, v1::AuditRecord* record) {
  auto* ad = record->mutable_decision();
  ad->set_verdict(d.effect == policy::Effect::kPermit ? v1::AUDIT_VERDICT_PERMIT : v1::AUDIT_VERDICT_DENY);
  for (auto r : d.rule_ids) ad->add_rule_ids(std::string(r));
  ad->set_reason(d.reason);
  ad->set_policy_sha256(HexDecode(d.policy_sha256).value_or(std::string()));
  record->set_legal_basis(JoinLegalBases(d));
  if (d.effect != policy::Effect::kPermit) return;
  auto* aob = ad->mutable_obligations();
  for (const auto& cf : d.obligations.fields) {
    for (auto field : cf.fields) aob->add_allowed_fields(std::string(cf.category) + "." + std::string(field));
  }
  aob->set_retention_days(static_cast<uint32_t>(d.obligations.retention_days));
  aob->set_no_onward_sharing(d.obligations.no_onward_sharing);
  aob->set_notify_privacy_officer(d.obligations.notify_privacy_officer);
  aob->set_retention_from_closure(d.obligations.retention_from_closure);
  aob->set_source_approval(d.needs_source_approval);
}

namespace {

// What the permitting rules `rule_ids` rested on: the strongest of their
// justification and weighing conditions (rules are sorted by id).
v1::AuditJustification JustificationOf(const policy::Policy& policy, const auto& rule_ids) {
  v1::AuditJustification out = v1::AUDIT_JUSTIFICATION_NONE;
  const auto& rules = policy.rules();
  for (const auto& id : rule_ids) {
    auto it = std::lower_bound(rules.begin(), rules.end(), id,
                               [](const policy::Policy::Rule& r, const auto& want) { return r.id < want; });
    if (it == rules.end() || it->id != id || it->effect != policy::Effect::kPermit) continue;
    if ((it->conditions & policy::kConditionWeighing) != 0) {
      out = v1::AUDIT_JUSTIFICATION_WEIGHING;
    } else if ((it->conditions & policy::kConditionJustification) != 0 && out == v1::AUDIT_JUSTIFICATION_NONE) {
      out = v1::AUDIT_JUSTIFICATION_TEXT;
    }
  }
  return out;
}

std::string PolicyVersion(const policy::Policy& policy) {
  return policy.version().empty() ? policy.id() : policy.id() + " " + policy.version();
}

}  // namespace

void ToAudit(const policy::Policy& policy, const policy::Decision& d, v1::AuditRecord* record) {
  ToAudit(d, record);
  auto* ad = record->mutable_decision();
  ad->set_policy_version(PolicyVersion(policy));
  if (d.effect == policy::Effect::kPermit) ad->set_justification(JustificationOf(policy, d.rule_ids));
}

void WireToAudit(const policy::Policy& policy, const v1::Decision& wire, v1::AuditRecord* record) {
  auto* ad = record->mutable_decision();
  const bool permit = wire.effect() == v1::EFFECT_PERMIT;
  ad->set_verdict(permit ? v1::AUDIT_VERDICT_PERMIT : v1::AUDIT_VERDICT_DENY);
  for (const auto& r : wire.rule_ids()) ad->add_rule_ids(r);
  ad->set_reason(wire.reason());
  ad->set_policy_sha256(wire.policy_sha256());
  record->set_legal_basis(wire.legal_basis());
  if (permit) {
    const auto& ob = wire.obligations();
    auto* aob = ad->mutable_obligations();
    for (const auto& cf : ob.allowed_fields()) {
      for (const auto& field : cf.fields()) aob->add_allowed_fields(cf.category() + "." + field);
    }
    aob->set_retention_days(ob.retention_days());
    aob->set_no_onward_sharing(ob.no_onward_sharing());
    aob->set_notify_privacy_officer(ob.notify_privacy_officer());
    aob->set_retention_from_closure(ob.retention_from_closure());
    aob->set_source_approval(ob.source_approval());
  }
  if (HexEncode(wire.policy_sha256()) != policy.sha256_hex()) return;
  ad->set_policy_version(PolicyVersion(policy));
  if (permit) ad->set_justification(JustificationOf(policy, wire.rule_ids()));
}

}  // namespace kp::cases
