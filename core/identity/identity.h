// Identity: a participant's secret keys, made on its own machine.
//
// Three distinct key pairs: Ed25519 (signing), X25519 (sealing), and a
// Curve25519 pair for CurveZMQ transport. The secret halves live in
// SecretBytes (locked, wiped). The identity file (docs/formats.md §1) is text
// so a person can see what it is, mode 0600, with a checksum so that a
// truncated or edited file is refused; it is read straight into locked memory.
// A coordinator's or privacy officer's file may be protected with a
// passphrase (§1.2, protected_identity.h); gateways and agents start
// unattended and keep theirs unprotected.
//
// Move-only; thread-safe for concurrent reads after loading.
#ifndef KETENPOORT_CORE_IDENTITY_IDENTITY_H_
#define KETENPOORT_CORE_IDENTITY_IDENTITY_H_

#include <functional>
#include <string>
#include <vector>

#include "core/base/status.h"
#include "core/crypto/ed25519.h"
#include "core/crypto/pwhash.h"
#include "core/crypto/x25519.h"
#include "core/identity/participant.h"
#include "core/identity/public_card.h"

namespace kp {

inline constexpr size_t kMaxIdentityFileBytes = 4096;

// Asked for the passphrase of the protected identity file at `path` (only
// when the file is protected, and only after its header parsed). An error it
// returns (no terminal, cancelled) is returned by the load as it is.
using PassphraseProvider = std::function<Result<SecretBytes>(const std::string& path)>;

class Identity {
 public:
  // Fresh keys. Validates id and partner; agents and coordinators need a
  // partner (a coordinator's is its team, e.g. "veiligheidsteam").
  static Result<Identity> Generate(const std::string& id, ParticipantKind kind, const std::string& partner,
                                   int64_t created_ms);

  // Loads an identity file: refuses a file others can read or write, a
  // truncated or edited file (checksum), and keys whose halves disagree.
  // Every error names the file. A protected file (§1.2) is refused with
  // FailedPrecondition ("... is protected with a passphrase; ...").
  static Result<Identity> LoadFile(const std::string& path);

  // As above; a protected file is opened with the passphrase `passphrase`
  // gives (an empty function: none, as above). A wrong passphrase:
  // Unauthenticated, which cannot tell it from a changed file.
  static Result<Identity> LoadFile(const std::string& path, const PassphraseProvider& passphrase);

  // The same from a file's bytes (`path` only names it in errors and for
  // `passphrase`). For tests and fuzzers; callers load files.
  static Result<Identity> FromFileText(const SecretBytes& text, const std::string& path,
                                       const PassphraseProvider& passphrase);

  // The file text, in locked memory (it contains the secret keys).
  SecretBytes ToFileText() const;

  // The protected file text (§1.2): ToFileText() sealed under `passphrase`.
  // Checks the passphrase with CheckNewPassphrase.
  Result<std::string> ToProtectedFileText(const SecretBytes& passphrase, const PwhashLimits& limits) const;

  // The self-signed public card: version 2 expiring at `expires_ms`, or
  // version 1 (never expires) when it is 0. The expiry lives only in the card
  // (the secret file has none), so a card can be made again with another one.
  PublicCard MakeCard(int64_t expires_ms = 0) const;

  // OK when `card` has this identity's id, kind, partner and public keys.
  Status MatchesCard(const PublicCard& card) const;

  // Key rotation (docs/formats.md §2.4): loads the other key sets beside the
  // identity file at `path` (ID.next.secret, ID.previous.secret), when there,
  // so that messages sealed to their cards can be opened too. Each must be of
  // the same participant. Returns how many it added. A protected one is
  // opened with `passphrase` (none: refused as in LoadFile).
  Result<int> LoadKeyRing(const std::string& path, const PassphraseProvider& passphrase = {});
  // The sealing key pairs to open with: this identity's first, then those
  // LoadKeyRing added. Borrowed: valid while this Identity lives, unmoved.
  std::vector<const X25519KeyPair*> SealingRing() const;
  // The signing key pairs of the key sets LoadKeyRing added (not this
  // identity's): what an audit log that the previous key signed is handed
  // over from (core/audit/key_handover.h). Borrowed as SealingRing's.
  std::vector<const Ed25519KeyPair*> OtherSigningKeys() const;

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
  std::vector<X25519KeyPair> ring_;           // sealing pairs of the other key sets
  std::vector<Ed25519KeyPair> signing_ring_;  // their signing pairs
};

// Paths of the two files `ketenpoort keygen` writes for participant `id`.
// `slot` names a key set of a rotation (docs/formats.md §2.4): "" is the
// active one (DIR/ID.secret, DIR/ID.card), "next" the one made by
// `keygen --rotate` (DIR/ID.next.secret), "previous" the one `--activate`
// retired (DIR/ID.previous.secret).
std::string IdentityFilePath(const std::string& dir, const std::string& id, std::string_view slot = {});
std::string CardFilePath(const std::string& dir, const std::string& id, std::string_view slot = {});

// How `keygen --passphrase` protects a new identity file. `passphrase` is
// borrowed: it must live while WriteIdentityFiles runs.
struct IdentityProtection {
  const SecretBytes* passphrase = nullptr;
  PwhashLimits limits = DefaultPwhashLimits();
};

// Writes DIR/ID.secret (0600, never overwriting; protected when `protection`
// is given) and DIR/ID.card (0644; version 2 expiring at `expires_ms`, or
// version 1 when it is 0), or the files of another `slot`. Refuses a DIR that
// group or others can write.
Status WriteIdentityFiles(const std::string& dir, const Identity& identity,
                          const IdentityProtection* protection = nullptr, int64_t expires_ms = 0,
                          std::string_view slot = {});

}  // namespace kp

#endif  // KETENPOORT_CORE_IDENTITY_IDENTITY_H_
