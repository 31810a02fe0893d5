// Checkpoints: the C2SP tlog-checkpoint format inside a C2SP signed note,
// signed with Ed25519 (docs/audit-log-format.md, "Checkpoints").
//
//   <origin>\n
//   <tree size, decimal>\n
//   <root hash, standard base64>\n
//   [extension lines]\n
//   \n
//   — <key name> <base64(key hash[4] || Ed25519 signature[64])>\n
//
// The key hash is the first four bytes of SHA-256(key name || 0x0A || 0x01 ||
// public key); the signature covers the note text (every line above the blank
// line, each with its newline). A verifier key is written
// "<key name>+<key hash, 8 hex digits>+<base64(0x01 || public key)>".
//
// The parsers read untrusted bytes (checkpoints handed around by agents and
// privacy officers): they never crash, cap their input at kMaxNoteBytes and
// return InvalidArgument for malformed text, Unauthenticated when no
// signature of the expected key verifies. Thread-safe (pure functions), except
// LogSigner which is immutable after creation.
#ifndef KETENPOORT_CORE_AUDIT_CHECKPOINT_H_
#define KETENPOORT_CORE_AUDIT_CHECKPOINT_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/status.h"
#include "core/crypto/secret_bytes.h"

namespace kp::audit {

inline constexpr size_t kMaxNoteBytes = 64 * 1024;
inline constexpr size_t kMaxNoteSignatures = 64;
// The signature algorithm byte of Ed25519 in C2SP signed notes.
inline constexpr uint8_t kNoteAlgEd25519 = 0x01;

struct Checkpoint {
  std::string origin;
  uint64_t size = 0;
  std::string root;                     // 32 bytes
  std::vector<std::string> extensions;  // extra body lines, without newline
};

// The note body of a checkpoint, ending in a newline.
std::string FormatCheckpointBody(const Checkpoint& checkpoint);
Result<Checkpoint> ParseCheckpointBody(std::string_view body);

// A public verifier key.
struct NoteVerifierKey {
  std::string name;
  uint32_t key_hash = 0;
  std::string public_key;  // 32 bytes
};

// "name+hash+base64(0x01||pk)".
std::string FormatVerifierKey(const NoteVerifierKey& key);
Result<NoteVerifierKey> ParseVerifierKey(std::string_view text);
// Builds the verifier key of `public_key` under `name` (checks the name).
Result<NoteVerifierKey> MakeVerifierKey(std::string_view name, std::string_view public_key);
uint32_t NoteKeyHash(std::string_view name, std::string_view public_key);
// Key names: non-empty, printable ASCII, no spaces and no '+'.
Status CheckKeyName(std::string_view name);

struct NoteSignature {
  std::string name;
  uint32_t key_hash = 0;
  std::string signature;  // the bytes after the 4-byte key hash
};

struct SignedNote {
  std::string text;  // the signed body, ending in "\n"
  std::vector<NoteSignature> signatures;
};

// Splits a note into text and signature lines (no verification).
Result<SignedNote> ParseSignedNote(std::string_view note);
// Parses, verifies a signature by `key` and parses the checkpoint body. The
// checkpoint's origin must equal `expected_origin` when that is non-empty.
Result<Checkpoint> OpenCheckpoint(std::string_view note, const NoteVerifierKey& key,
                                  std::string_view expected_origin);

// The log's signing identity: an Ed25519 key pair and the origin line naming
// the log. The key name is the origin. The caller owns where the secret comes
// from (an identity file, an HSM later); this object keeps it in locked
// memory. Immutable after Create; thread-safe.
class LogSigner {
 public:
  // `secret_key` is libsodium's 64-byte form; it must match `public_key`.
  static Result<LogSigner> Create(std::string origin, std::string public_key, SecretBytes secret_key);

  const std::string& origin() const { return origin_; }
  const std::string& public_key() const { return public_key_; }
  const NoteVerifierKey& verifier_key() const { return verifier_; }
  // The complete signed note of `checkpoint` (origin must be ours).
  std::string Sign(const Checkpoint& checkpoint) const;
  // This key's signature line ("— name base64...\n") over a note's `text`
  // (the body, ending in a newline): a second signature on a note
  // (a key handover, key_handover.h).
  std::string SignatureLine(std::string_view text) const;

 private:
  LogSigner() = default;
  std::string origin_;
  std::string public_key_;
  SecretBytes secret_key_;
  NoteVerifierKey verifier_;
};

}  // namespace kp::audit

#endif  // KETENPOORT_CORE_AUDIT_CHECKPOINT_H_
