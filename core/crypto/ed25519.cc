#include "core/crypto/ed25519.h"

#include <sodium.h>

#include "core/base/operation_counts.h"

namespace kp {

static_assert(kEd25519PublicKeyBytes == crypto_sign_PUBLICKEYBYTES);
static_assert(kEd25519SecretKeyBytes == crypto_sign_SECRETKEYBYTES);
static_assert(kEd25519SignatureBytes == crypto_sign_BYTES);
static_assert(kEd25519SeedBytes == crypto_sign_SEEDBYTES);

Ed25519KeyPair GenerateEd25519KeyPair() {
  InitCrypto();
  Ed25519KeyPair kp{std::string(kEd25519PublicKeyBytes, '\0'), SecretBytes(kEd25519SecretKeyBytes)};
  crypto_sign_keypair(reinterpret_cast<unsigned char*>(kp.public_key.data()), kp.secret_key.mutable_data());
  return kp;
}

Result<Ed25519KeyPair> Ed25519KeyPairFromSeed(const SecretBytes& seed) {
  InitCrypto();
  if (seed.size() != kEd25519SeedBytes) return InvalidArgumentError("Ed25519 seed must be 32 bytes");
  Ed25519KeyPair kp{std::string(kEd25519PublicKeyBytes, '\0'), SecretBytes(kEd25519SecretKeyBytes)};
  crypto_sign_seed_keypair(reinterpret_cast<unsigned char*>(kp.public_key.data()),
                           kp.secret_key.mutable_data(), seed.data());
  return kp;
}

Result<std::string> Ed25519PublicKeyOf(const SecretBytes& secret_key) {
  InitCrypto();
  if (secret_key.size() != kEd25519SecretKeyBytes) {
    return InvalidArgumentError("Ed25519 secret key must be 64 bytes");
  }
  // Recompute the public key from the seed and compare with the stored half,
  // so an edited secret key is caught before it signs anything.
  SecretBytes seed(kEd25519SeedBytes);
  crypto_sign_ed25519_sk_to_seed(seed.mutable_data(), secret_key.data());
  KP_ASSIGN_OR_RETURN(Ed25519KeyPair derived, Ed25519KeyPairFromSeed(seed));
  std::string stored(reinterpret_cast<const char*>(secret_key.data()) + kEd25519SeedBytes,
                     kEd25519PublicKeyBytes);
  if (!ConstantTimeEquals(stored, derived.public_key)) {
    return InvalidArgumentError("Ed25519 secret key is damaged: its public half does not match its seed");
  }
  return derived.public_key;
}

std::string Ed25519Sign(const SecretBytes& secret_key, std::string_view message) {
  InitCrypto();
  KP_CHECK(secret_key.size() == kEd25519SecretKeyBytes);
  std::string sig(kEd25519SignatureBytes, '\0');
  CountPublicKeyOperation(PublicKeyOperation::kSign);
  crypto_sign_detached(reinterpret_cast<unsigned char*>(sig.data()), nullptr,
                       reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                       secret_key.data());
  return sig;
}

Status Ed25519Verify(std::string_view public_key, std::string_view message, std::string_view signature) {
  InitCrypto();
  if (public_key.size() != kEd25519PublicKeyBytes) {
    return InvalidArgumentError("Ed25519 public key must be 32 bytes");
  }
  if (signature.size() != kEd25519SignatureBytes) {
    return UnauthenticatedError("signature has " + std::to_string(signature.size()) +
                                " bytes, an Ed25519 signature has 64");
  }
  CountPublicKeyOperation(PublicKeyOperation::kVerify);
  if (crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(signature.data()),
                                  reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                                  reinterpret_cast<const unsigned char*>(public_key.data())) != 0) {
    return UnauthenticatedError("signature does not verify");
  }
  return OkStatus();
}

}  // namespace kp
