#include "core/identity/protected_identity.h"

#include <charconv>

#include "core/base/encoding.h"
#include "core/crypto/aead.h"
#include "core/crypto/random.h"

namespace kp {
namespace {

constexpr std::string_view kSealedKey = "sealed: ";

// Consumes "KEY: VALUE\n" from the front of `rest`; the value, or DataLoss.
Result<std::string_view> TakeLine(std::string_view& rest, std::string_view key) {
  if (rest.substr(0, key.size()) != key || rest.substr(key.size(), 2) != ": ") {
    return DataLossError("expected the line '" + std::string(key) + ": ...'");
  }
  size_t nl = rest.find('\n');
  if (nl == std::string_view::npos) return DataLossError("the line '" + std::string(key) + "' is incomplete");
  std::string_view value = rest.substr(key.size() + 2, nl - key.size() - 2);
  rest.remove_prefix(nl + 1);
  return value;
}

// A decimal without sign or leading zero that fits 64 bits.
Result<uint64_t> ParseDecimal(std::string_view text, std::string_view key) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || (text.size() > 1 && text[0] == '0') || ec != std::errc() || end != text.data() + text.size()) {
    return DataLossError(std::string(key) + " is not a plain decimal number");
  }
  return v;
}

Result<std::string> DecodeField(std::string_view text, std::string_view key) {
  auto bytes = Base64Decode(text);
  if (!bytes.ok()) return DataLossError(std::string(key) + " is not valid base64");
  return std::move(bytes).value();
}

size_t Utf8CodePoints(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

}  // namespace

bool IsProtectedIdentityText(std::string_view file_text) {
  return file_text.find(kProtectedIdentityMagic) != std::string_view::npos;
}

Result<std::string> ProtectIdentityText(const SecretBytes& plain, const SecretBytes& passphrase,
                                        const PwhashLimits& limits) {
  KP_RETURN_IF_ERROR(CheckPwhashLimits(limits));
  const std::string salt = RandomBytes(kPwhashSaltBytes);
  KP_ASSIGN_OR_RETURN(SecretBytes key, DeriveKeyFromPassphrase(passphrase, salt, limits));
  std::string text;
  text += kProtectedIdentityComment;
  text += kProtectedIdentityMagic;
  text += "kdf: " + std::string(kProtectedIdentityKdf) + "\n";
  text += "opslimit: " + std::to_string(limits.opslimit) + "\n";
  text += "memlimit: " + std::to_string(limits.memlimit_bytes) + "\n";
  text += "salt: " + Base64Encode(salt) + "\n";
  const std::string sealed = AeadSeal(key, plain.view(), text);
  text += std::string(kSealedKey) + Base64Encode(sealed) + "\n";
  return text;
}

Result<ProtectedIdentity> ParseProtectedIdentity(std::string_view file_text) {
  std::string_view rest = file_text;
  if (rest.substr(0, kProtectedIdentityComment.size()) != kProtectedIdentityComment) {
    return DataLossError("the first line is not the protected identity comment");
  }
  rest.remove_prefix(kProtectedIdentityComment.size());
  if (rest.substr(0, kProtectedIdentityMagic.size()) != kProtectedIdentityMagic) {
    return DataLossError("the second line is not '" +
                         std::string(kProtectedIdentityMagic.substr(0, kProtectedIdentityMagic.size() - 1)) + "'");
  }
  rest.remove_prefix(kProtectedIdentityMagic.size());
  ProtectedIdentity out;
  KP_ASSIGN_OR_RETURN(std::string_view kdf, TakeLine(rest, "kdf"));
  if (kdf != kProtectedIdentityKdf) return DataLossError("unknown kdf; this version knows argon2id13 only");
  KP_ASSIGN_OR_RETURN(std::string_view ops, TakeLine(rest, "opslimit"));
  KP_ASSIGN_OR_RETURN(out.limits.opslimit, ParseDecimal(ops, "opslimit"));
  KP_ASSIGN_OR_RETURN(std::string_view mem, TakeLine(rest, "memlimit"));
  KP_ASSIGN_OR_RETURN(out.limits.memlimit_bytes, ParseDecimal(mem, "memlimit"));
  KP_RETURN_IF_ERROR(CheckPwhashLimits(out.limits));
  KP_ASSIGN_OR_RETURN(std::string_view salt, TakeLine(rest, "salt"));
  KP_ASSIGN_OR_RETURN(out.salt, DecodeField(salt, "salt"));
  if (out.salt.size() != kPwhashSaltBytes) return DataLossError("salt is not 16 bytes");
  out.associated = std::string(file_text.substr(0, file_text.size() - rest.size()));
  KP_ASSIGN_OR_RETURN(std::string_view sealed, TakeLine(rest, "sealed"));
  KP_ASSIGN_OR_RETURN(out.sealed, DecodeField(sealed, "sealed"));
  if (out.sealed.size() <= kAeadOverheadBytes) return DataLossError("sealed is too short");
  if (!rest.empty()) return DataLossError("there is text after the sealed line");
  return out;
}

Result<SecretBytes> OpenProtectedIdentity(const ProtectedIdentity& file, const SecretBytes& passphrase) {
  KP_ASSIGN_OR_RETURN(SecretBytes key, DeriveKeyFromPassphrase(passphrase, file.salt, file.limits));
  auto plain = AeadOpen(key, file.sealed, file.associated);
  if (!plain.ok()) return UnauthenticatedError("the passphrase is wrong, or the file was changed");
  return plain;
}

Status CheckNewPassphrase(const SecretBytes& passphrase) {
  const std::string_view p = passphrase.view();
  if (Utf8CodePoints(p) < kMinPassphraseChars) {
    return InvalidArgumentError("the passphrase is too short: use at least " + std::to_string(kMinPassphraseChars) +
                                " characters (a few unrelated words are easy to remember)");
  }
  if (p.size() > kMaxPassphraseBytes) {
    return InvalidArgumentError("the passphrase is too long (at most " + std::to_string(kMaxPassphraseBytes) +
                                " bytes)");
  }
  if (p.find_first_of(std::string_view("\0\n\r", 3)) != std::string_view::npos) {
    return InvalidArgumentError("the passphrase may not contain a line break or a NUL character");
  }
  return OkStatus();
}

}  // namespace kp
