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
  // A freshly signed checkpoint (C2SP signed note) of the log as it is now.
  virtual Result<std::string> Checkpoint() = 0;
};

}  // namespace kp::gateway

#endif  // KETENPOORT_GATEWAY_AUDIT_TRAIL_H_
