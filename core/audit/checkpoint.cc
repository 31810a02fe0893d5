#include "core/audit/checkpoint.h"

#include <charconv>

#include "core/audit/merkle.h"
#include "core/base/encoding.h"
#include "core/crypto/ed25519.h"
#include "core/crypto/sha256.h"

namespace kp::audit {
namespace {

constexpr std::string_view kSigPrefix = "\xE2\x80\x94 ";  // U+2014 EM DASH, space

// Note text: printable ASCII or UTF-8 multibyte, newlines; no other control
// characters (C2SP signed-note).
Status CheckNoteText(std::string_view text) {
  for (unsigned char c : text) {
    if (c == '\n') continue;
    if (c < 0x20 || c == 0x7f) return InvalidArgumentError("note contains a control character");
  }
  return OkStatus();
}

Result<uint64_t> ParseDecimal(std::string_view s) {
  if (s.empty() || s.size() > 20 || (s.size() > 1 && s[0] == '0')) {
    return InvalidArgumentError("tree size is not a canonical decimal number");
  }
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) {
    return InvalidArgumentError("tree size is not a decimal number");
  }
  return v;
}

}  // namespace

std::string FormatCheckpointBody(const Checkpoint& c) {
  std::string out = c.origin + "\n" + std::to_string(c.size) + "\n" + Base64Encode(c.root) + "\n";
  for (const std::string& e : c.extensions) out += e + "\n";
  return out;
}

Result<Checkpoint> ParseCheckpointBody(std::string_view body) {
  if (body.empty() || body.back() != '\n')
    return InvalidArgumentError("checkpoint does not end in a newline");
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start < body.size()) {
    size_t nl = body.find('\n', start);
    lines.push_back(body.substr(start, nl - start));
    start = nl + 1;
  }
  if (lines.size() < 3) return InvalidArgumentError("checkpoint has fewer than three lines");
  Checkpoint c;
  if (lines[0].empty()) return InvalidArgumentError("checkpoint origin is empty");
  c.origin = std::string(lines[0]);
  KP_ASSIGN_OR_RETURN(c.size, ParseDecimal(lines[1]));
  auto root = Base64Decode(lines[2]);
  if (!root.ok() || root->size() != kHashBytes)
    return InvalidArgumentError("checkpoint root is not 32 bytes of base64");
  c.root = *root;
  for (size_t i = 3; i < lines.size(); ++i) {
    if (lines[i].empty()) return InvalidArgumentError("checkpoint has an empty extension line");
    c.extensions.emplace_back(lines[i]);
  }
  return c;
}

Status CheckKeyName(std::string_view name) {
  if (name.empty()) return InvalidArgumentError("key name is empty");
  if (name.size() > 256) return InvalidArgumentError("key name is longer than 256 bytes");
  for (unsigned char c : name) {
    if (c <= 0x20 || c >= 0x7f || c == '+') {
      return InvalidArgumentError("key name must be printable ASCII without spaces or '+'");
    }
  }
  return OkStatus();
}

uint32_t NoteKeyHash(std::string_view name, std::string_view public_key) {
  std::string in(name);
  in.push_back('\n');
  in.push_back(static_cast<char>(kNoteAlgEd25519));
  in.append(public_key);
  Sha256Digest d = Sha256(in);
  return (uint32_t{d[0]} << 24) | (uint32_t{d[1]} << 16) | (uint32_t{d[2]} << 8) | uint32_t{d[3]};
}

std::string FormatVerifierKey(const NoteVerifierKey& key) {
  char hash[9];
  std::snprintf(hash, sizeof(hash), "%08x", key.key_hash);
  std::string blob(1, static_cast<char>(kNoteAlgEd25519));
  blob += key.public_key;
  return key.name + "+" + hash + "+" + Base64Encode(blob);
}

Result<NoteVerifierKey> MakeVerifierKey(std::string_view name, std::string_view public_key) {
  KP_RETURN_IF_ERROR(CheckKeyName(name));
  if (public_key.size() != kEd25519PublicKeyBytes) return InvalidArgumentError("public key is not 32 bytes");
  NoteVerifierKey k;
  k.name = std::string(name);
  k.public_key = std::string(public_key);
  k.key_hash = NoteKeyHash(name, public_key);
  return k;
}

Result<NoteVerifierKey> ParseVerifierKey(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
    text.remove_suffix(1);
  size_t p1 = text.find('+');
  if (p1 == std::string_view::npos) return InvalidArgumentError("verifier key is not name+hash+key");
  size_t p2 = text.find('+', p1 + 1);
  if (p2 == std::string_view::npos) return InvalidArgumentError("verifier key is not name+hash+key");
  std::string_view name = text.substr(0, p1);
  std::string_view hash_hex = text.substr(p1 + 1, p2 - p1 - 1);
  KP_RETURN_IF_ERROR(CheckKeyName(name));
  auto hash = HexDecode(hash_hex);
  if (hash_hex.size() != 8 || !hash.ok())
    return InvalidArgumentError("verifier key hash is not 8 hex digits");
  auto blob = Base64Decode(text.substr(p2 + 1));
  if (!blob.ok() || blob->size() != 1 + kEd25519PublicKeyBytes ||
      static_cast<uint8_t>((*blob)[0]) != kNoteAlgEd25519) {
    return InvalidArgumentError("verifier key is not an Ed25519 key (0x01 || 32 bytes, base64)");
  }
  KP_ASSIGN_OR_RETURN(NoteVerifierKey key, MakeVerifierKey(name, blob->substr(1)));
  uint32_t want = (uint32_t{static_cast<uint8_t>((*hash)[0])} << 24) |
                  (uint32_t{static_cast<uint8_t>((*hash)[1])} << 16) |
                  (uint32_t{static_cast<uint8_t>((*hash)[2])} << 8) |
                  uint32_t{static_cast<uint8_t>((*hash)[3])};
  if (want != key.key_hash) return InvalidArgumentError("verifier key hash does not match its name and key");
  return key;
}

Result<SignedNote> ParseSignedNote(std::string_view note) {
  if (note.size() > kMaxNoteBytes) return InvalidArgumentError("note is larger than 64 KiB");
  size_t split = note.rfind("\n\n");
  if (split == std::string_view::npos)
    return InvalidArgumentError("note has no blank line before its signatures");
  SignedNote out;
  out.text = std::string(note.substr(0, split + 1));
  KP_RETURN_IF_ERROR(CheckNoteText(out.text));
  std::string_view sigs = note.substr(split + 2);
  if (sigs.empty() || sigs.back() != '\n')
    return InvalidArgumentError("note signatures do not end in a newline");
  while (!sigs.empty()) {
    size_t nl = sigs.find('\n');
    std::string_view line = sigs.substr(0, nl);
    sigs.remove_prefix(nl + 1);
    if (line.substr(0, kSigPrefix.size()) != kSigPrefix) {
      return InvalidArgumentError("note signature line does not start with an em dash");
    }
    line.remove_prefix(kSigPrefix.size());
    size_t sp = line.find(' ');
    if (sp == std::string_view::npos) return InvalidArgumentError("note signature line has no signature");
    NoteSignature sig;
    sig.name = std::string(line.substr(0, sp));
    KP_RETURN_IF_ERROR(CheckKeyName(sig.name));
    auto blob = Base64Decode(line.substr(sp + 1));
    if (!blob.ok() || blob->size() < 5)
      return InvalidArgumentError("note signature is not base64 of hash || signature");
    sig.key_hash = (uint32_t{static_cast<uint8_t>((*blob)[0])} << 24) |
                   (uint32_t{static_cast<uint8_t>((*blob)[1])} << 16) |
                   (uint32_t{static_cast<uint8_t>((*blob)[2])} << 8) |
                   uint32_t{static_cast<uint8_t>((*blob)[3])};
    sig.signature = blob->substr(4);
    out.signatures.push_back(std::move(sig));
    if (out.signatures.size() > kMaxNoteSignatures)
      return InvalidArgumentError("note has too many signatures");
  }
  if (out.signatures.empty()) return InvalidArgumentError("note has no signatures");
  return out;
}

Result<Checkpoint> OpenCheckpoint(std::string_view note, const NoteVerifierKey& key,
                                  std::string_view expected_origin) {
  InitCrypto();
  KP_ASSIGN_OR_RETURN(SignedNote parsed, ParseSignedNote(note));
  bool verified = false;
  for (const NoteSignature& sig : parsed.signatures) {
    if (sig.name != key.name || sig.key_hash != key.key_hash) continue;  // another signer (a witness)
    Status s = Ed25519Verify(key.public_key, parsed.text, sig.signature);
    if (!s.ok()) return UnauthenticatedError("checkpoint signature by " + key.name + " does not verify");
    verified = true;
  }
  if (!verified) return UnauthenticatedError("checkpoint carries no signature by key " + key.name);
  KP_ASSIGN_OR_RETURN(Checkpoint c, ParseCheckpointBody(parsed.text));
  if (!expected_origin.empty() && c.origin != expected_origin) {
    return UnauthenticatedError("checkpoint origin '" + c.origin + "' is not this log ('" +
                                std::string(expected_origin) + "')");
  }
  return c;
}

Result<LogSigner> LogSigner::Create(std::string origin, std::string public_key, SecretBytes secret_key) {
  InitCrypto();
  KP_RETURN_IF_ERROR(CheckKeyName(origin).WithContext("log origin"));
  if (secret_key.size() != kEd25519SecretKeyBytes)
    return InvalidArgumentError("log signing key is not 64 bytes");
  KP_ASSIGN_OR_RETURN(std::string derived, Ed25519PublicKeyOf(secret_key));
  if (derived != public_key) return InvalidArgumentError("log signing key does not match its public key");
  LogSigner s;
  KP_ASSIGN_OR_RETURN(s.verifier_, MakeVerifierKey(origin, public_key));
  s.origin_ = std::move(origin);
  s.public_key_ = std::move(public_key);
  s.secret_key_ = std::move(secret_key);
  return s;
}

std::string LogSigner::Sign(const Checkpoint& checkpoint) const {
  KP_CHECK(checkpoint.origin == origin_);
  std::string text = FormatCheckpointBody(checkpoint);
  return text + "\n" + SignatureLine(text);
}

std::string LogSigner::SignatureLine(std::string_view text) const {
  std::string sig = Ed25519Sign(secret_key_, text);
  std::string blob;
  AppendU32BE(blob, verifier_.key_hash);
  blob += sig;
  return std::string(kSigPrefix) + verifier_.name + " " + Base64Encode(blob) + "\n";
}

}  // namespace kp::audit
