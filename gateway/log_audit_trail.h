// LogAuditTrail: the gateway's AuditTrail over the tamper-evident audit log
// (core/audit/log_writer.h), signing checkpoints with the gateway's own
// Ed25519 key. One thread uses it (Reopen replaces the writer).
#ifndef KETENPOORT_GATEWAY_LOG_AUDIT_TRAIL_H_
#define KETENPOORT_GATEWAY_LOG_AUDIT_TRAIL_H_

#include <memory>
#include <string>
#include <vector>

#include "core/audit/log_writer.h"
#include "core/identity/identity.h"
#include "gateway/audit_trail.h"

namespace kp::gateway {

class LogAuditTrail final : public AuditTrail {
 public:
  // Opens (creating when missing) the log in `dir`. Borrows `signer`, which
  // must outlive the trail (Reopen signs with it again).
  static Result<std::unique_ptr<LogAuditTrail>> Open(const std::string& dir, const Identity& signer,
                                                     const std::string& origin,
                                                     audit::LogWriterOptions options = {});

  Result<audit::StagedRecord> Stage(ketenpoort::v1::AuditRecord record) override {
    return writer_->Stage(std::move(record));
  }
  void DiscardStaged() override { writer_->DiscardStaged(); }
  Status AppendStaged(const std::vector<audit::StagedRecord>& records) override {
    return writer_->AppendStaged(records);
  }
  Status WriteStaged(const std::vector<audit::StagedRecord>& records) override {
    return writer_->WriteStaged(records);
  }
  Status Sync() override { return writer_->Sync(); }
  uint64_t size() const override { return writer_->size(); }
  uint64_t durable_size() const override { return writer_->durable_size(); }
  Status CutUnsyncedTailForFaultInjection() override { return writer_->CutUnsyncedTailForFaultInjection(); }
  Result<std::string> Checkpoint() override { return writer_->Checkpoint(); }
  Result<std::string> SignHead() override { return writer_->SignHead(); }
  Status Reopen() override;
  Result<audit::EraseSummary> EraseExpiredBodies(int64_t now_ms) override {
    return writer_->EraseExpiredBodies(now_ms);
  }
  uint64_t rewrites() const override { return rewrites_before_ + writer_->rewrites(); }
  audit::LogWriter& writer() { return *writer_; }

 private:
  LogAuditTrail(std::unique_ptr<audit::LogWriter> writer, const Identity& signer, std::string dir,
                std::string origin, audit::LogWriterOptions options)
      : writer_(std::move(writer)),
        signer_(signer),
        dir_(std::move(dir)),
        origin_(std::move(origin)),
        options_(options) {}
  static Result<std::unique_ptr<audit::LogWriter>> OpenWriter(const std::string& dir, const Identity& signer,
                                                              const std::string& origin,
                                                              audit::LogWriterOptions options);
  std::unique_ptr<audit::LogWriter> writer_;
  uint64_t rewrites_before_ = 0;  // by writers Reopen replaced
  const Identity& signer_;
  const std::string dir_;
  const std::string origin_;
  const audit::LogWriterOptions options_;
};

}  // namespace kp::gateway

#endif  // KETENPOORT_GATEWAY_LOG_AUDIT_TRAIL_H_
