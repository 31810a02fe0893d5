// Ed25519 signatures (RFC 8032), through libsodium.
//
// Secret keys are libsodium's 64-byte form (seed || public key) and live in
// SecretBytes. Verification failures return Unauthenticated; keys or
// signatures of the wrong length return InvalidArgument. Thread-safe.
#ifndef KETENPOORT_CORE_CRYPTO_ED25519_H_
#define KETENPOORT_CORE_CRYPTO_ED25519_H_

#include <string>
#include <string_view>

#include "core/base/status.h"
#include "core/crypto/secret_bytes.h"

namespace kp {

inline constexpr size_t kEd25519PublicKeyBytes = 32;
inline constexpr size_t kEd25519SeedBytes = 32;
inline constexpr size_t kEd25519SecretKeyBytes = 64;
inline constexpr size_t kEd25519SignatureBytes = 64;

struct Ed25519KeyPair {
  std::string public_key;  // 32 bytes
  SecretBytes secret_key;  // 64 bytes
};

Ed25519KeyPair GenerateEd25519KeyPair();
// Deterministic key pair from a 32-byte seed (RFC 8032 test vectors).
Result<Ed25519KeyPair> Ed25519KeyPairFromSeed(const SecretBytes& seed);
// The public key embedded in a 64-byte secret key; InvalidArgument when the
// secret key is malformed (its public half does not match its seed).
Result<std::string> Ed25519PublicKeyOf(const SecretBytes& secret_key);

// Precondition: secret_key.size() == kEd25519SecretKeyBytes.
std::string Ed25519Sign(const SecretBytes& secret_key, std::string_view message);
Status Ed25519Verify(std::string_view public_key, std::string_view message, std::string_view signature);

}  // namespace kp

#endif  // KETENPOORT_CORE_CRYPTO_ED25519_H_
