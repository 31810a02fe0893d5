// The coordinator's commitment to a subject's identifiers (protocol §3.5).
//
// When a case opens, or a subject is added, the coordinator commits to each
// subject in the signed case command: its reference, its role, and
//   SHA-256( "ketenpoort/v1/subject-commitment" || 0x00 || salt (32 bytes)
//            || u32be(len(ref)) || ref || u32be(role)
//            || u32be(len(bsn)) || bsn || u32be(len(name)) || name
//            || u32be(len(date_of_birth)) || date_of_birth )
// The salt (random, per subject and case) travels only sealed, inside the
// SubjectData of a request, so the gateway cannot test guesses of a BSN
// against the commitment; the agent recomputes it from what is sealed to it
// and refuses identifiers that do not open a commitment of the case.
// Pure functions; thread-safe.
#ifndef KETENPOORT_CASE_COMMITMENT_H_
#define KETENPOORT_CASE_COMMITMENT_H_

#include <string>

#include "core/base/status.h"
#include "ketenpoort/v1/messages.pb.h"

namespace kp::cases {

inline constexpr size_t kSaltBytes = 32;
inline constexpr size_t kCommitmentBytes = 32;

// A fresh random salt.
std::string NewSubjectSalt();

// The commitment to `subject` (ref, role, identifiers and its salt).
// InvalidArgument when the salt is not 32 bytes or the role is unspecified.
Result<std::string> SubjectCommitment(const ketenpoort::v1::Subject& subject);

// Checks a subject reference as it appears in a case command or request:
// 1-16 letters, digits or '-', and a known role other than UNSPECIFIED.
Status CheckSubjectRef(const std::string& ref, ketenpoort::v1::SubjectRole role);

}  // namespace kp::cases

#endif  // KETENPOORT_CASE_COMMITMENT_H_
