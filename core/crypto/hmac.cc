#include "core/crypto/hmac.h"

#include <sodium.h>

namespace kp {

Sha256Digest HmacSha256(const SecretBytes& key, std::string_view message) {
  static_assert(crypto_auth_hmacsha256_BYTES == kSha256Bytes);
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, key.data(), key.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(message.data()), message.size());
  Sha256Digest out{};
  crypto_auth_hmacsha256_final(&st, out.data());
  sodium_memzero(&st, sizeof(st));
  return out;
}

}  // namespace kp
