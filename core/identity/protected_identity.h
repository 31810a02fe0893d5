// The passphrase-protected identity file (docs/formats.md §1.2): the plain
// identity file text (§1.1), sealed with XChaCha20-Poly1305 under a key that
// Argon2id derives from the passphrase and a random salt. The Argon2id limits
// are stored in the file and bounded on reading; every byte before the sealed
// line is authenticated as associated data, so a changed header is refused
// like a changed ciphertext.
//
// The constants below mirror the document; change both together.
// Stateless functions; thread-safe.
#ifndef KETENPOORT_CORE_IDENTITY_PROTECTED_IDENTITY_H_
#define KETENPOORT_CORE_IDENTITY_PROTECTED_IDENTITY_H_

#include <string>
#include <string_view>

#include "core/base/status.h"
#include "core/crypto/pwhash.h"
#include "core/crypto/secret_bytes.h"

namespace kp {

inline constexpr std::string_view kProtectedIdentityComment =
    "# Ketenpoort secret identity, encrypted with a passphrase. Keep it on this machine only, mode 0600.\n";
inline constexpr std::string_view kProtectedIdentityMagic = "ketenpoort-identity-protected v1\n";
inline constexpr std::string_view kProtectedIdentityKdf = "argon2id13";

// A new passphrase must have at least this many characters (UTF-8 code
// points) and at most kMaxPassphraseBytes bytes.
inline constexpr size_t kMinPassphraseChars = 12;
inline constexpr size_t kMaxPassphraseBytes = 1024;

// True when `file_text` says it is a protected identity file (it has the
// magic line); whether it is a well-formed one is for ParseProtectedIdentity.
bool IsProtectedIdentityText(std::string_view file_text);

// The file text: `plain` (an identity file's text, §1.1) sealed under
// `passphrase` with a fresh salt and nonce. Not secret, but only useful
// mode 0600 like any identity file.
Result<std::string> ProtectIdentityText(const SecretBytes& plain, const SecretBytes& passphrase,
                                        const PwhashLimits& limits);

// A protected file's parts, checked for form and bounded limits but not
// yet opened (no passphrase needed to parse it).
struct ProtectedIdentity {
  PwhashLimits limits;
  std::string salt;            // kPwhashSaltBytes
  std::string associated;      // every byte before "sealed: " (authenticated)
  std::string sealed;          // nonce || ciphertext || tag
};

// DataLoss naming what is wrong (no path: the caller adds it);
// InvalidArgument for limits outside the bounds.
Result<ProtectedIdentity> ParseProtectedIdentity(std::string_view file_text);

// The plain identity text, in locked memory. Unauthenticated when the
// passphrase is wrong or the file was changed (the two cannot be told apart:
// the check covers key and bytes at once).
Result<SecretBytes> OpenProtectedIdentity(const ProtectedIdentity& file, const SecretBytes& passphrase);

// OK when a passphrase may protect a new file: long enough, not too long,
// no NUL or line break. InvalidArgument saying what to do otherwise.
Status CheckNewPassphrase(const SecretBytes& passphrase);

}  // namespace kp

#endif  // KETENPOORT_CORE_IDENTITY_PROTECTED_IDENTITY_H_
