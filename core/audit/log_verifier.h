// Full verification of an audit log folder, as a privacy officer runs it on
// their own machine (`ketenpoort audit verify`):
//
//  * every record frame is intact (CRC), carries its own index, parses as an
//    AuditRecord with that index and an event;
//  * every record (or tombstone) hashes to the leaf the tree file holds, and
//    every interior node of the tree file is recomputed and compared;
//  * every checkpoint in the folder carries a valid signature of the log key
//    in force at its size and its root equals the recomputed root at its
//    size; no two disagree. A log whose key changed holds key handovers
//    (key_handover.h): each must be signed by both its keys and join the one
//    before, the given key must be one of the chain's, and a key signs only
//    up to its handover;
//  * every pinned (witnessed) checkpoint given by the caller verifies too and
//    is consistent with the log: a rewritten or truncated history fails.
//
// The first problem stops verification; the report names the first bad index
// and what is wrong. DataLoss for a broken chain, Unauthenticated for a bad
// signature. O(n) time, O(log n) memory. Thread-compatible.
//
// Trust: with no `key`, the folder's own DIR/log.vkey is used, so whoever can
// rewrite the folder can also replace the key and re-sign everything; only a
// pinned key or a checkpoint kept elsewhere makes the check independent.
#ifndef KETENPOORT_CORE_AUDIT_LOG_VERIFIER_H_
#define KETENPOORT_CORE_AUDIT_LOG_VERIFIER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/audit/checkpoint.h"
#include "core/audit/storage.h"
#include "core/base/status.h"

namespace kp::audit {

struct VerifyOptions {
  // The log's verifier key; null means the folder's own log.vkey.
  std::optional<NoteVerifierKey> key;
  // Signed checkpoint notes kept by witnesses (agents, privacy officers).
  std::vector<std::string> pinned_checkpoints;
};

struct VerifyReport {
  Status status;  // OK, or the first problem
  std::optional<uint64_t> first_bad_index;
  uint64_t records = 0;
  uint64_t tombstones = 0;
  uint64_t checkpoints = 0;         // folder checkpoints verified
  uint64_t pinned_checkpoints = 0;  // caller's checkpoints verified
  bool key_from_folder = false;
  uint64_t key_handovers = 0;  // key changes verified (key_handover.h)
  std::string origin;
  std::optional<Checkpoint> latest;  // the largest verified checkpoint
  std::string latest_note;
  std::vector<std::string> warnings;
};

VerifyReport VerifyLog(const std::string& dir, const VerifyOptions& options, Storage* storage = nullptr);

}  // namespace kp::audit

#endif  // KETENPOORT_CORE_AUDIT_LOG_VERIFIER_H_
