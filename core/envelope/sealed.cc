#include "core/envelope/sealed.h"

namespace kp {

Result<std::string> SignAndSeal(const EnvelopeSigner& signer, MessageKind kind, std::string_view recipient_id,
                                std::string_view recipient_sealing_key, std::string_view request_id,
                                std::string_view body) {
  if (recipient_id.empty()) return InvalidArgumentError("a sealed message must name its recipient");
  if (request_id.size() != wire::kMessageIdBytes) {
    return InvalidArgumentError("a sealed message must name its request (16-byte id)");
  }
  KP_ASSIGN_OR_RETURN(SignedMessage inner, signer.Sign(kind, recipient_id, request_id, body));
  return SealTo(recipient_sealing_key, inner.bytes);
}

Result<std::string> OpenSealedWithRing(const std::vector<const X25519KeyPair*>& ring, std::string_view sealed) {
  Result<std::string> opened = UnauthenticatedError("no key to open the sealed message with");
  for (const X25519KeyPair* mine : ring) {
    opened = OpenSealed(*mine, sealed);
    if (opened.ok()) break;
  }
  return opened;
}

Result<VerifiedEnvelope> OpenAndVerify(const X25519KeyPair& mine, const KeyResolver& keys,
                                       std::string_view sealed, const SealedExpectations& want) {
  return OpenAndVerify(std::vector<const X25519KeyPair*>{&mine}, keys, sealed, want);
}

Result<VerifiedEnvelope> OpenAndVerify(const std::vector<const X25519KeyPair*>& ring, const KeyResolver& keys,
                                       std::string_view sealed, const SealedExpectations& want) {
  if (sealed.size() > wire::kMaxEnvelopeBytes + kSealOverheadBytes) {
    return InvalidArgumentError("sealed message is too large");
  }
  KP_ASSIGN_OR_RETURN(std::string inner, OpenSealedWithRing(ring, sealed));
  EnvelopeVerifier verifier(keys, /*replay=*/nullptr);
  VerifyOptions options;
  options.expected_kind = want.kind;
  options.expected_recipient = want.my_id;
  if (!want.expected_sender.empty()) options.expected_sender = want.expected_sender;
  KP_ASSIGN_OR_RETURN(VerifiedEnvelope env, verifier.Verify(inner, options));
  if (env.header.request_id() != want.request_id) {
    return UnauthenticatedError("sealed message belongs to another request");
  }
  return env;
}

}  // namespace kp
