// What a coordinator may ask in a case now, and why: the policy's answer,
// for the coordinator's screen ("Informatie opvragen" in the console),
// before anything is sent.
//
// One truth: every answer here is the gateway's own decision path —
// CheckAsker, CheckRequestSubjects, then AskPolicy and Policy::Decide —
// never a copy of it. What a refusal "would need" is found by asking Decide
// again with the missing condition set (a justification given, consent
// recorded, a gatekeeper approval recorded): the same engine says whether
// that alone would permit it, and under which rule.
//
// The case's facts must come from a fold *with* the policy (FoldContext with
// a policy), so that they carry the case's phase; the coordinator's client
// folds without one and leaves the phase empty (FailedPrecondition here).
//
// Pure functions; thread-safe. The `decision` in an AskExplanation points
// into the Policy (policy_engine.h, "Lifetimes"): keep the Policy alive while
// it is used. Every other field is copied out.
#ifndef KETENPOORT_CASE_REQUEST_OPTIONS_H_
#define KETENPOORT_CASE_REQUEST_OPTIONS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "case/case_facts.h"
#include "core/base/status.h"
#include "core/identity/registry.h"
#include "ketenpoort/v1/messages.pb.h"
#include "policy/policy_engine.h"

namespace kp::cases {

// Whether a request could be sent now, and if not, what the coordinator
// could bring to make the policy permit it.
enum class AskState : uint8_t {
  // Permitted now.
  kAllowed,
  // Permitted once a written justification is given.
  kNeedsJustification,
  // Permitted once the conflict-of-duties weighing is given: its five
  // answers and who weighed it (and whatever else `missing` names).
  kNeedsWeighing,
  // Permitted once consent is recorded for every subject and the purpose
  // (and whatever else `missing` names).
  kNeedsConsent,
  // Permitted once a gatekeeper's approval is recorded (and whatever else
  // `missing` names).
  kNeedsGatekeeper,
  // Nothing the coordinator can give or record makes it permitted now.
  kRefused,
};
// "allowed", "needs-justification", "needs-weighing", "needs-consent", "needs-gatekeeper", "refused".
std::string_view AskStateName(AskState state);

// A rule of the policy with its author's explanation (Dutch in the example).
struct AskRule {
  std::string id, explanation;
};
// A legal basis of the policy with its citation.
struct AskLegalBasis {
  std::string id, citation;
};
// The fields of one category that would come back.
struct AskFields {
  std::string category;
  std::vector<std::string> fields;
};

// The policy's explanation of one request, as the gateway will decide it.
struct AskExplanation {
  AskState state = AskState::kRefused;
  // Decide's answer to the request as it stands now (views into the Policy).
  policy::Decision decision;
  // The conditions ("consent", "gatekeeper", "justification", "weighing":
  // policy::ConditionName) that, added together, make it permitted; empty
  // unless state is kNeeds*. The fewest that do, preferring what the
  // coordinator can give most easily (a justification, then consent, then a
  // gatekeeper's approval).
  std::vector<std::string> missing;
  // kAllowed: the permit now. kNeeds*: the permit once `missing` holds.
  // kRefused: the forbid rules, or the permit rules that failed (no legal
  // basis, no fields).
  std::vector<AskRule> rules;
  std::vector<AskLegalBasis> legal_bases;
  std::vector<AskFields> fields;  // per category, sorted by category id
  int retention_days = 0;
  bool no_onward_sharing = false;
  bool notify_privacy_officer = false;
  // The policy's reason for today's decision (policy ids, no personal data).
  std::string reason;
};

// One thing the coordinator could ask: a partner's category, for a purpose.
struct AskOption {
  std::string partner;  // source partner id, admitted to the case
  std::string category;
  std::string purpose;
  AskExplanation explanation;
};

// Every (admitted partner, category it holds) the coordinator `asker_id`
// (`asker` its registry entry) could ask for `purpose` about `subject_refs`
// (empty: every subject of the case, as the client's request does) at
// `now_ms`, each explained as the gateway would decide a request for that one
// category (`with_justification`: the request carries a written
// justification). A partner holds the categories the policy names it the
// `owner` of, and a category without an owner when some permit rule lets the
// partner send it to the asker's partner and role. Ordered by partner id,
// then by the policy's category order.
// Errors: CheckAsker's (closed case, not the coordinator, role, acute window,
// coordination period); CheckRequestSubjects' (unknown subject);
// InvalidArgument for a purpose the policy does not know; FailedPrecondition
// for facts folded without the policy.
Result<std::vector<AskOption>> WhatMayBeAsked(const policy::Policy& policy, const CaseFacts& facts,
                                              const std::string& asker_id, const RegistryEntry& asker,
                                              const std::string& purpose,
                                              const std::vector<std::string>& subject_refs,
                                              bool with_justification, int64_t now_ms);
// The same, with the justification the requests would carry (kWeighing: a
// complete weighing is given; the agent assesses it again).
Result<std::vector<AskOption>> WhatMayBeAsked(const policy::Policy& policy, const CaseFacts& facts,
                                              const std::string& asker_id, const RegistryEntry& asker,
                                              const std::string& purpose,
                                              const std::vector<std::string>& subject_refs,
                                              policy::Justification justification, int64_t now_ms);

// One concrete request explained exactly as the gateway will decide it:
// CheckAsker, CheckRequestSubjects, then AskPolicy (justification as
// `request.justification_present()`) and Decide. The errors of those checks
// as a Status; the policy's answer (also a refusal) as the explanation.
Result<AskExplanation> ExplainRequest(const policy::Policy& policy, const CaseFacts& facts,
                                      const std::string& asker_id, const RegistryEntry& asker,
                                      const ketenpoort::v1::FragmentRequest& request, int64_t now_ms);

}  // namespace kp::cases

#endif  // KETENPOORT_CASE_REQUEST_OPTIONS_H_
