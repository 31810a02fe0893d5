// Consent per subject, where the case's facts, the wire and the policy's age
// rule meet (docs/protocol.md §3.5, "Consent per subject"):
//   - a consent's givers (ketenpoort.v1.ConsentGiver) as policy bits;
//   - the subject's age in whole years at a moment, from its date of birth:
//     the coordinator's client states it with a consent, and the source
//     agent, which sees the date of birth sealed to it, checks it.
// (What a justification is worth, claimed and sealed: decision.h.)
// Pure functions; thread-safe.
#ifndef KETENPOORT_CASE_CONSENT_H_
#define KETENPOORT_CASE_CONSENT_H_

#include <cstdint>
#include <string_view>

#include "case/case_facts.h"
#include "core/base/status.h"
#include "ketenpoort/v1/messages.pb.h"
#include "policy/policy_engine.h"

namespace kp::cases {

// How long before the command's signing time the client may have computed
// the stated age (it computes it just before it signs): a consent signed in
// the first minutes of a birthday may state either age.
inline constexpr int64_t kAgeComputedBeforeSigningMs = 5 * 60 * 1000;

// The givers of `given_by` as policy::ConsentGiverBit; none: the subject's
// (a consent recorded before the age rule). InvalidArgument for a giver
// that is not SUBJECT or PARENTS.
Result<uint8_t> ConsentGivers(const google::protobuf::RepeatedField<int>& given_by);

// The givers a `--given-by` flag names ("subject", "parents" or
// "subject,parents"; also the Dutch "betrokkene", "ouders") as
// policy::ConsentGiverBit, for the coordinator's and the agent's `consent`
// commands alike. InvalidArgument for anything else.
Result<uint8_t> ParseGivenBy(std::string_view text);

// The age in whole years on the UTC day of `at_ms` of someone born on
// `date_of_birth` ("YYYY-MM-DD", a date that exists, not after that day).
// A birthday on 29 February counts from 1 March in other years.
// InvalidArgument otherwise.
Result<int> AgeOn(std::string_view date_of_birth, int64_t at_ms);

// The source agent's check of the ages stated with the consents that count
// for this request (its subjects, its purpose, valid at `now_ms`, recorded in
// the case's chain; not one the source partner recorded itself) against the
// dates of birth sealed to it: a stated age must be the subject's age when
// the consent was signed (or up to kAgeComputedBeforeSigningMs before); a
// consent that states no age while the sealed date of birth shows a minor
// then, or that states one for a subject without a readable date of birth,
// is refused too (PermissionDenied; the reason names the subject's
// reference, never the age or the date).
Status CheckStatedAges(const CaseFacts& facts, const ketenpoort::v1::FragmentRequest& request,
                       const ketenpoort::v1::SubjectData& sealed, int64_t now_ms);

}  // namespace kp::cases

#endif  // KETENPOORT_CASE_CONSENT_H_
