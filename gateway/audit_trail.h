// AuditTrail: what the gateway needs of the audit log (core/audit).
//
// Append returns only after the record is durable (write-before-forward:
// DESIGN.md §2); an error means nothing may be forwarded. Not thread-safe
// unless the implementation says so; the gateway calls it from one thread.
#ifndef KETENPOORT_GATEWAY_AUDIT_TRAIL_H_
#define KETENPOORT_GATEWAY_AUDIT_TRAIL_H_

#include <cstdint>
#include <memory>
#include <string>

#include "core/base/status.h"
#include "ketenpoort/v1/audit.pb.h"

namespace kp::gateway {

class AuditTrail {
 public:
  virtual ~AuditTrail() = default;
  // Appends durably; returns the record's index.
  virtual Result<uint64_t> Append(ketenpoort::v1::AuditRecord record) = 0;
  // A freshly signed checkpoint (C2SP signed note) of the log as it is now,
  // kept in the log folder.
  virtual Result<std::string> Checkpoint() = 0;

  // Batching (the gateway handles a burst of messages, then makes their
  // records durable at once, then sends): appends without waiting for the
  // disk. Nothing that depends on the record may be sent before Sync()
  // returned OK. By default the same as Append.
  virtual Result<uint64_t> AppendBuffered(ketenpoort::v1::AuditRecord record) { return Append(std::move(record)); }
  // Makes every buffered record durable.
  virtual Status Sync() { return OkStatus(); }
  // A signed checkpoint of the log as it is now, buffered records included,
  // not kept in the folder (for receipts; send only after Sync()).
  virtual Result<std::string> SignHead() { return Checkpoint(); }
};

}  // namespace kp::gateway

#endif  // KETENPOORT_GATEWAY_AUDIT_TRAIL_H_
