// SecretBytes: the only home of secret key material.
//
// Backed by sodium_malloc (guard pages, mlock'ed so it is never swapped out)
// and wiped by sodium_free on destruction. Move-only; copying is explicit
// (Clone). There is no conversion to std::string and no operator==: compare
// with ConstantTimeEquals. Decoders write straight into locked memory, so a
// secret read from a file never passes through an ordinary heap buffer.
//
// Not thread-safe to mutate; safe to read concurrently.
#ifndef KETENPOORT_CORE_CRYPTO_SECRET_BYTES_H_
#define KETENPOORT_CORE_CRYPTO_SECRET_BYTES_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/base/status.h"

namespace kp {

// Must be called once before any other crypto function (idempotent,
// thread-safe). Aborts when libsodium cannot be initialised: nothing in
// Ketenpoort can run safely without a working random source.
void InitCrypto();

class SecretBytes {
 public:
  SecretBytes() = default;
  // `size` zero bytes in locked memory. Aborts when the allocation fails.
  explicit SecretBytes(size_t size);
  ~SecretBytes();

  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;

  SecretBytes Clone() const;

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const uint8_t* data() const { return data_; }
  uint8_t* mutable_data() { return data_; }

  bool ConstantTimeEquals(const SecretBytes& other) const;

  // Decodes standard base64 into locked memory. `expected_size` bytes must
  // come out exactly.
  static Result<SecretBytes> FromBase64(std::string_view text, size_t expected_size);
  // Encodes into a locked buffer (used to write identity files).
  SecretBytes ToBase64() const;

  // A read-only view, e.g. to write to a file descriptor. Never store it in
  // a std::string.
  std::string_view view() const { return {reinterpret_cast<const char*>(data_), size_}; }

 private:
  void Free();
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Constant-time equality of two equal-length byte strings (false when the
// lengths differ; the length is not secret).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// Overwrites `s` with zeros in a way the compiler may not remove.
void SecureWipe(void* data, size_t size);

}  // namespace kp

#endif  // KETENPOORT_CORE_CRYPTO_SECRET_BYTES_H_
