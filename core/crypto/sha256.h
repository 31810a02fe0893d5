// SHA-256 (FIPS 180-4).
//
// Implemented with OpenSSL's libcrypto, which uses the CPU's SHA extensions
// (SHA-NI) where present. The one-shot SHA256()/EVP_Digest calls look the
// algorithm up and take a lock and a reference count per call, which cost
// more than hashing a 65-byte Merkle node; so each thread keeps one EVP_MD_CTX
// and the SHA-256 EVP_MD is fetched once per process (EVP_MD_fetch), and each
// hash is EVP_DigestInit_ex2 + Update + Final on them. The low-level
// SHA256_Init/Update/Final calls are deprecated in OpenSSL 3 (and fail the
// -Werror build). Measured in one process on the 2-core VM (2026-12-01,
// CPU time per hash, 65 / 400 / 65,536 bytes): one-shot SHA256() 723 / 1320 /
// 67,718 ns; reused context 248 / 537 / 64,732 ns; SHA256_Init.. 158 / 497 /
// 70,365 ns; libsodium 682 / 2031 / 313,175 ns. Known-answer tests in
// tests/core/crypto_test.cc pin the output.
#ifndef KETENPOORT_CORE_CRYPTO_SHA256_H_
#define KETENPOORT_CORE_CRYPTO_SHA256_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace kp {

inline constexpr size_t kSha256Bytes = 32;
using Sha256Digest = std::array<uint8_t, kSha256Bytes>;

Sha256Digest Sha256(std::string_view data);
// SHA-256(a || b) without joining the two first.
Sha256Digest Sha256(std::string_view a, std::string_view b);
// The digest as a 32-byte std::string.
std::string Sha256String(std::string_view data);

// Incremental hashing. Not thread-safe.
class Sha256Hasher {
 public:
  Sha256Hasher();
  ~Sha256Hasher();
  Sha256Hasher(const Sha256Hasher&) = delete;
  Sha256Hasher& operator=(const Sha256Hasher&) = delete;

  void Update(std::string_view data);
  // Finishes and resets for reuse.
  Sha256Digest Finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kp

#endif  // KETENPOORT_CORE_CRYPTO_SHA256_H_
