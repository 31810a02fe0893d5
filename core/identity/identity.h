// Identity: a participant's secret keys, made on its own machine.
//
// Three distinct key pairs: Ed25519 (signing), X25519 (sealing), and a
// Curve25519 pair for CurveZMQ transport. The secret halves live in
// SecretBytes (locked, wiped). The identity file (docs/formats.md §1) is text
// so a person can see what it is, mode 0600, with a checksum so that a
// truncated or edited file is refused; it is read straight into locked memory.
//
// Move-only; thread-safe for concurrent reads after loading.
#ifndef KETENPOORT_CORE_IDENTITY_IDENTITY_H_
#define KETENPOORT_CORE_IDENTITY_IDENTITY_H_

#include <string>

#include "core/base/status.h"
#include "core/crypto/ed25519.h"
#include "core/crypto/x25519.h"
#include "core/identity/participant.h"
#include "core/identity/public_card.h"

namespace kp {

inline constexpr size_t kMaxIdentityFileBytes = 4096;

class Identity {
 public:
  // Fresh keys. Validates id and partner; agents and coordinators need a
  // partner (a coordinator's is its team, e.g. "veiligheidsteam").
  static Result<Identity> Generate(const std::string& id, ParticipantKind kind, const std::string& partner,
                                   int64_t created_ms);

  // Loads an identity file: refuses a file others can read or write, a
  // truncated or edited file (checksum), and keys whose halves disagree.
  // Every error names the file.
  static Result<Identity> LoadFile(const std::string& path);

  // The file text, in locked memory (it contains the secret keys).
  SecretBytes ToFileText() const;

  // The self-signed public card.
  PublicCard MakeCard() const;

  // OK when `card` has this identity's id, kind, partner and public keys.
  Status MatchesCard(const PublicCard& card) const;

  const std::string& id() const { return id_; }
  ParticipantKind kind() const { return kind_; }
  const std::string& partner() const { return partner_; }
  int64_t created_ms() const { return created_ms_; }
  const Ed25519KeyPair& signing() const { return signing_; }
  const X25519KeyPair& sealing() const { return sealing_; }
  const X25519KeyPair& transport() const { return transport_; }

 private:
  Identity() = default;
  std::string id_;
  ParticipantKind kind_ = ParticipantKind::kAgent;
  std::string partner_;
  int64_t created_ms_ = 0;
  Ed25519KeyPair signing_;
  X25519KeyPair sealing_;
  X25519KeyPair transport_;
};

// Paths of the two files `ketenpoort keygen` writes for participant `id`.
std::string IdentityFilePath(const std::string& dir, const std::string& id);  // DIR/ID.secret
std::string CardFilePath(const std::string& dir, const std::string& id);      // DIR/ID.card

// Writes DIR/ID.secret (0600, never overwriting) and DIR/ID.card (0644).
// Refuses a DIR that group or others can write.
Status WriteIdentityFiles(const std::string& dir, const Identity& identity);

}  // namespace kp

#endif  // KETENPOORT_CORE_IDENTITY_IDENTITY_H_
