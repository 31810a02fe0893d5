// Cryptographically secure random bytes (libsodium randombytes_buf).
#ifndef KETENPOORT_CORE_CRYPTO_RANDOM_H_
#define KETENPOORT_CORE_CRYPTO_RANDOM_H_

#include <cstddef>
#include <string>

namespace kp {

std::string RandomBytes(size_t n);
// Fills `size` bytes at `out` (e.g. a SecretBytes' locked memory) with random bytes.
void FillRandom(void* out, size_t size);

// A fresh 128-bit message id (16 random bytes), as docs/protocol.md requires.
inline std::string NewMessageId() { return RandomBytes(16); }

}  // namespace kp

#endif  // KETENPOORT_CORE_CRYPTO_RANDOM_H_
