#include "core/crypto/x25519.h"

#include <sodium.h>

#include "core/base/operation_counts.h"

namespace kp {

static_assert(kX25519PublicKeyBytes == crypto_box_PUBLICKEYBYTES);
static_assert(kX25519SecretKeyBytes == crypto_box_SECRETKEYBYTES);
static_assert(kSealOverheadBytes == crypto_box_SEALBYTES);

X25519KeyPair GenerateX25519KeyPair() {
  InitCrypto();
  X25519KeyPair kp{std::string(kX25519PublicKeyBytes, '\0'), SecretBytes(kX25519SecretKeyBytes)};
  crypto_box_keypair(reinterpret_cast<unsigned char*>(kp.public_key.data()), kp.secret_key.mutable_data());
  return kp;
}

Result<std::string> X25519PublicKeyOf(const SecretBytes& secret_key) {
  InitCrypto();
  if (secret_key.size() != kX25519SecretKeyBytes)
    return InvalidArgumentError("X25519 secret key must be 32 bytes");
  std::string pk(kX25519PublicKeyBytes, '\0');
  if (crypto_scalarmult_base(reinterpret_cast<unsigned char*>(pk.data()), secret_key.data()) != 0) {
    return InvalidArgumentError("X25519 secret key is unusable");
  }
  return pk;
}

Result<std::string> SealTo(std::string_view recipient_public_key, std::string_view plaintext) {
  InitCrypto();
  if (recipient_public_key.size() != kX25519PublicKeyBytes) {
    return InvalidArgumentError("X25519 public key must be 32 bytes");
  }
  std::string out(plaintext.size() + kSealOverheadBytes, '\0');
  CountPublicKeyOperation(PublicKeyOperation::kSeal);
  if (crypto_box_seal(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(plaintext.data()), plaintext.size(),
                      reinterpret_cast<const unsigned char*>(recipient_public_key.data())) != 0) {
    return InvalidArgumentError("cannot seal to this public key (a low-order point?)");
  }
  return out;
}

Result<std::string> OpenSealed(const X25519KeyPair& recipient, std::string_view ciphertext) {
  InitCrypto();
  if (recipient.public_key.size() != kX25519PublicKeyBytes ||
      recipient.secret_key.size() != kX25519SecretKeyBytes) {
    return InvalidArgumentError("X25519 key pair has the wrong length");
  }
  if (ciphertext.size() < kSealOverheadBytes) {
    return InvalidArgumentError("sealed message is shorter than the 48-byte sealed-box overhead");
  }
  std::string out(ciphertext.size() - kSealOverheadBytes, '\0');
  CountPublicKeyOperation(PublicKeyOperation::kOpen);
  if (crypto_box_seal_open(reinterpret_cast<unsigned char*>(out.data()),
                           reinterpret_cast<const unsigned char*>(ciphertext.data()), ciphertext.size(),
                           reinterpret_cast<const unsigned char*>(recipient.public_key.data()),
                           recipient.secret_key.data()) != 0) {
    return UnauthenticatedError(
        "sealed message cannot be opened with this key: not sealed to it, or changed");
  }
  return out;
}

}  // namespace kp
