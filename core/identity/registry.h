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
// Registry is an immutable value after Load; thread-safe to read.
#ifndef KETENPOORT_CORE_IDENTITY_REGISTRY_H_
#define KETENPOORT_CORE_IDENTITY_REGISTRY_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/status.h"
#include "core/crypto/secret_bytes.h"
#include "core/identity/public_card.h"

namespace kp {

inline constexpr char kRegistryManifestName[] = "registry.signed";

struct RegistryEntry {
  PublicCard card;
  std::string role;  // e.g. "casusregisseur"; may be empty
};

class Registry {
 public:
  // Loads DIR/registry.signed and every card it lists (DIR/ID.card), and
  // checks them: the manifest's signature by `enrolment_public_key`, each
  // card's self-signature and its hash in the manifest. Unauthenticated on
  // any signature or hash mismatch; InvalidArgument when malformed;
  // FailedPrecondition when the serial is below `min_serial`.
  static Result<Registry> Load(const std::string& dir, const std::string& enrolment_public_key,
                               uint64_t min_serial = 0);

  // The same, for manifest text already read (`dir` holds the cards).
  static Result<Registry> FromManifest(std::string_view text, const std::string& dir,
                                       const std::string& enrolment_public_key, uint64_t min_serial = 0);

  // Writes DIR/registry.signed for the cards in DIR, signed with the
  // enrolment key. `roles` maps participant id -> role. The serial is one
  // above the existing manifest's (1 for the first).
  static Status Sign(const std::string& dir, const SecretBytes& enrolment_secret_key,
                     const std::map<std::string, std::string>& roles, const std::string& region,
                     int64_t now_ms);

  uint64_t serial() const { return serial_; }
  const std::string& region() const { return region_; }
  int64_t issued_ms() const { return issued_ms_; }
  const std::map<std::string, RegistryEntry>& entries() const { return entries_; }
  // NotFound when `id` is not enrolled.
  Result<const RegistryEntry*> Find(const std::string& id) const;

 private:
  uint64_t serial_ = 0;
  std::string region_;
  int64_t issued_ms_ = 0;
  std::map<std::string, RegistryEntry> entries_;
};

}  // namespace kp

#endif  // KETENPOORT_CORE_IDENTITY_REGISTRY_H_
