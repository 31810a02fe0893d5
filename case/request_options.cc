#include "case/request_options.h"

#include <algorithm>

#include "case/decision.h"

namespace kp::cases {

namespace v1 = ketenpoort::v1;

namespace {

constexpr uint8_t kJ = policy::kConditionJustification;
constexpr uint8_t kC = policy::kConditionConsent;
constexpr uint8_t kG = policy::kConditionGatekeeper;
constexpr uint8_t kW = policy::kConditionWeighing;
// Conditions to add, fewest first; among equals, what the coordinator can
// give most easily first (a justification is typed in the request form;
// consent and an approval are case commands), but consent before the
// conflict-of-duties weighing: consent is the less intrusive route
// (subsidiarity, KNMG stappenplan step 1). A complete weighing also counts
// as a justification, so a text is tried before it.
constexpr uint8_t kTries[] = {kJ,      kC,      kW,      kG,      kJ | kC,     kC | kW,
                              kJ | kG, kC | kG, kW | kG, kJ | kC | kG, kC | kW | kG};

AskRule RuleOf(const policy::Policy& policy, std::string_view id) {
  const auto& rules = policy.rules();  // sorted by id
  auto it =
      std::lower_bound(rules.begin(), rules.end(), id,
                       [](const policy::Policy::Rule& r, std::string_view want) { return r.id < want; });
  if (it == rules.end() || it->id != id) return {std::string(id), ""};
  return {it->id, it->explanation};
}

AskLegalBasis LegalBasisOf(const policy::Policy& policy, std::string_view id) {
  for (const auto& lb : policy.legal_bases()) {
    if (lb.id == id) return {lb.id, lb.citation};
  }
  return {std::string(id), ""};
}

// The screen's copy of a decision: rules, legal bases and obligations.
void CopyOut(const policy::Policy& policy, const policy::Decision& d, AskExplanation* out) {
  for (auto id : d.rule_ids) out->rules.push_back(RuleOf(policy, id));
  for (auto id : d.legal_bases) out->legal_bases.push_back(LegalBasisOf(policy, id));
  for (const auto& cf : d.obligations.fields) {
    out->fields.push_back(
        {std::string(cf.category), std::vector<std::string>(cf.fields.begin(), cf.fields.end())});
  }
  out->retention_days = d.obligations.retention_days;
  out->no_onward_sharing = d.obligations.no_onward_sharing;
  out->notify_privacy_officer = d.obligations.notify_privacy_officer;
}

AskState StateFor(uint8_t missing) {
  if (missing & kG) return AskState::kNeedsGatekeeper;
  if (missing & kC) return AskState::kNeedsConsent;
  if (missing & kW) return AskState::kNeedsWeighing;
  return AskState::kNeedsJustification;
}

// AskPolicy and Decide for a request that passed CheckAsker and
// CheckRequestSubjects; on a refusal, Decide again with the conditions the
// request lacks, to find the fewest that would permit it.
AskExplanation Explain(const policy::Policy& policy, const CaseFacts& facts, const RegistryEntry& asker,
                       const v1::FragmentRequest& request, int64_t now_ms) {
  AskExplanation out;
  const policy::Request asked =
      AskPolicy(facts, request, asker, ClaimedJustification(request), now_ms);
  out.decision = policy.Decide(asked);
  out.reason = out.decision.reason;
  if (out.decision.effect == policy::Effect::kPermit) {
    out.state = AskState::kAllowed;
    CopyOut(policy, out.decision, &out);
    return out;
  }
  // No rule ids: no permit rule matches this sender, recipient, purpose and
  // phase at all (policy_engine.h), so no condition can help.
  if (!out.decision.rule_ids.empty()) {
    const uint8_t absent =
        static_cast<uint8_t>((asked.justification_level == policy::Justification::kNone ? kJ : 0) |
                             (asked.justification_level != policy::Justification::kWeighing ? kW : 0) |
                             (policy.ConsentHolds(asked, false, nullptr) ? 0 : kC) |
                             (asked.gatekeeper_approved ? 0 : kG));
    for (uint8_t add : kTries) {
      if ((add & absent) != add) continue;
      policy::Request again = asked;
      if (add & kJ) again.justification_level = policy::Justification::kText;
      if (add & kW) again.justification_level = policy::Justification::kWeighing;
      if (add & kC) {
        for (auto& s : again.subjects) {  // as if recorded now, by all who could give it
          s.consent_givers = policy::kGiverSubject | policy::kGiverParents;
          s.consent_recorded_ms = asked.now_ms;
          if (s.age_years < 0) s.age_years = 0;  // stated (the client states it): any band is met by both
        }
      }
      if (add & kG) again.gatekeeper_approved = true;
      policy::Decision would = policy.Decide(again);
      if (would.effect != policy::Effect::kPermit) continue;
      out.state = StateFor(add);
      for (uint8_t m = add; m != 0; m &= static_cast<uint8_t>(m - 1)) {
        out.missing.emplace_back(policy::ConditionName(static_cast<policy::Condition>(m & -m)));
      }
      CopyOut(policy, would, &out);
      return out;
    }
  }
  out.state = AskState::kRefused;
  CopyOut(policy, out.decision, &out);  // the refusing rules; a deny has no bases or obligations
  return out;
}

// CheckAsker's verdict on the asker (case open, coordinator, role, acute
// window, coordination period), before any source partner is chosen. It is
// asked about an admitted partner, whose admission it then finds; a case
// with none admitted yet is asked on a copy with a stand-in member, so that
// a closed case still says it is closed.
Status CheckAskerInCase(const policy::Policy& policy, const CaseFacts& facts, const std::string& asker_id,
                        const RegistryEntry& asker, int64_t now_ms) {
  v1::FragmentRequest probe;
  if (!facts.members.empty()) {
    probe.set_source_partner(facts.members.begin()->first);
    return CheckAsker(policy, facts, asker_id, asker, probe, now_ms);
  }
  CaseFacts with_member = facts;
  with_member.members.emplace("", 0);
  return CheckAsker(policy, with_member, asker_id, asker, probe, now_ms);
}

// A fold without the policy leaves the phase empty, and Decide would refuse
// every request for an unknown phase: a caller's mistake, not the policy's.
Status CheckFoldedWithPolicy(const CaseFacts& facts) {
  if (!facts.phase.empty()) return OkStatus();
  return FailedPreconditionError(
      "case " + facts.case_id +
      " was read without the policy, so its phase is unknown; fold it with the policy");
}

// Whether partner `from` holds category `c`: its stated owner, or, without
// one, some permit rule lets `from` send it to the asker's partner and role.
bool Holds(const policy::Policy& policy, int from, int c, int to, int to_role) {
  const policy::Policy::Category& category = policy.categories()[static_cast<size_t>(c)];
  if (category.owner >= 0) return category.owner == from;
  for (const auto& rule : policy.rules()) {
    if (rule.effect != policy::Effect::kPermit) continue;
    if (!(rule.from & (uint64_t{1} << from)) || !(rule.categories & (uint64_t{1} << c))) continue;
    for (const auto& t : rule.to) {
      if ((t.partner == -1 || t.partner == to) && (t.role == -1 || t.role == to_role)) return true;
    }
  }
  return false;
}

}  // namespace

std::string_view AskStateName(AskState state) {
  switch (state) {
    case AskState::kAllowed:
      return "allowed";
    case AskState::kNeedsJustification:
      return "needs-justification";
    case AskState::kNeedsWeighing:
      return "needs-weighing";
    case AskState::kNeedsConsent:
      return "needs-consent";
    case AskState::kNeedsGatekeeper:
      return "needs-gatekeeper";
    case AskState::kRefused:
      return "refused";
  }
  return "unknown";
}

Result<std::vector<AskOption>> WhatMayBeAsked(const policy::Policy& policy, const CaseFacts& facts,
                                              const std::string& asker_id, const RegistryEntry& asker,
                                              const std::string& purpose,
                                              const std::vector<std::string>& subject_refs,
                                              bool with_justification, int64_t now_ms) {
  return WhatMayBeAsked(policy, facts, asker_id, asker, purpose, subject_refs,
                        with_justification ? policy::Justification::kText : policy::Justification::kNone, now_ms);
}

Result<std::vector<AskOption>> WhatMayBeAsked(const policy::Policy& policy, const CaseFacts& facts,
                                              const std::string& asker_id, const RegistryEntry& asker,
                                              const std::string& purpose,
                                              const std::vector<std::string>& subject_refs,
                                              policy::Justification justification, int64_t now_ms) {
  KP_RETURN_IF_ERROR(CheckAskerInCase(policy, facts, asker_id, asker, now_ms));
  KP_RETURN_IF_ERROR(CheckFoldedWithPolicy(facts));
  if (policy.PurposeIndex(purpose) < 0)
    return InvalidArgumentError("the policy has no purpose '" + purpose + "'");

  v1::FragmentRequest request;
  request.set_case_id(facts.case_id);
  request.set_purpose(purpose);
  request.set_justification_present(justification != policy::Justification::kNone);
  request.set_justification_kind(justification == policy::Justification::kWeighing ? v1::JUSTIFICATION_KIND_WEIGHING
                                 : justification == policy::Justification::kText  ? v1::JUSTIFICATION_KIND_TEXT
                                                                                  : v1::JUSTIFICATION_KIND_NONE);
  for (const auto& s : facts.subjects) {
    if (subject_refs.empty()) {
      auto* ref = request.add_subjects();
      ref->set_ref(s.ref);
      ref->set_role(s.role);
    }
  }
  for (const auto& want : subject_refs) {
    auto* ref = request.add_subjects();
    ref->set_ref(want);
    const SubjectFact* known = facts.Subject(want);
    if (known == nullptr) return InvalidArgumentError("case " + facts.case_id + " has no subject " + want);
    ref->set_role(known->role);
  }
  KP_RETURN_IF_ERROR(CheckRequestSubjects(facts, request));

  const int to = policy.PartnerIndex(asker.card.partner);
  const int to_role = policy.RoleIndex(asker.role);
  std::vector<AskOption> options;
  for (const auto& [partner, since] : facts.members) {
    request.set_source_partner(partner);
    KP_RETURN_IF_ERROR(CheckAsker(policy, facts, asker_id, asker, request, now_ms));
    const int from = policy.PartnerIndex(partner);
    if (from < 0) continue;  // the fold admits only the policy's partners
    for (int c = 0; c < static_cast<int>(policy.categories().size()); ++c) {
      if (!Holds(policy, from, c, to, to_role)) continue;
      const std::string& category = policy.categories()[static_cast<size_t>(c)].id;
      request.clear_categories();
      request.add_categories(category);
      options.push_back({partner, category, purpose, Explain(policy, facts, asker, request, now_ms)});
    }
  }
  return options;
}

Result<AskExplanation> ExplainRequest(const policy::Policy& policy, const CaseFacts& facts,
                                      const std::string& asker_id, const RegistryEntry& asker,
                                      const v1::FragmentRequest& request, int64_t now_ms) {
  KP_RETURN_IF_ERROR(CheckAsker(policy, facts, asker_id, asker, request, now_ms));
  KP_RETURN_IF_ERROR(CheckFoldedWithPolicy(facts));
  KP_RETURN_IF_ERROR(CheckRequestSubjects(facts, request));
  return Explain(policy, facts, asker, request, now_ms);
}

}  // namespace kp::cases
