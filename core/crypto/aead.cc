#include "core/crypto/aead.h"

#include <sodium.h>

#include "core/crypto/sodium_bytes.h"

namespace kp {

static_assert(kAeadKeyBytes == crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
static_assert(kAeadOverheadBytes ==
              crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + crypto_aead_xchacha20poly1305_ietf_ABYTES);

using crypto_internal::U;

SecretBytes DeriveKey(const SecretBytes& master, std::string_view context) {
  InitCrypto();
  SecretBytes key(kAeadKeyBytes);
  crypto_generichash(key.mutable_data(), key.size(), U(context), context.size(), master.data(), master.size());
  return key;
}

std::string AeadSeal(const SecretBytes& key, std::string_view plaintext, std::string_view associated) {
  InitCrypto();
  std::string out(kAeadOverheadBytes + plaintext.size(), '\0');
  auto* nonce = reinterpret_cast<unsigned char*>(out.data());
  randombytes_buf(nonce, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
  unsigned long long n = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(nonce + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, &n,
                                             U(plaintext), plaintext.size(), U(associated), associated.size(),
                                             nullptr, nonce, key.data());
  return out;
}

Result<SecretBytes> AeadOpen(const SecretBytes& key, std::string_view sealed, std::string_view associated) {
  if (sealed.size() < kAeadOverheadBytes) return DataLossError("encrypted data is too short");
  SecretBytes plain(sealed.size() - kAeadOverheadBytes);
  const size_t nonce_bytes = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
  unsigned long long n = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain.mutable_data(), &n, nullptr, U(sealed) + nonce_bytes,
                                                 sealed.size() - nonce_bytes, U(associated), associated.size(),
                                                 U(sealed), key.data()) != 0) {
    return DataLossError("encrypted data does not decrypt: it was changed, or belongs to another key");
  }
  return plain;
}

}  // namespace kp
