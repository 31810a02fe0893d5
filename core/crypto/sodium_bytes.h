// A string's bytes as libsodium's functions take them. Internal to
// core/crypto: the rest of the code passes std::string_view and SecretBytes.
#ifndef KETENPOORT_CORE_CRYPTO_SODIUM_BYTES_H_
#define KETENPOORT_CORE_CRYPTO_SODIUM_BYTES_H_

#include <string_view>

namespace kp::crypto_internal {

inline const unsigned char* U(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

}  // namespace kp::crypto_internal

#endif  // KETENPOORT_CORE_CRYPTO_SODIUM_BYTES_H_
