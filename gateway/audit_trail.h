// AuditTrail: what the gateway needs of the audit log (core/audit).
//
// The gateway writes its audit records the way a database writes a
// transaction (docs/operations.md, "Crashes"): each record is first *staged*
// — its index, time and salt fixed — and kept in the case database's outbox
// in the same transaction as the state change it describes; once that
// transaction is committed the staged records are written to the log, the
// unit's messages leave, and then the log is synced (one sync per unit; the
// outbox rows go only once the log's durable size covers them). Records the
// outbox holds but the log does not (a crash or a power cut between the
// commit and the log's sync) are appended on start-up, byte for byte, so the
// log never misses a change that happened and never shows one that did not.
//
// Not thread-safe unless the implementation says so; the gateway calls it
// from one thread.
#ifndef KETENPOORT_GATEWAY_AUDIT_TRAIL_H_
#define KETENPOORT_GATEWAY_AUDIT_TRAIL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/audit/log_writer.h"
#include "core/base/status.h"
#include "ketenpoort/v1/audit.pb.h"

namespace kp::gateway {

class AuditTrail {
 public:
  virtual ~AuditTrail() = default;
  // Fixes the record's index (after everything appended or staged), time and
  // salt; writes nothing.
  virtual Result<audit::StagedRecord> Stage(ketenpoort::v1::AuditRecord record) = 0;
  // Forgets staged records whose transaction was rolled back.
  virtual void DiscardStaged() = 0;
  // Appends staged records and makes them durable; skips those already in
  // the log (recovery from the outbox).
  virtual Status AppendStaged(const std::vector<audit::StagedRecord>& records) = 0;
  // Writes staged records to the log without waiting for the disk (a unit's
  // records, which the committed outbox already keeps durably). An error
  // means nothing that depends on them may be sent.
  virtual Status WriteStaged(const std::vector<audit::StagedRecord>& records) = 0;
  // Makes everything written durable (one fdatasync). An error fails the log
  // until Reopen().
  virtual Status Sync() = 0;
  // Records in the log (appended, not staged).
  virtual uint64_t size() const = 0;
  // Records in the log that are durable: the outbox may be trimmed below it.
  virtual uint64_t durable_size() const = 0;
  // Fault injection (tests): loses what was written since the last sync, as
  // a power cut would.
  virtual Status CutUnsyncedTailForFaultInjection() { return OkStatus(); }
  // A freshly signed checkpoint (C2SP signed note) of the log as it is now,
  // kept in the log folder.
  virtual Result<std::string> Checkpoint() = 0;
  // A signed checkpoint of the log with the staged records, not kept in the
  // folder (for receipts; send only after the staged records are written).
  virtual Result<std::string> SignHead() = 0;
  // After a write error the log refuses every append (it cannot know what
  // reached the disk). Closes and opens it again, which cuts a torn tail and
  // rebuilds its tree: how the gateway recovers from a full disk without a
  // restart. Unavailable while the disk still refuses.
  virtual Status Reopen() = 0;
  // The retention sweep (gateway/retention.h): replaces the bodies of
  // records whose retention ended at `now_ms` by tombstones (every proof
  // stays valid) while the log keeps taking appends, and appends no record
  // (the caller records the ERASURE in a unit). Thread-safe beside Stage,
  // AppendStaged, WriteStaged, Sync, SignHead and Checkpoint — but never
  // beside Reopen.
  // Unimplemented unless the trail says otherwise.
  virtual Result<audit::EraseSummary> EraseExpiredBodies(int64_t /*now_ms*/) {
    return UnimplementedError("this audit trail cannot erase expired records");
  }
  // How many times erasures rewrote the log's records file since it was
  // opened: a privacy officer's pull listed before a rewrite must start again.
  virtual uint64_t rewrites() const { return 0; }
};

}  // namespace kp::gateway

#endif  // KETENPOORT_GATEWAY_AUDIT_TRAIL_H_
