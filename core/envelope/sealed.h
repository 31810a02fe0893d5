// Sealed inner messages (docs/protocol.md §3.3): sign, then seal.
//
// Content (fragments) and subject identifiers travel as a signed envelope,
// sealed to the recipient's X25519 key. The signed header names sender,
// recipient and the request it belongs to, so a recipient who opens it
// cannot re-seal it to someone else, or attach it to another request,
// unnoticed: the next recipient sees a header that does not name it.
//
// Stateless functions; thread-safe.
#ifndef KETENPOORT_CORE_ENVELOPE_SEALED_H_
#define KETENPOORT_CORE_ENVELOPE_SEALED_H_

#include <string>
#include <string_view>
#include <vector>

#include "core/crypto/x25519.h"
#include "core/envelope/envelope.h"

namespace kp {

// Signs `body` as `kind` from `signer` to `recipient_id` for `request_id`,
// then seals it to `recipient_sealing_key`. The result is the sealed box.
Result<std::string> SignAndSeal(const EnvelopeSigner& signer, MessageKind kind, std::string_view recipient_id,
                                std::string_view recipient_sealing_key, std::string_view request_id,
                                std::string_view body);

struct SealedExpectations {
  MessageKind kind;
  std::string my_id;             // the header must name me as recipient
  std::string request_id;        // ... and this request (16 bytes)
  std::string expected_sender;   // ... and this signer (empty: any enrolled one)
};

// Opens a sealed box with `mine`, verifies the inner envelope with `keys`,
// and checks it against `want`. Unauthenticated when it cannot be opened, the
// signature fails, or it names another recipient, request or sender.
// No replay check: binding to the request is what makes it fresh.
Result<VerifiedEnvelope> OpenAndVerify(const X25519KeyPair& mine, const KeyResolver& keys,
                                       std::string_view sealed, const SealedExpectations& want);

// The same with every sealing key pair of a participant whose keys rotate
// (docs/formats.md §2.4; Identity::SealingRing()): the box is opened with the
// first pair that opens it. The pointers are borrowed for the call.
Result<VerifiedEnvelope> OpenAndVerify(const std::vector<const X25519KeyPair*>& ring, const KeyResolver& keys,
                                       std::string_view sealed, const SealedExpectations& want);
// OpenSealed with each pair of `ring` in turn.
Result<std::string> OpenSealedWithRing(const std::vector<const X25519KeyPair*>& ring, std::string_view sealed);

}  // namespace kp

#endif  // KETENPOORT_CORE_ENVELOPE_SEALED_H_
