#include "case/referral.h"

#include <set>

#include "case/commitment.h"
#include "core/crypto/sha256.h"
#include "core/envelope/envelope.h"
#include "core/identity/participant.h"

namespace kp::cases {

namespace v1 = ketenpoort::v1;

namespace {

// The signing keys of the participants the fold context knows.
class ContextKeys final : public KeyResolver {
 public:
  explicit ContextKeys(const FoldContext& ctx) : ctx_(ctx) {}
  Result<std::string> SigningKeyOf(std::string_view participant_id) const override {
    const RegistryEntry* e = ctx_.participant ? ctx_.participant(std::string(participant_id)) : nullptr;
    if (e == nullptr) return NotFoundError("participant " + std::string(participant_id) + " is not enrolled");
    return e->card.signing_key;
  }

 private:
  const FoldContext& ctx_;
};

bool ReferenceOk(const std::string& r) {
  if (r.empty() || r.size() > 64) return false;
  for (unsigned char c : r) {
    if (!std::isalnum(c) && c != '-' && c != '/' && c != '.' && c != '_') return false;
  }
  return true;
}

}  // namespace

Result<VerifiedReferral> VerifyReferral(std::string_view envelope, const FoldContext& ctx) {
  ContextKeys keys(ctx);
  VerifyOptions want;
  want.expected_kind = v1::MESSAGE_KIND_REFERRAL;
  auto env = EnvelopeVerifier(keys, nullptr).Verify(envelope, want);
  if (!env.ok()) {
    return UnauthenticatedError("the referral does not verify (" + std::string(env.status().message()) + ")");
  }
  VerifiedReferral out;
  if (Status s = ParseBody(env->body, out.referral); !s.ok()) return s;
  out.id = env->header.message_id();
  out.hash = Sha256String(envelope);
  out.sender = env->header.sender();
  out.sent_ms = env->header.sent_at_ms();
  const RegistryEntry* sender = ctx.participant(out.sender);  // verified above, so enrolled
  if (sender == nullptr) return PermissionDeniedError("the referrer " + out.sender + " is not enrolled");
  out.sender_partner = sender->card.partner;
  const v1::Referral& r = out.referral;
  const policy::Policy* policy = ctx.policy;
  if (sender->card.kind != ParticipantKind::kCoordinator) {
    return PermissionDeniedError("participant " + out.sender + " is not a person who uses ketenpoort, so it may not refer");
  }
  if (policy != nullptr) {
    if (policy->PartnerIndex(r.to_partner()) < 0) {
      return InvalidArgumentError("the referral goes to '" + r.to_partner() + "', which is not a partner in the policy");
    }
    if (!policy->MayRefer(sender->role, sender->card.partner, r.to_partner())) {
      return PermissionDeniedError("participant " + out.sender + " (role '" + sender->role +
                                   "') may not refer families to " + r.to_partner() +
                                   ": the policy gives that role no refers_to " + r.to_partner());
    }
    if (policy->PurposeIndex(r.purpose()) < 0) {
      return InvalidArgumentError("purpose '" + r.purpose() + "' of the referral is not in the policy");
    }
  } else if (r.to_partner().empty() || r.purpose().empty()) {
    return InvalidArgumentError("a referral names the partner it goes to and a purpose");
  }
  if (!ReferenceOk(r.reference())) {
    return InvalidArgumentError("a referral's reference is 1-64 letters, digits and - / . _");
  }
  if (r.reason_codes().empty() || r.reason_codes_size() > kMaxReferralReasons) {
    return InvalidArgumentError("a referral gives 1 to " + std::to_string(kMaxReferralReasons) + " reason codes");
  }
  std::set<std::string> reasons;
  for (const auto& code : r.reason_codes()) {
    if (Status s = CheckReasonCode(code, "a referral's reason"); !s.ok()) return s;
    if (policy != nullptr && !policy::Policy::HasCode(policy->referrals().reasons, code)) {
      return InvalidArgumentError("reason '" + code + "' is not one of the policy's referral reasons");
    }
    if (!reasons.insert(code).second) return InvalidArgumentError("the referral gives reason '" + code + "' twice");
  }
  if (r.subjects().empty() || r.subjects_size() > kMaxSubjects) {
    return InvalidArgumentError("a referral names 1 to " + std::to_string(kMaxSubjects) + " subjects");
  }
  std::set<std::string> refs;
  for (const auto& s : r.subjects()) {
    if (Status st = CheckSubjectRef(s.ref(), s.role()); !st.ok()) return st;
    if (s.commitment().size() != kCommitmentBytes) {
      return InvalidArgumentError("subject " + s.ref() + " of the referral comes without its 32-byte commitment");
    }
    if (!refs.insert(s.ref()).second) return InvalidArgumentError("the referral names subject " + s.ref() + " twice");
  }
  if (r.sealed().empty() || r.sealed_size() > kMaxReferralCopies) {
    return InvalidArgumentError("a referral carries 1 to " + std::to_string(kMaxReferralCopies) +
                                " sealed copies of its subjects");
  }
  std::set<std::string> copies;
  for (const auto& c : r.sealed()) {
    if (c.participant().empty() || c.sealed().empty()) {
      return InvalidArgumentError("a sealed copy of the referral names no coordinator or holds nothing");
    }
    if (!copies.insert(c.participant()).second) {
      return InvalidArgumentError("the referral carries two copies for the same coordinator");
    }
  }
  return out;
}

}  // namespace kp::cases
