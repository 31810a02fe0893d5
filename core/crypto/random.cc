#include "core/crypto/random.h"

#include <sodium.h>

#include "core/crypto/secret_bytes.h"

namespace kp {

std::string RandomBytes(size_t n) {
  InitCrypto();
  std::string out(n, '\0');
  randombytes_buf(out.data(), n);
  return out;
}

void FillRandom(void* out, size_t size) { randombytes_buf(out, size); }

}  // namespace kp
