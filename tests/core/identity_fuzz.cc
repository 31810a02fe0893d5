// libFuzzer target: the identity file reader (docs/formats.md §1), plain and
// protected, on arbitrary bytes. It must return an identity or an error,
// never crash; the provider hands out the seeds' passphrase, so a mutated
// protected seed reaches the Argon2id and XChaCha20-Poly1305 checks. The
// seed corpus (identity_corpus/) holds a plain file and one protected with
// the cheapest Argon2id limits, whose passphrase is kFuzzPassphrase (keys
// made for this corpus only, enrolled nowhere).
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "core/identity/identity.h"

namespace {
constexpr std::string_view kFuzzPassphrase = "paard batterij nietje correct";
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > kp::kMaxIdentityFileBytes) return 0;  // the reader never reads more
  kp::SecretBytes text(size);
  if (size > 0) std::memcpy(text.mutable_data(), data, size);
  kp::PassphraseProvider provider = [](const std::string&) -> kp::Result<kp::SecretBytes> {
    kp::SecretBytes pass(kFuzzPassphrase.size());
    std::memcpy(pass.mutable_data(), kFuzzPassphrase.data(), kFuzzPassphrase.size());
    return pass;
  };
  auto identity = kp::Identity::FromFileText(text, "/fuzz/id.secret", provider);
  if (identity.ok() && identity->id().empty()) __builtin_trap();
  return 0;
}
