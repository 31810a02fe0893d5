#include "core/crypto/secret_stream.h"

#include <sodium.h>

#include "core/crypto/sodium_bytes.h"

namespace kp {

static_assert(kSecretStreamKeyBytes == crypto_secretstream_xchacha20poly1305_KEYBYTES);
static_assert(kSecretStreamHeaderBytes == crypto_secretstream_xchacha20poly1305_HEADERBYTES);
static_assert(kSecretStreamOverheadBytes == crypto_secretstream_xchacha20poly1305_ABYTES);

using crypto_internal::U;

namespace {
using State = crypto_secretstream_xchacha20poly1305_state;
State* St(SecretBytes& b) { return reinterpret_cast<State*>(b.mutable_data()); }
}  // namespace

SecretBytes NewSecretStreamKey() {
  InitCrypto();
  SecretBytes key(kSecretStreamKeyBytes);
  crypto_secretstream_xchacha20poly1305_keygen(key.mutable_data());
  return key;
}

Result<std::unique_ptr<SecretStreamWriter>> SecretStreamWriter::Create(const SecretBytes& key,
                                                                       std::string* header) {
  InitCrypto();
  if (key.size() != kSecretStreamKeyBytes) return InvalidArgumentError("a stream key must be 32 bytes");
  std::unique_ptr<SecretStreamWriter> w(new SecretStreamWriter());
  w->state_ = SecretBytes(sizeof(State));
  header->assign(kSecretStreamHeaderBytes, '\0');
  if (crypto_secretstream_xchacha20poly1305_init_push(
          St(w->state_), reinterpret_cast<unsigned char*>(header->data()), key.data()) != 0) {
    return InternalError("cannot start an encrypted stream");
  }
  return w;
}

std::string SecretStreamWriter::Push(std::string_view plain, std::string_view associated, bool final) {
  std::string out(plain.size() + kSecretStreamOverheadBytes, '\0');
  unsigned long long n = 0;
  crypto_secretstream_xchacha20poly1305_push(St(state_), reinterpret_cast<unsigned char*>(out.data()), &n,
                                             U(plain), plain.size(), U(associated), associated.size(),
                                             final ? crypto_secretstream_xchacha20poly1305_TAG_FINAL
                                                   : crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
  out.resize(static_cast<size_t>(n));
  return out;
}

Result<std::unique_ptr<SecretStreamReader>> SecretStreamReader::Create(const SecretBytes& key,
                                                                       std::string_view header) {
  InitCrypto();
  if (key.size() != kSecretStreamKeyBytes) return InvalidArgumentError("a stream key must be 32 bytes");
  if (header.size() != kSecretStreamHeaderBytes)
    return InvalidArgumentError("a stream header must be 24 bytes");
  std::unique_ptr<SecretStreamReader> r(new SecretStreamReader());
  r->state_ = SecretBytes(sizeof(State));
  if (crypto_secretstream_xchacha20poly1305_init_pull(St(r->state_), U(header), key.data()) != 0) {
    return DataLossError("the encrypted stream's header is invalid");
  }
  return r;
}

Result<std::string> SecretStreamReader::Pull(std::string_view chunk, std::string_view associated,
                                             bool* final) {
  if (ended_) return DataLossError("data follows the end of the encrypted stream");
  if (chunk.size() < kSecretStreamOverheadBytes) return DataLossError("an encrypted chunk is too short");
  std::string out(chunk.size() - kSecretStreamOverheadBytes, '\0');
  unsigned long long n = 0;
  unsigned char tag = 0;
  if (crypto_secretstream_xchacha20poly1305_pull(St(state_), reinterpret_cast<unsigned char*>(out.data()), &n,
                                                 &tag, U(chunk), chunk.size(), U(associated),
                                                 associated.size()) != 0) {
    return DataLossError(
        "an encrypted chunk does not decrypt: it was changed, is out of order, or belongs to another key");
  }
  out.resize(static_cast<size_t>(n));
  ended_ = tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL;
  *final = ended_;
  return out;
}

}  // namespace kp
