#include "core/identity/registry.h"

#include <algorithm>
#include <filesystem>
#include <optional>
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
// Two during a rotation; a third allows a rotation begun before the last
// one's old card was dropped.
constexpr size_t kMaxCardsPerId = 3;

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

std::vector<std::string> RegistryEntry::SigningKeys() const {
  std::vector<std::string> keys;
  for (const auto& c : cards) keys.push_back(c.signing_key);
  if (keys.empty()) keys.push_back(card.signing_key);
  return keys;
}

int64_t RegistryEntry::ExpiresMs() const {
  int64_t latest = 0;
  for (const auto& c : cards) {
    if (c.expires_ms == 0) return 0;
    latest = std::max(latest, c.expires_ms);
  }
  return cards.empty() ? card.expires_ms : latest;
}

Result<const RegistryEntry*> Registry::Find(const std::string& id) const {
  auto it = entries_.find(id);
  if (it != entries_.end()) return &it->second;
  auto ex = expired_.find(id);
  if (ex != expired_.end()) {
    return NotFoundError(
        "the card of participant '" + id + "' expired on " + FormatRfc3339Millis(ex->second) +
        "; it takes part again when the enrolment office signs a registry with its new card");
  }
  return NotFoundError("participant '" + id + "' is not in the signed registry");
}

Status MatchesEntry(const Identity& identity, const RegistryEntry& entry) {
  for (const auto& c : entry.cards) {
    if (identity.MatchesCard(c).ok()) return OkStatus();
  }
  return identity.MatchesCard(entry.card);
}

bool ListsCard(const RegistryEntry& entry, const PublicCard& card) {
  for (const auto& c : entry.cards) {
    if (c.signing_key == card.signing_key && c.transport_key == card.transport_key) return true;
  }
  return entry.card.signing_key == card.signing_key && entry.card.transport_key == card.transport_key;
}

void ForEachSigningKey(const Registry& registry,
                       const std::function<void(const std::string& id, const std::string& signing_key,
                                                int64_t valid_before_ms)>& fn) {
  for (const auto& [id, e] : registry.entries()) {
    for (const auto& c : e.cards) fn(id, c.signing_key, c.expires_ms);  // every card of a rotation
  }
  for (const RetiredCard& r : registry.retired()) fn(r.card.id, r.card.signing_key, r.until_ms);
}

Result<PublicCard> LoadPinnedEnrolmentCard(const std::string& path, int64_t now_ms) {
  KP_ASSIGN_OR_RETURN(PublicCard card, PublicCard::LoadFile(path));
  if (card.kind != ParticipantKind::kEnrolment) {
    return InvalidArgumentError(path + " is not an enrolment card (kind " +
                                std::string(ParticipantKindName(card.kind)) + ")");
  }
  if (card.ExpiredAt(now_ms)) {
    return FailedPreconditionError(
        "the pinned enrolment card " + card.id + " (" + path + ") expired on " +
        FormatRfc3339Millis(card.expires_ms) +
        ": registries and policy bundles are no longer accepted under it; the enrolment "
        "office makes a new enrolment key, and every configuration pins its card "
        "(docs/operations.md, \"Key rotation\")");
  }
  return card;
}

std::string PinnedEnrolmentCardWarning(const PublicCard& card, const std::string& path, int64_t now_ms) {
  if (card.expires_ms == 0 || card.expires_ms - now_ms >= kCardExpiryWarnDays * kMillisPerDay) return "";
  return "the pinned enrolment card " + card.id + " (" + path + ") expires on " +
         FormatRfc3339Millis(card.expires_ms) + ", in " +
         std::to_string(std::max<int64_t>(0, (card.expires_ms - now_ms) / kMillisPerDay)) +
         " day(s): pin the region's new enrolment card before then";
}

std::vector<CardExpiry> CardExpiries(const Registry& registry, int64_t now_ms) {
  std::vector<CardExpiry> out;
  for (const auto& [id, e] : registry.entries()) {
    CardExpiry x;
    x.id = id;
    x.expires_ms = e.ExpiresMs();
    x.fingerprint = e.card.Fingerprint();
    for (const auto& c : e.cards) {
      if (c.expires_ms == x.expires_ms) x.fingerprint = c.Fingerprint();
    }
    if (x.expires_ms != 0) {
      x.seconds_left = std::max<int64_t>(0, (x.expires_ms - now_ms) / 1000);
      x.warn = x.expires_ms - now_ms < kCardExpiryWarnDays * kMillisPerDay;
    }
    out.push_back(std::move(x));
  }
  return out;
}

Result<Registry> Registry::Load(const std::string& dir, const std::string& enrolment_public_key,
                                uint64_t min_serial, int64_t now_ms) {
  KP_ASSIGN_OR_RETURN(std::string text,
                      ReadFileBounded(dir + "/" + kRegistryManifestName, kMaxManifestBytes));
  return FromManifest(text, dir, enrolment_public_key, min_serial, now_ms);
}

Result<Registry> Registry::FromManifest(std::string_view text, const std::string& dir,
                                        const std::string& enrolment_public_key, uint64_t min_serial,
                                        int64_t now_ms) {
  if (now_ms < 0) now_ms = SystemClock::Get().NowMillis();
  const std::string path = dir + "/" + kRegistryManifestName;
  size_t sig_pos = text.rfind(kSignatureKey);
  if (!text.starts_with(kMagic)) return Bad(path, "not a Ketenpoort registry manifest");
  if (sig_pos == std::string::npos || text[sig_pos - 1] != '\n' || text.back() != '\n') {
    return Bad(path, "no signature line; the file may be truncated");
  }
  auto sig = Base64Decode(
      text.substr(sig_pos + kSignatureKey.size(), text.size() - sig_pos - kSignatureKey.size() - 1));
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
  std::map<std::string, std::pair<std::string, std::vector<std::string>>> listed;  // id -> (role, hashes)
  struct RetiredLine {
    std::string id, hash;
    int64_t until_ms;
  };
  std::vector<RetiredLine> retired;
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
      // An id listed again is another card of it (a key rotation's overlap),
      // with the same role and another hash.
      auto [it, fresh] = listed.emplace(id, std::make_pair(role, std::vector<std::string>{}));
      auto& hashes = it->second.second;
      if (!fresh && it->second.first != role) {
        return Bad(path, "participant " + id + " is listed twice with different roles");
      }
      if (std::find(hashes.begin(), hashes.end(), f[3]) != hashes.end()) {
        return Bad(path, "participant " + id + " is listed twice with the same card");
      }
      if (hashes.size() >= kMaxCardsPerId) {
        return Bad(path, "participant " + id + " is listed with more than " + std::to_string(kMaxCardsPerId) +
                             " cards");
      }
      hashes.emplace_back(f[3]);
    } else if (f[0] == "retired:" && f.size() == 4) {
      std::string id(f[1]);
      KP_RETURN_IF_ERROR(ValidateParticipantId(id, "participant id").WithContext("registry " + path));
      auto until = ParseRfc3339Millis(f[3]);
      if (!until.ok()) return Bad(path, "retired card of " + id + ": the time is malformed");
      if (retired.size() >= kMaxRetiredCards) return Bad(path, "more than 1000 retired cards");
      for (const auto& r : retired) {
        if (r.hash == f[2]) return Bad(path, "a retired card is listed twice");
      }
      retired.push_back({id, std::string(f[2]), *until});
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
  // The other card files of each id (ID.SLOT.card), found by hash. An
  // unreadable folder leaves only ID.card to find.
  std::error_code ec;
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.ends_with(".card")) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  for (const auto& [id, role_hashes] : listed) {
    const auto& [role, hashes] = role_hashes;
    std::map<std::string, PublicCard> by_hash;
    // ID.card first, with its errors as before rotation existed.
    auto primary = PublicCard::LoadFile(CardFilePath(dir, id));
    if (primary.ok()) {
      if (primary->id != id) return Bad(path, "card file " + id + ".card holds participant " + primary->id);
      by_hash.emplace(CardHash(*primary), *std::move(primary));
    }
    if (hashes.size() > 1 || !by_hash.count(hashes[0])) {
      for (const auto& name : names) {
        if (!name.starts_with(id + ".") || name == id + ".card") continue;
        auto other = PublicCard::LoadFile(dir + "/" + name);
        if (other.ok() && other->id == id) by_hash.emplace(CardHash(*other), *std::move(other));
      }
    }
    RegistryEntry entry;
    entry.role = role;
    int64_t last_expiry = 0;
    for (const auto& h : hashes) {
      auto found = by_hash.find(h);
      if (found == by_hash.end()) {
        if (!primary.ok() && hashes.size() == 1) return primary.status();
        return UnauthenticatedError(
            "registry " + path + ": card of " + id +
            " is not the one the enrolment key signed (it was replaced or is missing)");
      }
      if (found->second.ExpiredAt(now_ms)) {
        last_expiry = std::max(last_expiry, found->second.expires_ms);
        continue;
      }
      entry.cards.push_back(found->second);
    }
    if (entry.cards.empty()) {
      reg.expired_[id] = last_expiry;
      continue;
    }
    std::sort(entry.cards.begin(), entry.cards.end(), [](const PublicCard& a, const PublicCard& b) {
      return a.created_ms != b.created_ms ? a.created_ms > b.created_ms : a.expires_ms > b.expires_ms;
    });
    entry.card = entry.cards.front();
    reg.entries_[id] = std::move(entry);
  }
  // The archive: each retired card, found by its hash among ID.*.card.
  for (const RetiredLine& r : retired) {
    std::optional<PublicCard> found;
    for (const auto& name : names) {
      if (!name.starts_with(r.id + ".")) continue;
      auto card = PublicCard::LoadFile(dir + "/" + name);
      if (card.ok() && card->id == r.id && CardHash(*card) == r.hash) found = *std::move(card);
    }
    if (!found.has_value()) {
      return UnauthenticatedError("registry " + path + ": retired card of " + r.id +
                                  " is not the one the enrolment key signed (it was replaced or is missing)");
    }
    const int64_t until = found->expires_ms == 0 ? r.until_ms : std::min(r.until_ms, found->expires_ms);
    reg.retired_.push_back(RetiredCard{*std::move(found), until});
  }
  return reg;
}

Status Registry::Sign(const std::string& dir, const SecretBytes& enrolment_secret_key,
                      const std::map<std::string, std::string>& roles, const std::string& region,
                      int64_t now_ms) {
  // ID.card, or ID.SLOT.card (ID.next.card) beside it during a rotation.
  auto named_for = [](const std::string& stem, const std::string& id) {
    return stem == id || (stem.starts_with(id + ".") && stem.size() > id.size() + 1);
  };
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
  std::vector<PublicCard> retired;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.path().extension() != ".card") continue;
    KP_ASSIGN_OR_RETURN(PublicCard card, PublicCard::LoadFile(e.path().string()));
    if (!named_for(e.path().stem().string(), card.id)) {
      return InvalidArgumentError("card file " + e.path().string() + " holds participant " + card.id);
    }
    if (e.path().stem().string().starts_with(card.id + ".retired")) {  // the archive (expired or not)
      retired.push_back(std::move(card));
      continue;
    }
    if (card.ExpiredAt(now_ms)) {
      return FailedPreconditionError(
          "the card in " + e.path().string() + " (" + card.id + ", " + card.Fingerprint() + ") expired on " +
          FormatRfc3339Millis(card.expires_ms) + "; move it out of the folder before signing");
    }
    bool dup = false;
    for (const auto& c : cards) dup = dup || c.CanonicalBytes() == card.CanonicalBytes();
    if (!dup) cards.push_back(std::move(card));
  }
  if (ec) return UnavailableError("cannot read folder " + dir + ": " + ec.message());
  for (const auto& [id, role] : roles) {
    bool found = false;
    for (const auto& c : cards) found = found || c.id == id;
    if (!found) return NotFoundError("a role is given for " + id + ", but " + dir + " has no card for it");
    KP_RETURN_IF_ERROR(ValidateParticipantId(role, "role"));
  }
  std::sort(cards.begin(), cards.end(), [](const PublicCard& a, const PublicCard& b) {
    return a.id != b.id ? a.id < b.id : a.created_ms < b.created_ms;
  });
  std::map<std::string, size_t> per_id;
  for (const auto& c : cards) {
    if (++per_id[c.id] > kMaxCardsPerId) {
      return InvalidArgumentError(dir + " holds more than " + std::to_string(kMaxCardsPerId) + " cards of " +
                                  c.id + "; move the old ones out");
    }
  }
  std::string body(kMagic);
  body += "region: " + region + "\n";
  body += "serial: " + std::to_string(serial) + "\n";
  body += "issued: " + FormatRfc3339Millis(now_ms) + "\n";
  for (const auto& c : cards) {
    auto r = roles.find(c.id);
    body += "participant: " + c.id + " " + (r == roles.end() ? "-" : r->second) + " " + CardHash(c) + "\n";
  }
  if (retired.size() > kMaxRetiredCards)
    return InvalidArgumentError(dir + " holds more than 1000 retired cards");
  std::sort(retired.begin(), retired.end(), [](const PublicCard& a, const PublicCard& b) {
    return a.id != b.id ? a.id < b.id : a.created_ms < b.created_ms;
  });
  for (size_t i = 0; i < retired.size(); ++i) {
    const std::string hash = CardHash(retired[i]);
    for (const auto& c : cards) {
      if (CardHash(c) == hash) {
        return InvalidArgumentError("the card " + retired[i].Fingerprint() + " of " + c.id +
                                    " is both listed and retired; remove one of its files");
      }
    }
    if (i > 0 && CardHash(retired[i - 1]) == hash) continue;
    // Retired since the signing that first listed it as retired.
    int64_t until = now_ms;
    if (old.ok()) {
      const std::string prefix = "\nretired: " + retired[i].id + " " + hash + " ";
      if (size_t p = old->find(prefix); p != std::string::npos) {
        const size_t from = p + prefix.size();
        auto t = ParseRfc3339Millis(old->substr(from, old->find('\n', from) - from));
        if (t.ok()) until = *t;
      }
    }
    if (retired[i].expires_ms != 0) until = std::min(until, retired[i].expires_ms);
    body += "retired: " + retired[i].id + " " + hash + " " + FormatRfc3339Millis(until) + "\n";
  }
  std::string signed_bytes(kDomain);
  signed_bytes += body;
  body += std::string(kSignatureKey) + Base64Encode(Ed25519Sign(enrolment_secret_key, signed_bytes)) + "\n";
  return WriteFileDurable(dir + "/" + kRegistryManifestName, body, 0644, WriteMode::kReplace);
}

}  // namespace kp
