#include "core/identity/identity.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/base/clock.h"
#include "core/base/encoding.h"
#include "core/base/file_util.h"
#include "core/crypto/sha256.h"

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

// Reads a small file straight into locked memory.
Result<SecretBytes> ReadSecretFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return NotFoundError("identity file not found: " + path);
    return UnavailableError("cannot open identity file " + path + ": " + std::strerror(errno));
  }
  SecretBytes buf(kMaxIdentityFileBytes + 1);
  size_t got = 0;
  while (got < buf.size()) {
    ssize_t n = ::read(fd, buf.mutable_data() + got, buf.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return UnavailableError("cannot read identity file " + path + ": " + std::strerror(errno));
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  if (got > kMaxIdentityFileBytes) return InvalidArgumentError("identity file " + path + " is too large");
  SecretBytes out(got);
  if (got > 0) std::memcpy(out.mutable_data(), buf.data(), got);
  return out;
}

Status Damaged(const std::string& path, const std::string& what) {
  return DataLossError("identity file " + path + " is damaged or was edited (" + what +
                       "); restore it from your backup or make a new identity with ketenpoort keygen");
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
  const std::pair<const char*, const SecretBytes*> secrets[] = {{"signing-secret: ", &signing_.secret_key},
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

Result<Identity> Identity::LoadFile(const std::string& path) {
  KP_RETURN_IF_ERROR(CheckSecretFileMode(path));
  KP_ASSIGN_OR_RETURN(SecretBytes file, ReadSecretFile(path));
  std::string_view text = file.view();

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

PublicCard Identity::MakeCard() const {
  PublicCard card;
  card.id = id_;
  card.kind = kind_;
  card.partner = partner_;
  card.created_ms = created_ms_;
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

std::string IdentityFilePath(const std::string& dir, const std::string& id) { return dir + "/" + id + ".secret"; }
std::string CardFilePath(const std::string& dir, const std::string& id) { return dir + "/" + id + ".card"; }

Status WriteIdentityFiles(const std::string& dir, const Identity& identity) {
  KP_RETURN_IF_ERROR(CheckDirNotGroupOrWorldWritable(dir));
  const std::string secret_path = IdentityFilePath(dir, identity.id());
  const std::string card_path = CardFilePath(dir, identity.id());
  if (std::filesystem::exists(card_path)) {
    return AlreadyExistsError(card_path + " already exists; refusing to overwrite it");
  }
  SecretBytes text = identity.ToFileText();
  KP_RETURN_IF_ERROR(WriteFileDurable(secret_path, text.view(), 0600, WriteMode::kCreateExclusive));
  return WriteFileDurable(card_path, identity.MakeCard().ToYaml(), 0644, WriteMode::kCreateExclusive);
}

}  // namespace kp
