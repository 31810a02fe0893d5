#include "core/identity/registry.h"

#include <algorithm>
#include <filesystem>
#include <set>
#include <sstream>

#include "core/base/clock.h"
#include "core/base/encoding.h"
#include "core/base/file_util.h"
#include "core/crypto/ed25519.h"
#include "core/crypto/sha256.h"
#include "core/identity/identity.h"

namespace kp {
namespace {

constexpr std::string_view kDomain("ketenpoort/v1/registry\0", 23);
constexpr std::string_view kMagic = "ketenpoort-registry v1\n";
constexpr std::string_view kSignatureKey = "signature: ";
constexpr size_t kMaxManifestBytes = 1 << 20;

std::string CardHash(const PublicCard& card) { return HexEncode(Sha256String(card.CanonicalBytes())); }

Status Bad(const std::string& path, const std::string& what) {
  return InvalidArgumentError("registry " + path + ": " + what);
}

std::vector<std::string_view> Split(std::string_view line) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos <= line.size()) {
    size_t sp = line.find(' ', pos);
    if (sp == std::string_view::npos) sp = line.size();
    out.push_back(line.substr(pos, sp - pos));
    pos = sp + 1;
  }
  return out;
}

}  // namespace

Result<const RegistryEntry*> Registry::Find(const std::string& id) const {
  auto it = entries_.find(id);
  if (it == entries_.end()) return NotFoundError("participant '" + id + "' is not in the signed registry");
  return &it->second;
}

Result<Registry> Registry::Load(const std::string& dir, const std::string& enrolment_public_key,
                                uint64_t min_serial) {
  KP_ASSIGN_OR_RETURN(std::string text, ReadFileBounded(dir + "/" + kRegistryManifestName, kMaxManifestBytes));
  return FromManifest(text, dir, enrolment_public_key, min_serial);
}

Result<Registry> Registry::FromManifest(std::string_view text, const std::string& dir,
                                        const std::string& enrolment_public_key, uint64_t min_serial) {
  const std::string path = dir + "/" + kRegistryManifestName;
  size_t sig_pos = text.rfind(kSignatureKey);
  if (!text.starts_with(kMagic)) return Bad(path, "not a Ketenpoort registry manifest");
  if (sig_pos == std::string::npos || text[sig_pos - 1] != '\n' || text.back() != '\n') {
    return Bad(path, "no signature line; the file may be truncated");
  }
  auto sig = Base64Decode(text.substr(sig_pos + kSignatureKey.size(),
                                                        text.size() - sig_pos - kSignatureKey.size() - 1));
  if (!sig.ok()) return Bad(path, "signature line is malformed");
  const std::string_view body = text.substr(0, sig_pos);
  std::string signed_bytes(kDomain);
  signed_bytes.append(body);
  if (!Ed25519Verify(enrolment_public_key, signed_bytes, *sig).ok()) {
    return UnauthenticatedError("registry " + path +
                                ": not signed by the pinned enrolment key (changed, or from another region)");
  }

  Registry reg;
  std::istringstream lines{std::string(body.substr(kMagic.size()))};
  std::string line;
  bool have_serial = false, have_issued = false, have_region = false;
  std::map<std::string, std::pair<std::string, std::string>> listed;  // id -> (role, hash)
  while (std::getline(lines, line)) {
    auto f = Split(line);
    if (f[0] == "region:" && f.size() == 2) {
      reg.region_ = std::string(f[1]);
      have_region = true;
    } else if (f[0] == "serial:" && f.size() == 2) {
      try {
        reg.serial_ = std::stoull(std::string(f[1]));
      } catch (...) {
        return Bad(path, "serial is not a number");
      }
      have_serial = true;
    } else if (f[0] == "issued:" && f.size() == 2) {
      auto t = ParseRfc3339Millis(f[1]);
      if (!t.ok()) return Bad(path, "issued time is malformed");
      reg.issued_ms_ = *t;
      have_issued = true;
    } else if (f[0] == "participant:" && f.size() == 4) {
      std::string id(f[1]);
      KP_RETURN_IF_ERROR(ValidateParticipantId(id, "participant id").WithContext("registry " + path));
      std::string role = f[2] == "-" ? "" : std::string(f[2]);
      if (!listed.emplace(id, std::make_pair(role, std::string(f[3]))).second) {
        return Bad(path, "participant " + id + " is listed twice");
      }
    } else {
      return Bad(path, "unexpected line");
    }
  }
  if (!have_serial || !have_issued || !have_region) return Bad(path, "region, serial or issued is missing");
  if (reg.serial_ < min_serial) {
    return FailedPreconditionError("registry " + path + " has serial " + std::to_string(reg.serial_) +
                                   ", older than serial " + std::to_string(min_serial) +
                                   " seen before; refusing a rolled-back registry");
  }
  for (const auto& [id, role_hash] : listed) {
    KP_ASSIGN_OR_RETURN(PublicCard card, PublicCard::LoadFile(CardFilePath(dir, id)));
    if (card.id != id) return Bad(path, "card file " + id + ".card holds participant " + card.id);
    if (CardHash(card) != role_hash.second) {
      return UnauthenticatedError("registry " + path + ": card of " + id +
                                  " is not the one the enrolment key signed (it was replaced)");
    }
    reg.entries_[id] = RegistryEntry{std::move(card), role_hash.first};
  }
  return reg;
}

Status Registry::Sign(const std::string& dir, const SecretBytes& enrolment_secret_key,
                      const std::map<std::string, std::string>& roles, const std::string& region,
                      int64_t now_ms) {
  KP_RETURN_IF_ERROR(ValidateParticipantId(region, "region"));
  // The next serial: one above the manifest now in place (whatever signed it).
  uint64_t serial = 1;
  auto old = ReadFileBounded(dir + "/" + kRegistryManifestName, kMaxManifestBytes);
  if (old.ok()) {
    size_t p = old->find("\nserial: ");
    if (p == std::string::npos) return InvalidArgumentError("the existing registry manifest has no serial");
    try {
      serial = std::stoull(old->substr(p + 9, old->find('\n', p + 1) - p - 9)) + 1;
    } catch (...) {
      return InvalidArgumentError("the existing registry manifest has a malformed serial");
    }
  }
  std::vector<PublicCard> cards;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.path().extension() != ".card") continue;
    KP_ASSIGN_OR_RETURN(PublicCard card, PublicCard::LoadFile(e.path().string()));
    if (e.path().stem().string() != card.id) {
      return InvalidArgumentError("card file " + e.path().string() + " holds participant " + card.id);
    }
    cards.push_back(std::move(card));
  }
  if (ec) return UnavailableError("cannot read folder " + dir + ": " + ec.message());
  for (const auto& [id, role] : roles) {
    bool found = false;
    for (const auto& c : cards) found = found || c.id == id;
    if (!found) return NotFoundError("a role is given for " + id + ", but " + dir + " has no card for it");
    KP_RETURN_IF_ERROR(ValidateParticipantId(role, "role"));
  }
  std::sort(cards.begin(), cards.end(), [](const PublicCard& a, const PublicCard& b) { return a.id < b.id; });
  std::string body(kMagic);
  body += "region: " + region + "\n";
  body += "serial: " + std::to_string(serial) + "\n";
  body += "issued: " + FormatRfc3339Millis(now_ms) + "\n";
  for (const auto& c : cards) {
    auto r = roles.find(c.id);
    body += "participant: " + c.id + " " + (r == roles.end() ? "-" : r->second) + " " + CardHash(c) + "\n";
  }
  std::string signed_bytes(kDomain);
  signed_bytes += body;
  body += std::string(kSignatureKey) + Base64Encode(Ed25519Sign(enrolment_secret_key, signed_bytes)) + "\n";
  return WriteFileDurable(dir + "/" + kRegistryManifestName, body, 0644, WriteMode::kReplace);
}

}  // namespace kp
