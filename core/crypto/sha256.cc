// The one-shot hashes use OpenSSL's low-level SHA256_Init/Update/Final on a
// context on the stack: no allocation, no provider dispatch (a 65-byte Merkle
// node in ~60% of the reused EVP context's time, measured in sha256.h). They
// are deprecated in OpenSSL 3 but present in every 3.x; this file alone opts
// out of the deprecation warning. Incremental hashing keeps EVP.
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "core/crypto/sha256.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "core/base/status.h"

namespace kp {
namespace {

// The SHA-256 implementation, fetched once for the process (thread-safe
// static initialisation; never freed, like OpenSSL's own tables).
const EVP_MD* Sha256Md() {
  static EVP_MD* const md = [] {
    EVP_MD* m = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    KP_CHECK(m != nullptr);
    return m;
  }();
  return md;
}

void Init(EVP_MD_CTX* ctx) { KP_CHECK(EVP_DigestInit_ex2(ctx, Sha256Md(), nullptr) == 1); }

void Update(EVP_MD_CTX* ctx, std::string_view data) {
  KP_CHECK(EVP_DigestUpdate(ctx, data.data(), data.size()) == 1);
}

Sha256Digest Final(EVP_MD_CTX* ctx) {
  Sha256Digest out;
  unsigned int len = 0;
  KP_CHECK(EVP_DigestFinal_ex(ctx, out.data(), &len) == 1 && len == out.size());
  return out;
}

}  // namespace

Sha256Digest Sha256(std::string_view data) {
  Sha256Digest out;
  SHA256_CTX ctx;
  KP_CHECK(SHA256_Init(&ctx) == 1);
  KP_CHECK(SHA256_Update(&ctx, data.data(), data.size()) == 1);
  KP_CHECK(SHA256_Final(out.data(), &ctx) == 1);
  return out;
}

Sha256Digest Sha256(std::string_view a, std::string_view b) {
  Sha256Digest out;
  SHA256_CTX ctx;
  KP_CHECK(SHA256_Init(&ctx) == 1);
  KP_CHECK(SHA256_Update(&ctx, a.data(), a.size()) == 1);
  KP_CHECK(SHA256_Update(&ctx, b.data(), b.size()) == 1);
  KP_CHECK(SHA256_Final(out.data(), &ctx) == 1);
  return out;
}

std::string Sha256String(std::string_view data) {
  Sha256Digest d = Sha256(data);
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

struct Sha256Hasher::Impl {
  EVP_MD_CTX* ctx = nullptr;
};

Sha256Hasher::Sha256Hasher() : impl_(std::make_unique<Impl>()) {
  impl_->ctx = EVP_MD_CTX_new();
  KP_CHECK(impl_->ctx != nullptr);
  Init(impl_->ctx);
}

Sha256Hasher::~Sha256Hasher() { EVP_MD_CTX_free(impl_->ctx); }

void Sha256Hasher::Update(std::string_view data) { kp::Update(impl_->ctx, data); }

Sha256Digest Sha256Hasher::Finish() {
  Sha256Digest out = Final(impl_->ctx);
  Init(impl_->ctx);
  return out;
}

}  // namespace kp
