// HMAC-SHA-256 (RFC 2104) with the key in locked memory; libsodium's
// crypto_auth_hmacsha256. Thread-compatible (no shared state).
#ifndef KETENPOORT_CORE_CRYPTO_HMAC_H_
#define KETENPOORT_CORE_CRYPTO_HMAC_H_

#include <string_view>

#include "core/crypto/secret_bytes.h"
#include "core/crypto/sha256.h"

namespace kp {

// HMAC-SHA-256 of `message` under `key` (any length; 32 bytes is usual).
Sha256Digest HmacSha256(const SecretBytes& key, std::string_view message);

}  // namespace kp

#endif  // KETENPOORT_CORE_CRYPTO_HMAC_H_
