// A referral from Veilig Thuis to the coordinators of the Veiligheidsteam
// (docs/protocol.md §3.7): reading and checking the signed REFERRAL envelope.
//
// The one check of a referral, used where one arrives (the gateway), where a
// case is opened on one (the fold, case_facts.h: an OpenCase carries the
// referral byte for byte, so an agent checks it too) and where a coordinator
// lists one (the client). Rules:
//   - the envelope verifies, kind REFERRAL, signed by an enrolled
//     coordinator-kind participant (no freshness check: a referral waits);
//   - with a policy: the signer's role may refer to `to_partner`, the
//     purpose is the policy's, every reason code is one of the policy's
//     referral reasons;
//   - a reference of 1-64 letters, digits and - / . _; 1-8 reason codes
//     without repeats; 1-32 subjects, each with a valid ref, role and a
//     32-byte commitment, no ref twice; 1-16 sealed copies, each for a
//     different participant and not empty.
// Pure functions; thread-safe.
#ifndef KETENPOORT_CASE_REFERRAL_H_
#define KETENPOORT_CASE_REFERRAL_H_

#include <string>
#include <string_view>

#include "case/case_facts.h"
#include "core/base/status.h"
#include "ketenpoort/v1/messages.pb.h"

namespace kp::cases {

inline constexpr int kMaxReferralReasons = 8;
inline constexpr int kMaxReferralCopies = 16;

struct VerifiedReferral {
  std::string id;              // the envelope's message_id (16 bytes): the referral id
  std::string hash;            // SHA-256 of the envelope
  std::string sender;          // participant id of the referrer
  std::string sender_partner;  // its partner, from the signed registry
  int64_t sent_ms = 0;
  ketenpoort::v1::Referral referral;
};

// Verifies and checks a REFERRAL envelope against the registry and, when
// `ctx.policy` is set, the policy. Unauthenticated when the signature does not
// verify; PermissionDenied when the signer may not refer; InvalidArgument
// for a malformed referral. Messages name ids only.
Result<VerifiedReferral> VerifyReferral(std::string_view envelope, const FoldContext& ctx);

}  // namespace kp::cases

#endif  // KETENPOORT_CASE_REFERRAL_H_
