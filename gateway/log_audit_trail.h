// LogAuditTrail: the gateway's AuditTrail over the tamper-evident audit log
// (core/audit/log_writer.h), signing checkpoints with the gateway's own
// Ed25519 key. Thread-safe (LogWriter is).
#ifndef KETENPOORT_GATEWAY_LOG_AUDIT_TRAIL_H_
#define KETENPOORT_GATEWAY_LOG_AUDIT_TRAIL_H_

#include <memory>
#include <string>

#include "core/audit/log_writer.h"
#include "core/identity/identity.h"
#include "gateway/audit_trail.h"

namespace kp::gateway {

class LogAuditTrail final : public AuditTrail {
 public:
  // Opens (creating when missing) the log in `dir`.
  static Result<std::unique_ptr<LogAuditTrail>> Open(const std::string& dir, const Identity& signer,
                                                     const std::string& origin, audit::LogWriterOptions options = {});

  Result<uint64_t> Append(ketenpoort::v1::AuditRecord record) override;
  Result<std::string> Checkpoint() override;
  Result<uint64_t> AppendBuffered(ketenpoort::v1::AuditRecord record) override;
  Status Sync() override { return writer_->Sync(); }
  Result<std::string> SignHead() override { return writer_->SignHead(); }
  audit::LogWriter& writer() { return *writer_; }

 private:
  explicit LogAuditTrail(std::unique_ptr<audit::LogWriter> writer) : writer_(std::move(writer)) {}
  std::unique_ptr<audit::LogWriter> writer_;
};

}  // namespace kp::gateway

#endif  // KETENPOORT_GATEWAY_LOG_AUDIT_TRAIL_H_
