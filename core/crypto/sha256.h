// SHA-256 (FIPS 180-4).
//
// Implemented with OpenSSL's libcrypto, which uses the CPU's SHA extensions
// (SHA-NI) where present. The one-shot SHA256()/EVP_Digest calls look the
// algorithm up and take a lock and a reference count per call, and even a
// reused EVP context allocates and clears per hash, which costs more than
// hashing a 65-byte Merkle node; so the one-shot Sha256() calls use the
// low-level SHA256_Init/Update/Final on a stack context (deprecated in
// OpenSSL 3 but present in every 3.x; sha256.cc alone suppresses the warning),
// and Sha256Hasher keeps an EVP context. Measured in one process on the
// 2-core VM (2026-12-01, CPU time per hash, 65 / 400 / 65,536 bytes): one-shot
// SHA256() 723 / 1320 / 67,718 ns; reused EVP context 248 / 537 / 64,732 ns;
// SHA256_Init.. 158 / 497 / 70,365 ns; libsodium 682 / 2031 / 313,175 ns.
// audit_bench BM_Sha256 (65 / 300 bytes) went 318 / 520 -> 177 / 378 ns with
// the switch. Known-answer tests in tests/core/crypto_test.cc pin the output.
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
