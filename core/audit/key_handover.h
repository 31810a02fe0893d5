// Key handovers: how an audit log goes on across a change of its signing key
// (a key rotation, docs/formats.md §2.4; docs/audit-log-format.md, "Key
// handover").
//
// When a writer opens a log whose log.vkey names the previous key of its key
// ring, it signs one handover note before anything else: a checkpoint of the
// whole log as it is, with two extension lines naming the old and the new
// verifier key, signed by BOTH keys. It is kept in DIR/handovers/N (N the
// handover's number from 0, 20 digits) and doubles as the checkpoint of that
// size; from then on checkpoints are signed by the new key and log.vkey names
// it. A verifier builds the log's key chain from the handovers and accepts a
// checkpoint of size S only by the key in force at S: key i for sizes from
// handover i-1's size up to handover i's size. So a retired key can never sign
// past its handover, and a key is only ever trusted through a handover the
// key before it signed.
//
// The parsers read untrusted bytes: they never crash and return
// InvalidArgument for malformed text, Unauthenticated for a signature that
// does not verify and DataLoss for a broken chain. Thread-safe (pure
// functions and immutable values).
#ifndef KETENPOORT_CORE_AUDIT_KEY_HANDOVER_H_
#define KETENPOORT_CORE_AUDIT_KEY_HANDOVER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/audit/checkpoint.h"
#include "core/audit/storage.h"
#include "core/base/status.h"
#include "core/crypto/ed25519.h"

namespace kp::audit {

inline constexpr std::string_view kHandoversDirName = "handovers";
inline constexpr std::string_view kHandoverFromPrefix = "ketenpoort-key-handover-from ";
inline constexpr std::string_view kHandoverToPrefix = "ketenpoort-key-handover-to ";
// More than this many handovers in one folder is refused (a key is rotated
// every year or two).
inline constexpr size_t kMaxKeyHandovers = 1000;

struct KeyHandover {
  Checkpoint checkpoint;  // the log as the old key handed it over (extensions included)
  NoteVerifierKey from;
  NoteVerifierKey to;
  std::string note;
};

// The handover note at `checkpoint` (its origin must be both signers'),
// signed by `from` and then by `to`. The two key lines are appended to the
// checkpoint's extensions.
std::string SignKeyHandover(const Checkpoint& checkpoint, const LogSigner& from, const LogSigner& to);

// Parses a handover note and checks it: exactly one line of each key, both
// keys Ed25519 of the note's origin (which must be `expected_origin` when
// that is non-empty) and different, a valid signature by each.
Result<KeyHandover> OpenKeyHandover(std::string_view note, std::string_view expected_origin);

// Log signers of `origin` for a key ring's other signing keys
// (Identity::OtherSigningKeys): LogWriterOptions::previous_signers.
Result<std::vector<std::shared_ptr<const LogSigner>>> PreviousLogSigners(
    const std::string& origin, const std::vector<const Ed25519KeyPair*>& keys);

// File name of handover `n` in DIR/handovers/.
std::string HandoverFileName(uint64_t n);
// True for a handover's file name (20 digits); other files in the folder (a
// temporary file a crash left) are not handovers.
bool IsHandoverFileName(std::string_view name);

// A log's signing keys in order, joined by handovers.
class KeyChain {
 public:
  // Only `key`, no handover.
  explicit KeyChain(NoteVerifierKey key);

  // Reads DIR/handovers/ (none: the chain of `anchor` alone) and checks
  // every handover and that they join: handover i hands over from the key
  // handover i-1 handed over to, at a size not below it. `anchor` (the
  // pinned key, or the folder's log.vkey) must be one of the chain's keys:
  // trusting one key of a chain trusts the others only through the
  // handovers each pair signed together.
  static Result<KeyChain> Load(Storage& storage, const std::string& dir, const NoteVerifierKey& anchor);

  // Verifies a checkpoint note by the key in force at its size (either key
  // at a handover's own size). `origin` as OpenCheckpoint's.
  Result<Checkpoint> Open(std::string_view note, std::string_view origin) const;

  const std::vector<NoteVerifierKey>& keys() const { return keys_; }
  const std::vector<KeyHandover>& handovers() const { return handovers_; }
  const NoteVerifierKey& current() const { return keys_.back(); }

 private:
  KeyChain() = default;
  std::vector<NoteVerifierKey> keys_;   // oldest first
  std::vector<KeyHandover> handovers_;  // handovers_[i]: keys_[i] -> keys_[i + 1]
};

}  // namespace kp::audit

#endif  // KETENPOORT_CORE_AUDIT_KEY_HANDOVER_H_
