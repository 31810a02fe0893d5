// Registry: the enrolment-signed list of who takes part (DESIGN.md §3).
//
// A registry folder holds the participants' public cards (ID.card) and one
// manifest, `registry.signed`, signed by the region's enrolment key — a key
// the gateway does not hold. Every participant pins the enrolment public key
// and accepts a card only when the signed manifest lists it, with the SHA-256
// of its canonical bytes, and the role it has. So a gateway that could hand
// out keys still cannot make an agent trust a coordinator the region never
// enrolled. Format: docs/formats.md §3.
//
// Manifest serial numbers only go up; a holder that remembers the highest
// serial it accepted refuses an older (rolled-back) registry.
//
// Keys expire and rotate (docs/formats.md §2.4, §3): a manifest may list one
// id with several cards (an old and a new key set, for an overlap period),
// each found by its hash. Loading drops the cards that have expired; the
// entry keeps the others, newest first. Signatures by any of them verify;
// messages are sealed to the newest (`card`). An id whose cards have all
// expired is not enrolled (Find says that it expired).
//
// Registry is an immutable value after Load; thread-safe to read.
#ifndef KETENPOORT_CORE_IDENTITY_REGISTRY_H_
#define KETENPOORT_CORE_IDENTITY_REGISTRY_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/status.h"
#include "core/crypto/secret_bytes.h"
#include "core/identity/identity.h"
#include "core/identity/public_card.h"

namespace kp {

inline constexpr char kRegistryManifestName[] = "registry.signed";

struct RegistryEntry {
  PublicCard card;   // the newest valid card: seal to this one
  std::string role;  // e.g. "casusregisseur"; may be empty
  // Every valid card of the id, newest first (cards[0] is `card`); two
  // during a key rotation's overlap.
  std::vector<PublicCard> cards;

  // The signing keys of `cards`, to verify this participant's signatures.
  std::vector<std::string> SigningKeys() const;
  // The latest expiry among `cards` (0: one of them never expires).
  int64_t ExpiresMs() const;
};

// One participant's card expiry, for `status` and metrics (warn ahead).
struct CardExpiry {
  std::string id;
  std::string fingerprint;   // of the card that expires last
  int64_t expires_ms = 0;    // 0: never (a version-1 card)
  int64_t seconds_left = 0;  // 0 when it never expires
  bool warn = false;         // expires within kCardExpiryWarnDays
};
inline constexpr int64_t kCardExpiryWarnDays = 30;

// A retired card the registry keeps in its archive (docs/formats.md §3,
// `retired:`): its key verifies signatures made before `until_ms` only (old
// case history, stored deliveries), never a new message, never sealing or
// transport. Its id need not be enrolled any more.
struct RetiredCard {
  PublicCard card;
  int64_t until_ms = 0;  // the retirement moment (at the latest the card's expiry)
};
inline constexpr size_t kMaxRetiredCards = 1000;

class Registry {
 public:
  // Loads DIR/registry.signed and every card it lists (DIR/ID.card), and
  // checks them: the manifest's signature by `enrolment_public_key`, each
  // card's self-signature and its hash in the manifest. Unauthenticated on
  // any signature or hash mismatch; InvalidArgument when malformed;
  // FailedPrecondition when the serial is below `min_serial`.
  // Cards expired at `now_ms` (-1: the system clock) are dropped.
  static Result<Registry> Load(const std::string& dir, const std::string& enrolment_public_key,
                               uint64_t min_serial = 0, int64_t now_ms = -1);

  // The same, for manifest text already read (`dir` holds the cards).
  static Result<Registry> FromManifest(std::string_view text, const std::string& dir,
                                       const std::string& enrolment_public_key, uint64_t min_serial = 0,
                                       int64_t now_ms = -1);

  // Writes DIR/registry.signed for the cards in DIR (ID.card, and ID.SLOT.card
  // such as ID.next.card during a rotation), signed with the enrolment key.
  // A card named ID.retired*.card (e.g. ID.retired-2026.card) is listed as
  // retired, expired or not, until the moment of the signing that first
  // listed it (kept from the existing manifest) or its expiry if earlier.
  // `roles` maps participant id -> role. The serial is one above the existing
  // manifest's (1 for the first). Refuses a card that expired by `now_ms`.
  static Status Sign(const std::string& dir, const SecretBytes& enrolment_secret_key,
                     const std::map<std::string, std::string>& roles, const std::string& region,
                     int64_t now_ms);

  uint64_t serial() const { return serial_; }
  const std::string& region() const { return region_; }
  int64_t issued_ms() const { return issued_ms_; }
  const std::map<std::string, RegistryEntry>& entries() const { return entries_; }
  // NotFound when `id` is not enrolled, or when all its cards have expired
  // (the message says so).
  Result<const RegistryEntry*> Find(const std::string& id) const;
  // Ids listed in the manifest whose every card had expired when loaded,
  // with the expiry of the last one.
  const std::map<std::string, int64_t>& expired() const { return expired_; }
  // The archive of retired cards (ID.retired*.card in the folder), by id.
  const std::vector<RetiredCard>& retired() const { return retired_; }

 private:
  uint64_t serial_ = 0;
  std::string region_;
  int64_t issued_ms_ = 0;
  std::map<std::string, RegistryEntry> entries_;
  std::map<std::string, int64_t> expired_;
  std::vector<RetiredCard> retired_;
};

// OK when `identity` is one of the entry's cards (during a rotation, the old
// or the new key set); FailedPrecondition naming the id otherwise.
Status MatchesEntry(const Identity& identity, const RegistryEntry& entry);
// True when one of the entry's cards has the signing and transport keys of
// `card` (a pinned card, e.g. the gateway's).
bool ListsCard(const RegistryEntry& entry, const PublicCard& card);

// Each enrolled participant's card expiry at `now_ms`, by id; `warn` within
// kCardExpiryWarnDays. For `status` and the metrics.
std::vector<CardExpiry> CardExpiries(const Registry& registry, int64_t now_ms);

// Every signing key the registry vouches for, with the moment before which a
// signature by it is accepted (0: always): each entry's cards (until their
// expiry) and the archive's retired cards (until their retirement). For the
// key resolvers of those who check stored, signed history (case chains,
// deliveries read again). Live messages are also checked for freshness.
void ForEachSigningKey(const Registry& registry,
                       const std::function<void(const std::string& id, const std::string& signing_key,
                                                int64_t valid_before_ms)>& fn);

// The pinned enrolment card at `path`, which a participant's configuration
// names and checks the registry's and the policy bundle's signatures with
// (docs/formats.md §2.4): loaded, of kind enrolment, and not expired at
// `now_ms`. An expired one is FailedPrecondition naming the file, the card
// and its expiry date.
Result<PublicCard> LoadPinnedEnrolmentCard(const std::string& path, int64_t now_ms);
// For `check`: a warning when the pinned enrolment card expires within
// kCardExpiryWarnDays of `now_ms`, else "".
std::string PinnedEnrolmentCardWarning(const PublicCard& card, const std::string& path, int64_t now_ms);

}  // namespace kp

#endif  // KETENPOORT_CORE_IDENTITY_REGISTRY_H_
