// SecretStream: libsodium's crypto_secretstream_xchacha20poly1305, a stream
// of authenticated chunks under one key (docs/formats.md §6, the encrypted
// backup). Each chunk is authenticated on its own and chained to the ones
// before it, so a changed, dropped, repeated or reordered chunk fails, and
// the last chunk carries a FINAL tag, so a stream cut short is told from a
// complete one.
//
// A writer and a reader are one-way objects; not thread-safe. The state is
// kept in locked memory (SecretBytes) and wiped on destruction.
#ifndef KETENPOORT_CORE_CRYPTO_SECRET_STREAM_H_
#define KETENPOORT_CORE_CRYPTO_SECRET_STREAM_H_

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "core/base/status.h"
#include "core/crypto/secret_bytes.h"

namespace kp {

inline constexpr size_t kSecretStreamKeyBytes = 32;
inline constexpr size_t kSecretStreamHeaderBytes = 24;
inline constexpr size_t kSecretStreamOverheadBytes = 17;  // per chunk

// A fresh random key (locked memory).
SecretBytes NewSecretStreamKey();

class SecretStreamWriter {
 public:
  // `header` receives the 24-byte stream header the reader needs.
  static Result<std::unique_ptr<SecretStreamWriter>> Create(const SecretBytes& key, std::string* header);
  // One chunk: kSecretStreamOverheadBytes longer than `plain`. `final` marks
  // the last chunk of the stream.
  std::string Push(std::string_view plain, std::string_view associated, bool final);

 private:
  SecretStreamWriter() = default;
  SecretBytes state_;
};

class SecretStreamReader {
 public:
  // InvalidArgument when the key or header has the wrong length.
  static Result<std::unique_ptr<SecretStreamReader>> Create(const SecretBytes& key, std::string_view header);
  // The chunk's plaintext; `final` tells whether it was the last chunk.
  // DataLoss when the chunk does not authenticate (changed, out of order,
  // another key), or when a chunk follows the final one.
  Result<std::string> Pull(std::string_view chunk, std::string_view associated, bool* final);

 private:
  SecretStreamReader() = default;
  SecretBytes state_;
  bool ended_ = false;
};

}  // namespace kp

#endif  // KETENPOORT_CORE_CRYPTO_SECRET_STREAM_H_
