// Symmetric authenticated encryption for data at rest (the coordinator's
// local store): XChaCha20-Poly1305 (IETF) with a random 24-byte nonce, and a
// keyed BLAKE2b key derivation.
//
// Stateless functions; thread-safe.
#ifndef KETENPOORT_CORE_CRYPTO_AEAD_H_
#define KETENPOORT_CORE_CRYPTO_AEAD_H_

#include <string>
#include <string_view>

#include "core/base/status.h"
#include "core/crypto/secret_bytes.h"

namespace kp {

inline constexpr size_t kAeadKeyBytes = 32;
inline constexpr size_t kAeadOverheadBytes = 24 + 16;  // nonce + tag

// A 32-byte key for one purpose, derived from a secret of 16 to 64 bytes:
// BLAKE2b-256 keyed with `master`, over `context` (a fixed label).
SecretBytes DeriveKey(const SecretBytes& master, std::string_view context);

// nonce || ciphertext || tag. `associated` is authenticated, not stored.
std::string AeadSeal(const SecretBytes& key, std::string_view plaintext, std::string_view associated);

// The plaintext, into locked memory. DataLoss when it does not decrypt with
// this key and associated data (changed, or another key).
Result<SecretBytes> AeadOpen(const SecretBytes& key, std::string_view sealed, std::string_view associated);

}  // namespace kp

#endif  // KETENPOORT_CORE_CRYPTO_AEAD_H_
