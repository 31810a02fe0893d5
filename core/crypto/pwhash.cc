#include "core/crypto/pwhash.h"

#include <sodium.h>

#include "core/crypto/aead.h"

namespace kp {

static_assert(kPwhashSaltBytes == crypto_pwhash_argon2id_SALTBYTES);
static_assert(kPwhashMinMemlimitBytes == crypto_pwhash_argon2id_MEMLIMIT_MIN);

PwhashLimits DefaultPwhashLimits() {
  return {crypto_pwhash_argon2id_OPSLIMIT_MODERATE, crypto_pwhash_argon2id_MEMLIMIT_MODERATE};
}

PwhashLimits MinimalPwhashLimits() {
  return {crypto_pwhash_argon2id_OPSLIMIT_MIN, crypto_pwhash_argon2id_MEMLIMIT_MIN};
}

Status CheckPwhashLimits(const PwhashLimits& limits) {
  if (limits.opslimit < crypto_pwhash_argon2id_OPSLIMIT_MIN || limits.opslimit > kPwhashMaxOpslimit) {
    return InvalidArgumentError("Argon2id opslimit " + std::to_string(limits.opslimit) + " is outside 1.." +
                                std::to_string(kPwhashMaxOpslimit));
  }
  if (limits.memlimit_bytes < kPwhashMinMemlimitBytes || limits.memlimit_bytes > kPwhashMaxMemlimitBytes ||
      limits.memlimit_bytes % 1024 != 0) {
    return InvalidArgumentError("Argon2id memlimit " + std::to_string(limits.memlimit_bytes) +
                                " is not a whole number of KiB between 8 KiB and 1 GiB");
  }
  return OkStatus();
}

Result<SecretBytes> DeriveKeyFromPassphrase(const SecretBytes& passphrase, std::string_view salt,
                                            const PwhashLimits& limits) {
  InitCrypto();
  KP_RETURN_IF_ERROR(CheckPwhashLimits(limits));
  if (salt.size() != kPwhashSaltBytes) return InvalidArgumentError("Argon2id salt must be 16 bytes");
  SecretBytes key(kAeadKeyBytes);
  if (crypto_pwhash(key.mutable_data(), key.size(), reinterpret_cast<const char*>(passphrase.data()),
                    passphrase.size(), reinterpret_cast<const unsigned char*>(salt.data()), limits.opslimit,
                    static_cast<size_t>(limits.memlimit_bytes), crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return ResourceExhaustedError("not enough memory for Argon2id (" +
                                  std::to_string(limits.memlimit_bytes >> 20) + " MiB)");
  }
  return key;
}

}  // namespace kp
