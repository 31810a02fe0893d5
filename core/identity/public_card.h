// PublicCard: what a participant hands to the region to be enrolled.
//
// A card names the participant (id, kind, partner) and carries its three
// public keys: Ed25519 for signatures, X25519 for sealed boxes, and the
// Curve25519 key of its CurveZMQ transport. It is self-signed with the
// signing key over CanonicalBytes() (docs/formats.md §2), which proves
// possession of that key — not that the region trusts it: that is what the
// enrolment key's signature on the registry adds (DESIGN.md §3).
//
// The fingerprint (16 Crockford base32 characters in four groups) is read out
// over the phone when the card is handed over. A value type; thread-compatible.
//
// Two versions (docs/formats.md §2): version 2 carries `expires`, which is in
// the canonical bytes (so in the fingerprint and the self-signature); version
// 1 has none and never expires, so cards made before expiry existed keep their
// fingerprints. `keygen` writes version 2.
#ifndef KETENPOORT_CORE_IDENTITY_PUBLIC_CARD_H_
#define KETENPOORT_CORE_IDENTITY_PUBLIC_CARD_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "core/base/status.h"
#include "core/identity/participant.h"

namespace kp {

inline constexpr size_t kMaxCardFileBytes = 8 * 1024;
// How long `keygen` makes a card valid unless told otherwise.
inline constexpr int64_t kDefaultCardValidDays = 730;
inline constexpr int64_t kMillisPerDay = 24LL * 3600 * 1000;

struct PublicCard {
  std::string id;
  ParticipantKind kind = ParticipantKind::kAgent;
  std::string partner;        // may be empty for gateway / privacy-officer / enrolment
  int64_t created_ms = 0;
  int version = 1;            // 1 or 2
  int64_t expires_ms = 0;     // version 2 only (> created_ms); 0 in version 1: never expires
  std::string signing_key;    // Ed25519, 32 bytes
  std::string sealing_key;    // X25519, 32 bytes
  std::string transport_key;  // CurveZMQ (X25519), 32 bytes
  std::string self_signature; // Ed25519 over CanonicalBytes(), 64 bytes

  // The exact bytes that are signed and fingerprinted (docs/formats.md §2).
  std::string CanonicalBytes() const;
  // True when the card has an expiry and `now_ms` is at or past it.
  bool ExpiredAt(int64_t now_ms) const { return expires_ms != 0 && now_ms >= expires_ms; }
  // "expires 2028-11-30T10:00:00.000Z" or "never expires (version-1 card)".
  std::string ExpiryText() const;
  // "7KQ2-M9XD-41TZ-8HPA".
  std::string Fingerprint() const;
  // The transport key in Z85 (40 characters), as ZeroMQ writes it.
  std::string TransportKeyZ85() const;

  // The YAML text of the card file.
  std::string ToYaml() const;

  // Parses and checks a card: every field present and well-formed, the
  // fingerprint line matching, the self-signature valid. `source` (a file
  // name) prefixes every error. Unauthenticated when the signature or the
  // fingerprint does not match; InvalidArgument for anything malformed.
  static Result<PublicCard> Parse(std::string_view yaml_text, const std::string& source);
  static Result<PublicCard> LoadFile(const std::string& path);
};

}  // namespace kp

#endif  // KETENPOORT_CORE_IDENTITY_PUBLIC_CARD_H_
