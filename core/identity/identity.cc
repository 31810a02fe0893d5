#include "core/identity/identity.h"

#include <cstring>
#include <filesystem>

#include "core/base/clock.h"
#include "core/base/encoding.h"
#include "core/base/file_util.h"
#include "core/crypto/sha256.h"
#include "core/identity/protected_identity.h"
#include "core/identity/secret_file.h"

namespace kp {
namespace {

constexpr std::string_view kMagicLine = "ketenpoort-identity v1\n";
constexpr std::string_view kChecksumKey = "checksum: ";

// Appends text to a locked buffer being built (grows by copying inside
// locked memory only).
void Append(SecretBytes& buf, size_t& used, std::string_view text) {
  if (used + text.size() > buf.size()) {
    SecretBytes bigger(std::max(buf.size() * 2, used + text.size()));
    if (used > 0) std::memcpy(bigger.mutable_data(), buf.data(), used);
    buf = std::move(bigger);
  }
  std::memcpy(buf.mutable_data() + used, text.data(), text.size());
  used += text.size();
}

Status Damaged(const std::string& path, const std::string& what) {
  return DataLossError("identity file " + path + " is damaged or was edited (" + what +
                       "); restore it from your backup or make a new identity with ketenpoort keygen");
}

Status ProtectedWithoutProvider(const std::string& path) {
  return FailedPreconditionError(
      "identity file " + path +
      " is protected with a passphrase; the ketenpoort commands and the console ask for it on the terminal "
      "(or read it from the file KETENPOORT_PASSPHRASE_FILE names). A gateway or an agent starts unattended "
      "and cannot ask: give it an unprotected identity (ketenpoort identity unprotect FILE)");
}

// The plain identity text inside a protected file, or an error naming it.
Result<SecretBytes> OpenProtected(const SecretBytes& file, const std::string& path,
                                  const PassphraseProvider& passphrase) {
  auto parsed = ParseProtectedIdentity(file.view());
  if (!parsed.ok()) return Damaged(path, parsed.status().message());
  if (!passphrase) return ProtectedWithoutProvider(path);
  KP_ASSIGN_OR_RETURN(SecretBytes pass, passphrase(path));
  auto plain = OpenProtectedIdentity(*parsed, pass);
  if (plain.status().code() == StatusCode::kUnauthenticated) {
    return UnauthenticatedError("identity file " + path +
                                ": the passphrase is wrong, or the file was changed; try again, or restore "
                                "the file from your backup");
  }
  if (!plain.ok()) return plain.status().WithContext("identity file " + path);
  return plain;
}

}  // namespace

Result<Identity> Identity::Generate(const std::string& id, ParticipantKind kind, const std::string& partner,
                                    int64_t created_ms) {
  KP_RETURN_IF_ERROR(ValidateParticipantId(id, "id"));
  if (!partner.empty()) KP_RETURN_IF_ERROR(ValidateParticipantId(partner, "partner"));
  if (partner.empty() && (kind == ParticipantKind::kAgent || kind == ParticipantKind::kCoordinator)) {
    return InvalidArgumentError("an " + std::string(ParticipantKindName(kind)) +
                                " needs --partner (the organisation it belongs to)");
  }
  Identity idn;
  idn.id_ = id;
  idn.kind_ = kind;
  idn.partner_ = partner;
  idn.created_ms_ = created_ms;
  idn.signing_ = GenerateEd25519KeyPair();
  idn.sealing_ = GenerateX25519KeyPair();
  idn.transport_ = GenerateX25519KeyPair();
  return idn;
}

SecretBytes Identity::ToFileText() const {
  SecretBytes buf(1024);
  size_t used = 0;
  Append(buf, used, "# Ketenpoort secret identity. Keep it on this machine only, mode 0600.\n");
  Append(buf, used, kMagicLine);
  Append(buf, used, "id: " + id_ + "\n");
  Append(buf, used, "kind: " + std::string(ParticipantKindName(kind_)) + "\n");
  Append(buf, used, "partner: " + partner_ + "\n");
  Append(buf, used, "created: " + FormatRfc3339Millis(created_ms_) + "\n");
  const std::pair<const char*, const SecretBytes*> secrets[] = {
      {"signing-secret: ", &signing_.secret_key},
      {"sealing-secret: ", &sealing_.secret_key},
      {"transport-secret: ", &transport_.secret_key}};
  for (const auto& [key, secret] : secrets) {
    Append(buf, used, key);
    SecretBytes b64 = secret->ToBase64();
    Append(buf, used, b64.view());
    Append(buf, used, "\n");
  }
  Sha256Digest sum = Sha256(std::string_view(reinterpret_cast<const char*>(buf.data()), used));
  Append(buf, used, kChecksumKey);
  Append(buf, used, HexEncode(std::string_view(reinterpret_cast<const char*>(sum.data()), sum.size())));
  Append(buf, used, "\n");
  SecretBytes out(used);
  std::memcpy(out.mutable_data(), buf.data(), used);
  return out;
}

Result<std::string> Identity::ToProtectedFileText(const SecretBytes& passphrase,
                                                  const PwhashLimits& limits) const {
  KP_RETURN_IF_ERROR(CheckNewPassphrase(passphrase));
  KP_ASSIGN_OR_RETURN(std::string text, ProtectIdentityText(ToFileText(), passphrase, limits));
  if (text.size() > kMaxIdentityFileBytes) return InternalError("protected identity file would be too large");
  return text;
}

Result<Identity> Identity::LoadFile(const std::string& path) { return LoadFile(path, PassphraseProvider()); }

Result<Identity> Identity::LoadFile(const std::string& path, const PassphraseProvider& passphrase) {
  KP_ASSIGN_OR_RETURN(SecretBytes file, ReadSecretFile(path, kMaxIdentityFileBytes, "identity file"));
  return FromFileText(file, path, passphrase);
}

Result<Identity> Identity::FromFileText(const SecretBytes& file, const std::string& path,
                                        const PassphraseProvider& passphrase) {
  SecretBytes opened;
  if (IsProtectedIdentityText(file.view())) {
    KP_ASSIGN_OR_RETURN(opened, OpenProtected(file, path, passphrase));
    if (IsProtectedIdentityText(opened.view()))
      return Damaged(path, "a protected file inside a protected file");
  }
  std::string_view text = opened.empty() ? file.view() : opened.view();

  // The checksum line is last; it covers every byte before it.
  size_t pos = text.rfind(kChecksumKey);
  if (pos == std::string_view::npos || (pos > 0 && text[pos - 1] != '\n')) {
    return Damaged(path, "no checksum line; the file may be truncated");
  }
  std::string_view sum_hex = text.substr(pos + kChecksumKey.size());
  if (sum_hex.size() != 65 || sum_hex.back() != '\n') return Damaged(path, "checksum line is incomplete");
  Sha256Digest sum = Sha256(text.substr(0, pos));
  if (HexEncode(std::string_view(reinterpret_cast<const char*>(sum.data()), sum.size())) !=
      sum_hex.substr(0, 64)) {
    return Damaged(path, "checksum does not match");
  }

  std::string_view body = text.substr(0, pos);
  size_t magic = body.find(kMagicLine);
  if (magic == std::string_view::npos) return Damaged(path, "not a Ketenpoort identity file");
  body.remove_prefix(magic + kMagicLine.size());

  Identity idn;
  bool have[7] = {};
  while (!body.empty()) {
    size_t nl = body.find('\n');
    if (nl == std::string_view::npos) return Damaged(path, "last line is incomplete");
    std::string_view line = body.substr(0, nl);
    body.remove_prefix(nl + 1);
    size_t colon = line.find(": ");
    if (colon == std::string_view::npos) return Damaged(path, "a line is not 'key: value'");
    std::string_view key = line.substr(0, colon);
    std::string_view value = line.substr(colon + 2);
    auto secret = [&](size_t len, SecretBytes& out, int slot) -> Status {
      auto s = SecretBytes::FromBase64(value, len);
      if (!s.ok()) return Damaged(path, std::string(key) + " is malformed");
      out = std::move(s).value();
      have[slot] = true;
      return OkStatus();
    };
    if (key == "id") {
      idn.id_ = std::string(value);
      have[0] = true;
    } else if (key == "kind") {
      auto k = ParseParticipantKind(value);
      if (!k.ok()) return Damaged(path, "unknown kind");
      idn.kind_ = *k;
      have[1] = true;
    } else if (key == "partner") {
      idn.partner_ = std::string(value);
      have[2] = true;
    } else if (key == "created") {
      auto t = ParseRfc3339Millis(value);
      if (!t.ok()) return Damaged(path, "created is malformed");
      idn.created_ms_ = *t;
      have[3] = true;
    } else if (key == "signing-secret") {
      KP_RETURN_IF_ERROR(secret(kEd25519SecretKeyBytes, idn.signing_.secret_key, 4));
    } else if (key == "sealing-secret") {
      KP_RETURN_IF_ERROR(secret(kX25519SecretKeyBytes, idn.sealing_.secret_key, 5));
    } else if (key == "transport-secret") {
      KP_RETURN_IF_ERROR(secret(kX25519SecretKeyBytes, idn.transport_.secret_key, 6));
    } else {
      return Damaged(path, "unknown line '" + std::string(key.substr(0, 30)) + "'");
    }
  }
  for (bool h : have) {
    if (!h) return Damaged(path, "a required line is missing");
  }
  Status valid = ValidateParticipantId(idn.id_, "id");
  if (valid.ok() && !idn.partner_.empty()) valid = ValidateParticipantId(idn.partner_, "partner");
  if (!valid.ok()) return Damaged(path, valid.message());

  auto sign_pk = Ed25519PublicKeyOf(idn.signing_.secret_key);
  if (!sign_pk.ok()) return Damaged(path, sign_pk.status().message());
  idn.signing_.public_key = *sign_pk;
  KP_ASSIGN_OR_RETURN(idn.sealing_.public_key, X25519PublicKeyOf(idn.sealing_.secret_key));
  KP_ASSIGN_OR_RETURN(idn.transport_.public_key, X25519PublicKeyOf(idn.transport_.secret_key));
  return idn;
}

PublicCard Identity::MakeCard(int64_t expires_ms) const {
  PublicCard card;
  card.id = id_;
  card.kind = kind_;
  card.partner = partner_;
  card.created_ms = created_ms_;
  card.version = expires_ms == 0 ? 1 : 2;
  card.expires_ms = expires_ms;
  card.signing_key = signing_.public_key;
  card.sealing_key = sealing_.public_key;
  card.transport_key = transport_.public_key;
  card.self_signature = Ed25519Sign(signing_.secret_key, card.CanonicalBytes());
  return card;
}

Status Identity::MatchesCard(const PublicCard& card) const {
  if (card.id != id_ || card.kind != kind_ || card.partner != partner_ ||
      card.signing_key != signing_.public_key || card.sealing_key != sealing_.public_key ||
      card.transport_key != transport_.public_key) {
    return FailedPreconditionError("public card " + card.id + " does not belong to identity " + id_);
  }
  return OkStatus();
}

Result<int> Identity::LoadKeyRing(const std::string& path, const PassphraseProvider& passphrase) {
  constexpr std::string_view kSuffix = ".secret";
  if (!path.ends_with(kSuffix)) return 0;
  const std::string stem = path.substr(0, path.size() - kSuffix.size());
  int added = 0;
  for (std::string_view slot : {"next", "previous"}) {
    const std::string other = stem + "." + std::string(slot) + std::string(kSuffix);
    std::error_code ec;
    if (!std::filesystem::exists(other, ec)) continue;
    KP_ASSIGN_OR_RETURN(Identity more, LoadFile(other, passphrase));
    if (more.id_ != id_ || more.kind_ != kind_ || more.partner_ != partner_) {
      return FailedPreconditionError("identity file " + other + " is not another key set of " + id_ +
                                     " (it holds " + more.id_ + "); move it away");
    }
    if (more.sealing_.public_key == sealing_.public_key) continue;  // the same keys (a copy)
    ring_.push_back(std::move(more.sealing_));
    if (more.signing_.public_key != signing_.public_key) signing_ring_.push_back(std::move(more.signing_));
    ++added;
  }
  return added;
}

std::vector<const X25519KeyPair*> Identity::SealingRing() const {
  std::vector<const X25519KeyPair*> ring{&sealing_};
  for (const auto& k : ring_) ring.push_back(&k);
  return ring;
}

std::vector<const Ed25519KeyPair*> Identity::OtherSigningKeys() const {
  std::vector<const Ed25519KeyPair*> out;
  for (const auto& k : signing_ring_) out.push_back(&k);
  return out;
}

std::string IdentityFilePath(const std::string& dir, const std::string& id, std::string_view slot) {
  return dir + "/" + id + (slot.empty() ? "" : "." + std::string(slot)) + ".secret";
}
std::string CardFilePath(const std::string& dir, const std::string& id, std::string_view slot) {
  return dir + "/" + id + (slot.empty() ? "" : "." + std::string(slot)) + ".card";
}

Status WriteIdentityFiles(const std::string& dir, const Identity& identity,
                          const IdentityProtection* protection, int64_t expires_ms, std::string_view slot) {
  KP_RETURN_IF_ERROR(CheckDirNotGroupOrWorldWritable(dir));
  if (expires_ms != 0 && expires_ms <= identity.created_ms()) {
    return InvalidArgumentError("a card must expire after it is made");
  }
  const std::string secret_path = IdentityFilePath(dir, identity.id(), slot);
  const std::string card_path = CardFilePath(dir, identity.id(), slot);
  if (std::filesystem::exists(card_path)) {
    return AlreadyExistsError(card_path + " already exists; refusing to overwrite it");
  }
  if (protection != nullptr) {
    if (protection->passphrase == nullptr)
      return InvalidArgumentError("no passphrase to protect the identity with");
    KP_ASSIGN_OR_RETURN(std::string text,
                        identity.ToProtectedFileText(*protection->passphrase, protection->limits));
    KP_RETURN_IF_ERROR(WriteFileDurable(secret_path, text, 0600, WriteMode::kCreateExclusive));
  } else {
    SecretBytes text = identity.ToFileText();
    KP_RETURN_IF_ERROR(WriteFileDurable(secret_path, text.view(), 0600, WriteMode::kCreateExclusive));
  }
  return WriteFileDurable(card_path, identity.MakeCard(expires_ms).ToYaml(), 0644,
                          WriteMode::kCreateExclusive);
}

}  // namespace kp
