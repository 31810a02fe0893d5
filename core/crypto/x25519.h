// X25519 key pairs and sealed boxes (libsodium crypto_box_seal: an ephemeral
// X25519 key, XSalsa20-Poly1305; 48 bytes of overhead).
//
// A sealed box hides content from everyone but the holder of the recipient's
// secret key; it does not say who sealed it. Ketenpoort therefore always seals
// a *signed* inner message that names sender and recipient
// (core/envelope/sealed.h). The same key type serves CurveZMQ transport keys.
// Thread-safe.
#ifndef KETENPOORT_CORE_CRYPTO_X25519_H_
#define KETENPOORT_CORE_CRYPTO_X25519_H_

#include <string>
#include <string_view>

#include "core/base/status.h"
#include "core/crypto/secret_bytes.h"

namespace kp {

inline constexpr size_t kX25519PublicKeyBytes = 32;
inline constexpr size_t kX25519SecretKeyBytes = 32;
inline constexpr size_t kSealOverheadBytes = 48;

struct X25519KeyPair {
  std::string public_key;  // 32 bytes
  SecretBytes secret_key;  // 32 bytes
};

X25519KeyPair GenerateX25519KeyPair();
// The public key of a 32-byte secret key.
Result<std::string> X25519PublicKeyOf(const SecretBytes& secret_key);

// Seals `plaintext` to `recipient_public_key`. InvalidArgument on a key of
// the wrong length.
Result<std::string> SealTo(std::string_view recipient_public_key, std::string_view plaintext);
// Opens a sealed box. Unauthenticated when it was not sealed to this key pair
// or was changed in any way; InvalidArgument when shorter than the overhead.
Result<std::string> OpenSealed(const X25519KeyPair& recipient, std::string_view ciphertext);

}  // namespace kp

#endif  // KETENPOORT_CORE_CRYPTO_X25519_H_
