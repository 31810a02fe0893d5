#include "core/crypto/secret_bytes.h"

#include <sodium.h>

#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <utility>

namespace kp {

void InitCrypto() {
  static const bool ok = sodium_init() >= 0;
  if (!ok) {
    std::fputs("libsodium could not be initialised; refusing to run\n", stderr);
    std::abort();
  }
}

SecretBytes::SecretBytes(size_t size) : size_(size) {
  InitCrypto();
  if (size == 0) return;
  data_ = static_cast<uint8_t*>(sodium_malloc(size));
  if (data_ == nullptr) {
    std::fputs("cannot allocate locked memory for a secret key (see ulimit -l)\n", stderr);
    std::abort();
  }
  sodium_memzero(data_, size);
}

SecretBytes::~SecretBytes() { Free(); }

void SecretBytes::Free() {
  if (data_ != nullptr) sodium_free(data_);  // wipes before freeing
  data_ = nullptr;
  size_ = 0;
}

SecretBytes::SecretBytes(SecretBytes&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    Free();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

SecretBytes SecretBytes::Clone() const {
  SecretBytes copy(size_);
  if (size_ > 0) std::memcpy(copy.data_, data_, size_);
  return copy;
}

bool SecretBytes::ConstantTimeEquals(const SecretBytes& other) const {
  if (size_ != other.size_) return false;
  if (size_ == 0) return true;
  return sodium_memcmp(data_, other.data_, size_) == 0;
}

Result<SecretBytes> SecretBytes::FromBase64(std::string_view text, size_t expected_size) {
  InitCrypto();
  // Decode into a locked buffer of the largest size the text could hold, so
  // that a wrong-length input never writes past the end.
  SecretBytes buf(text.size() / 4 * 3 + 3);
  size_t len = 0;
  if (sodium_base642bin(buf.data_, buf.size_, text.data(), text.size(), nullptr, &len, nullptr,
                        sodium_base64_VARIANT_ORIGINAL) != 0) {
    return InvalidArgumentError("secret key is not valid base64");
  }
  if (len != expected_size) {
    return InvalidArgumentError("secret key has " + std::to_string(len) + " bytes, expected " +
                                std::to_string(expected_size));
  }
  SecretBytes out(expected_size);
  std::memcpy(out.data_, buf.data_, expected_size);
  return out;
}

SecretBytes SecretBytes::ToBase64() const {
  InitCrypto();
  const size_t cap = sodium_base64_encoded_len(size_, sodium_base64_VARIANT_ORIGINAL);
  SecretBytes buf(cap);
  sodium_bin2base64(reinterpret_cast<char*>(buf.data_), cap, data_, size_,
                    sodium_base64_VARIANT_ORIGINAL);
  SecretBytes out(cap - 1);  // without the terminating NUL
  std::memcpy(out.data_, buf.data_, cap - 1);
  return out;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  InitCrypto();
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

void SecureWipe(void* data, size_t size) { sodium_memzero(data, size); }

}  // namespace kp
