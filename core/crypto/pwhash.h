// Keys from passphrases: Argon2id (libsodium crypto_pwhash, ALG_ARGON2ID13),
// for the passphrase-protected identity file (docs/formats.md §1.2).
//
// The cost limits travel with what they protect (they are stored in the
// file), so a file written with today's default stays readable when the
// default changes. A file may be hostile, so limits read from one are bounded
// (CheckPwhashLimits) before any memory is allocated for them.
//
// Stateless functions; thread-safe.
#ifndef KETENPOORT_CORE_CRYPTO_PWHASH_H_
#define KETENPOORT_CORE_CRYPTO_PWHASH_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "core/base/status.h"
#include "core/crypto/secret_bytes.h"

namespace kp {

inline constexpr size_t kPwhashSaltBytes = 16;  // crypto_pwhash_SALTBYTES

// Argon2id cost: passes over memory (libsodium's opslimit) and memory in
// bytes (memlimit; a whole number of KiB).
struct PwhashLimits {
  uint64_t opslimit = 0;
  uint64_t memlimit_bytes = 0;
};

// What `keygen --passphrase` writes: libsodium's MODERATE (3 passes, 256 MiB),
// about 0.7 s on the reference machine (docs/formats.md §1.2 says why).
PwhashLimits DefaultPwhashLimits();

// The cheapest limits Argon2id allows (1 pass, 8 KiB). For tests only: they
// give a passphrase almost no protection against guessing.
PwhashLimits MinimalPwhashLimits();

// The bounds a file's limits must keep: opslimit 1..10, memlimit 8 KiB..1 GiB
// and a multiple of 1 KiB. A hostile file must not make us allocate GiBs or
// spin for minutes. InvalidArgument otherwise.
inline constexpr uint64_t kPwhashMaxOpslimit = 10;
inline constexpr uint64_t kPwhashMinMemlimitBytes = 8 * 1024;
inline constexpr uint64_t kPwhashMaxMemlimitBytes = uint64_t{1} << 30;
Status CheckPwhashLimits(const PwhashLimits& limits);

// A 32-byte key, in locked memory, from `passphrase` and a kPwhashSaltBytes
// salt: Argon2id v1.3, parallelism 1, no secret, no associated data.
// ResourceExhausted when the memory cannot be had.
Result<SecretBytes> DeriveKeyFromPassphrase(const SecretBytes& passphrase, std::string_view salt,
                                            const PwhashLimits& limits);

}  // namespace kp

#endif  // KETENPOORT_CORE_CRYPTO_PWHASH_H_
