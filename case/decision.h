// From a case's facts to a policy decision, and from the decision to the
// wire and the log: the part of deciding a request that the gateway and the
// agent must do identically (protocol §3.2 and §3.5).
// Pure functions; thread-safe.
#ifndef KETENPOORT_CASE_DECISION_H_
#define KETENPOORT_CASE_DECISION_H_

#include <string>
#include <string_view>
#include <vector>

#include "case/case_facts.h"
#include "case/subject_role.h"  // SubjectRoleId, used with these functions
#include "ketenpoort/v1/audit.pb.h"
#include "ketenpoort/v1/messages.pb.h"
#include "policy/policy_engine.h"

namespace kp::cases {

// Whether `asker` may ask in this case at all at `now_ms`, before the
// policy: the case is open, the asker is its coordinator at that moment and
// still in a coordinating role (for an acute case not yet handed over: a role
// marked `acute` will do), an acute case's window has not ended without a
// handover, the coordinating role's coordination_max_days have not passed,
// and the source partner is admitted. PermissionDenied or FailedPrecondition
// with a reason a coordinator understands.
Status CheckAsker(const policy::Policy& policy, const CaseFacts& facts, const std::string& asker_id,
                  const RegistryEntry& asker, const ketenpoort::v1::FragmentRequest& request, int64_t now_ms);

// The case as the policy reads it at `now_ms`, for the coordinator's client
// (CaseResult.status, CaseChain.status).
ketenpoort::v1::CaseStatus CaseStatusAt(const policy::Policy& policy, const FoldContext& ctx, const CaseFacts& facts,
                                        int64_t now_ms);

// The request's subject references: at least one, no repeats, each a subject
// the case committed to, with the same role.
Status CheckRequestSubjects(const CaseFacts& facts, const ketenpoort::v1::FragmentRequest& request);

// The agent's side: the subjects sealed to it are exactly the request's, and
// each one's identifiers and salt open the case's commitment for it.
Status CheckSealedSubjects(const CaseFacts& facts, const ketenpoort::v1::FragmentRequest& request,
                           const ketenpoort::v1::SubjectData& sealed);

// The policy's question for this request in this case at `now_ms`: its
// subjects with their roles and the consent valid now for the purpose (a
// consent the source partner recorded itself, facts.source_consents, is
// preferred and marked consent_by_source), the justification's worth, now and
// when the acute phase began. Borrows from every argument: keep them alive
// while the Request is used.
policy::Request AskPolicy(const CaseFacts& facts, const ketenpoort::v1::FragmentRequest& request,
                          const RegistryEntry& asker, policy::Justification justification, int64_t now_ms);

// The justification the request claims (its justification_kind, or
// justification_present for an older client): what the gateway can see.
policy::Justification ClaimedJustification(const ketenpoort::v1::FragmentRequest& request);
// The justification as sealed to the agent, assessed (AssessJustification).
policy::Justification SealedJustification(const ketenpoort::v1::SubjectData& sealed);

// Whether the answer to `original` (a request the gateway authorised in this
// case, with the decision it took then) may go over to `to` in a handover
// at `now_ms` (protocol §3.6, "What goes over"): the same question the
// policy would answer if `to` asked the same source for the same categories,
// purpose and subjects now (in the case's phase, with its consents and
// approvals, a justification when the original had one), and the fields the
// fragment may hold are no more than `to` would get. A deny says why, in
// policy ids. The agent's signed fragment cannot be narrowed, so a fragment
// with more fields than `to` may see stays behind whole.
policy::Decision DecideHandOver(const policy::Policy& policy, const CaseFacts& facts,
                                const ketenpoort::v1::FragmentRequest& original,
                                const ketenpoort::v1::Decision& original_decision, const RegistryEntry& to,
                                int64_t now_ms);

// "a,b": the decision's legal bases as the log and the wire carry them.
std::string JoinLegalBases(const policy::Decision& decision);

// The decision as the gateway sends it to the agent (Authorisation.decision).
void ToWire(const policy::Decision& decision, ketenpoort::v1::Decision* out);

// The decision in an audit record: verdict, rules, reason, policy hash,
// obligations (allowed fields as "category.field") and legal basis.
void ToAudit(const policy::Decision& decision, ketenpoort::v1::AuditRecord* record);
// The same, and what a permit rested on besides its rules (`justification`:
// WEIGHING when a permitting rule needed the `weighing` condition, TEXT when
// one needed `justification`) and the deciding policy's id and version
// (`policy_version`, "id version"): `policy` must be the one that decided.
void ToAudit(const policy::Policy& policy, const policy::Decision& decision, ketenpoort::v1::AuditRecord* record);
// A disclosure's record from the decision the gateway sent with it
// (Authorisation.decision): verdict, rules, reason, policy hash, obligations
// and legal basis; justification and policy version when `policy` is the one
// whose hash the decision names (a later policy's rules say nothing of it).
void WireToAudit(const policy::Policy& policy, const ketenpoort::v1::Decision& decision,
                 ketenpoort::v1::AuditRecord* record);

}  // namespace kp::cases

#endif  // KETENPOORT_CASE_DECISION_H_
