// ForwardingAuditTrail: an AuditTrail that passes every call to the real log
// (gateway/log_audit_trail.h), for tests that make one call fail — a full
// disk, an I/O error on fdatasync — and leave the rest real.
#ifndef KETENPOORT_TESTS_GATEWAY_FORWARDING_AUDIT_TRAIL_H_
#define KETENPOORT_TESTS_GATEWAY_FORWARDING_AUDIT_TRAIL_H_

#include <atomic>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gateway/audit_trail.h"

namespace kp::gateway {

class ForwardingAuditTrail : public AuditTrail {
 public:
  explicit ForwardingAuditTrail(std::unique_ptr<AuditTrail> real) : real_(std::move(real)) {}
  Result<audit::StagedRecord> Stage(ketenpoort::v1::AuditRecord record) override {
    return real_->Stage(std::move(record));
  }
  void DiscardStaged() override { real_->DiscardStaged(); }
  Status AppendStaged(const std::vector<audit::StagedRecord>& records) override {
    return real_->AppendStaged(records);
  }
  Status WriteStaged(const std::vector<audit::StagedRecord>& records) override {
    return real_->WriteStaged(records);
  }
  Status Sync() override { return real_->Sync(); }
  uint64_t size() const override { return real_->size(); }
  uint64_t durable_size() const override { return real_->durable_size(); }
  Result<std::string> SignHead() override { return real_->SignHead(); }
  Result<std::string> Checkpoint() override { return real_->Checkpoint(); }
  Status Reopen() override { return real_->Reopen(); }
  Result<audit::EraseSummary> EraseExpiredBodies(int64_t now_ms) override {
    return real_->EraseExpiredBodies(now_ms);
  }
  uint64_t rewrites() const override { return real_->rewrites(); }
  Status CutUnsyncedTailForFaultInjection() override { return real_->CutUnsyncedTailForFaultInjection(); }

 private:
  std::unique_ptr<AuditTrail> real_;
};

// Fails every Stage() while `*fail` is set (a full disk); the real log
// otherwise.
class FailingAuditTrail final : public ForwardingAuditTrail {
 public:
  FailingAuditTrail(std::unique_ptr<AuditTrail> real, const std::atomic<bool>* fail)
      : ForwardingAuditTrail(std::move(real)), fail_(fail) {}
  Result<audit::StagedRecord> Stage(ketenpoort::v1::AuditRecord record) override {
    if (fail_->load()) return UnavailableError("disk full (injected)");
    return ForwardingAuditTrail::Stage(std::move(record));
  }

 private:
  const std::atomic<bool>* fail_;
};

}  // namespace kp::gateway

#endif  // KETENPOORT_TESTS_GATEWAY_FORWARDING_AUDIT_TRAIL_H_
