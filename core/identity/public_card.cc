#include "core/identity/public_card.h"

#include <yaml-cpp/yaml.h>

#include <map>
#include <set>

#include "core/base/clock.h"
#include "core/base/encoding.h"
#include "core/base/file_util.h"
#include "core/crypto/ed25519.h"
#include "core/crypto/sha256.h"

namespace kp {
namespace {

constexpr std::string_view kCardDomain("ketenpoort/v1/card\0", 19);
constexpr std::string_view kCardDomainV2("ketenpoort/v2/card\0", 19);
constexpr char kCrockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

Status CardError(const std::string& source, StatusCode code, const std::string& msg) {
  return Status(code, "public card " + source + ": " + msg);
}

}  // namespace

std::string PublicCard::CanonicalBytes() const {
  // Version 2 has its own domain, so no version-1 signature can be read as a
  // version-2 card or the other way round.
  std::string out(version == 2 ? kCardDomainV2 : kCardDomain);
  AppendLengthPrefixed(out, id);
  AppendLengthPrefixed(out, ParticipantKindName(kind));
  AppendLengthPrefixed(out, partner);
  AppendU64BE(out, static_cast<uint64_t>(created_ms));
  if (version == 2) AppendU64BE(out, static_cast<uint64_t>(expires_ms));
  AppendLengthPrefixed(out, signing_key);
  AppendLengthPrefixed(out, sealing_key);
  AppendLengthPrefixed(out, transport_key);
  return out;
}

std::string PublicCard::Fingerprint() const {
  Sha256Digest d = Sha256(CanonicalBytes());
  // The first 80 bits, 5 bits per character: 16 characters.
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  size_t byte = 0;
  while (out.size() < 19) {
    if ((out.size() + 1) % 5 == 0) {
      out.push_back('-');
      continue;
    }
    if (bits < 5) {
      buffer = (buffer << 8) | d[byte++];
      bits += 8;
    }
    out.push_back(kCrockford[(buffer >> (bits - 5)) & 31]);
    bits -= 5;
  }
  return out;
}

std::string PublicCard::ExpiryText() const {
  if (expires_ms == 0) return "never expires (version-1 card)";
  return "expires " + FormatRfc3339Millis(expires_ms);
}

std::string PublicCard::TransportKeyZ85() const { return Z85Encode(transport_key).value(); }

std::string PublicCard::ToYaml() const {
  std::string y;
  y += "# Ketenpoort public card. It holds public keys only and is safe to share.\n";
  y += "# Read the fingerprint out over the phone when you hand this card over.\n";
  y += "ketenpoort-card: " + std::to_string(version) + "\n";
  y += "id: " + id + "\n";
  y += "kind: " + std::string(ParticipantKindName(kind)) + "\n";
  y += "partner: '" + partner + "'\n";
  y += "created: " + FormatRfc3339Millis(created_ms) + "\n";
  if (version == 2) y += "expires: " + FormatRfc3339Millis(expires_ms) + "\n";
  y += "signing-key: " + Base64Encode(signing_key) + "    # Ed25519\n";
  y += "sealing-key: " + Base64Encode(sealing_key) + "    # X25519\n";
  y += "transport-key: '" + TransportKeyZ85() + "'    # CurveZMQ, Z85\n";
  y += "fingerprint: " + Fingerprint() + "\n";
  y += "self-signature: " + Base64Encode(self_signature) + "\n";
  return y;
}

Result<PublicCard> PublicCard::Parse(std::string_view yaml_text, const std::string& source) {
  const StatusCode kBad = StatusCode::kInvalidArgument;
  if (yaml_text.size() > kMaxCardFileBytes) return CardError(source, kBad, "file is too large for a card");
  std::map<std::string, std::string> fields;
  try {
    YAML::Node root = YAML::Load(std::string(yaml_text));
    if (!root.IsMap()) return CardError(source, kBad, "not a card (expected key: value lines)");
    for (const auto& kv : root) {
      if (!kv.first.IsScalar() || !kv.second.IsScalar()) {
        return CardError(source, kBad, "every entry must be a single 'key: value' line");
      }
      fields[kv.first.as<std::string>()] = kv.second.as<std::string>();
    }
  } catch (const YAML::Exception& e) {
    return CardError(source, kBad, "not valid YAML (line " + std::to_string(e.mark.line + 1) + ")");
  }
  static const std::set<std::string> kKeys = {"ketenpoort-card", "id",          "kind",          "partner",
                                              "created",         "signing-key", "sealing-key",   "transport-key",
                                              "fingerprint",     "self-signature"};
  const std::string version = fields.count("ketenpoort-card") ? fields["ketenpoort-card"] : "";
  if (fields.count("ketenpoort-card") && version != "1" && version != "2") {
    return CardError(source, kBad,
                     "unsupported card version '" + version.substr(0, 10) +
                         "' (this Ketenpoort reads versions 1 and 2; a newer card needs a newer Ketenpoort)");
  }
  for (const auto& [k, v] : fields) {
    if (!kKeys.count(k) && !(k == "expires" && version == "2")) {
      return CardError(source, kBad, "unknown entry '" + k.substr(0, 40) + "'");
    }
  }
  for (const auto& k : kKeys) {
    if (!fields.count(k)) return CardError(source, kBad, "missing entry '" + k + "'");
  }
  if (version == "2" && !fields.count("expires")) return CardError(source, kBad, "missing entry 'expires'");

  PublicCard card;
  card.version = version == "2" ? 2 : 1;
  card.id = fields["id"];
  card.partner = fields["partner"];
  Status s = ValidateParticipantId(card.id, "id");
  if (s.ok() && !card.partner.empty()) s = ValidateParticipantId(card.partner, "partner");
  if (!s.ok()) return CardError(source, kBad, s.message());
  auto kind = ParseParticipantKind(fields["kind"]);
  if (!kind.ok()) return CardError(source, kBad, kind.status().message());
  card.kind = *kind;
  auto created = ParseRfc3339Millis(fields["created"]);
  if (!created.ok()) return CardError(source, kBad, "created: " + created.status().message());
  card.created_ms = *created;
  if (card.version == 2) {
    auto expires = ParseRfc3339Millis(fields["expires"]);
    if (!expires.ok()) return CardError(source, kBad, "expires: " + expires.status().message());
    if (*expires <= card.created_ms) return CardError(source, kBad, "expires must be after created");
    card.expires_ms = *expires;
  }

  auto decode = [&](const std::string& key, size_t len, std::string& out) -> Status {
    auto raw = Base64Decode(fields[key]);
    if (!raw.ok() || raw->size() != len) {
      return CardError(source, kBad, key + " must be " + std::to_string(len) + " bytes in base64");
    }
    out = *raw;
    return OkStatus();
  };
  KP_RETURN_IF_ERROR(decode("signing-key", kEd25519PublicKeyBytes, card.signing_key));
  KP_RETURN_IF_ERROR(decode("sealing-key", 32, card.sealing_key));
  KP_RETURN_IF_ERROR(decode("self-signature", kEd25519SignatureBytes, card.self_signature));
  auto transport = Z85Decode(fields["transport-key"]);
  if (!transport.ok() || transport->size() != 32) {
    return CardError(source, kBad, "transport-key must be 40 characters of Z85");
  }
  card.transport_key = *transport;
  if (card.signing_key == card.sealing_key || card.signing_key == card.transport_key ||
      card.sealing_key == card.transport_key) {
    return CardError(source, kBad, "the three keys must be distinct");
  }

  if (!Ed25519Verify(card.signing_key, card.CanonicalBytes(), card.self_signature).ok()) {
    return CardError(source, StatusCode::kUnauthenticated,
                     "self-signature does not verify: the card was changed after it was made");
  }
  if (fields["fingerprint"] != card.Fingerprint()) {
    return CardError(source, StatusCode::kUnauthenticated, "fingerprint line does not match the keys");
  }
  return card;
}

Result<PublicCard> PublicCard::LoadFile(const std::string& path) {
  auto text = ReadFileBounded(path, kMaxCardFileBytes);
  if (!text.ok()) return text.status().WithContext("public card");
  return Parse(*text, path);
}

}  // namespace kp
