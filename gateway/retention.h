// The gateway's retention sweep (issue 17 §6; docs/operations.md,
// "Retention"): while the gateway runs, every `retention.sweep_interval`
// (default 1h, and once right after the start) it
//
//  * erases the bodies of audit records whose retention ended, on a thread
//    of its own, while the event loop keeps taking messages and appending
//    (AuditTrail::EraseExpiredBodies: the records file is rewritten beside
//    the writer, which is held only to copy the last frames and rename).
//    Tombstones keep the leaf commitments, so the tree, every checkpoint
//    and every inclusion or consistency proof made before stay valid; once
//    the erasure is done, an ERASURE record says which indexes went, in a
//    unit of its own (GatewayCore::RecordErasure);
//  * prunes closed cases from cases.db once nothing needs them and they
//    were closed at least `retention.closed_case_days` ago, each with a
//    CASE_PRUNED record (GatewayCore::PruneClosedCases), in a unit on the
//    event loop.
//
// RetentionSweep is the schedule and the erasure's thread; the Gateway owns
// it and runs it from its timers. Not thread-safe: the event loop's thread
// calls it; the erasure it starts runs on its own thread.
#ifndef KETENPOORT_GATEWAY_RETENTION_H_
#define KETENPOORT_GATEWAY_RETENTION_H_

#include <cstdint>
#include <future>
#include <optional>

#include "core/audit/log_writer.h"
#include "core/base/status.h"
#include "gateway/audit_trail.h"

namespace kp::gateway {

// Closed cases pruned in one unit; more wait for the next timer tick.
inline constexpr size_t kPruneCasesPerUnit = 500;

class RetentionSweep {
 public:
  explicit RetentionSweep(int64_t interval_ms) : interval_ms_(interval_ms) {}
  // Waits for a running erasure.
  ~RetentionSweep();
  RetentionSweep(const RetentionSweep&) = delete;
  RetentionSweep& operator=(const RetentionSweep&) = delete;

  // True when a sweep is due at `now_ms` (the first at the first call);
  // the next one is then `interval_ms` later.
  bool Due(int64_t now_ms);
  // Starts erasing what expired at `now_ms` on a thread of its own, unless
  // an erasure still runs. `trail` must stay (and not be reopened) until
  // TakeErasure returned its outcome.
  void StartErasure(AuditTrail& trail, int64_t now_ms);
  bool erasing() const { return erasing_.valid(); }
  // The outcome of the erasure once it is done (with `wait`, waits for it);
  // nullopt while it runs, or when none was started.
  std::optional<Result<audit::EraseSummary>> TakeErasure(bool wait);

 private:
  const int64_t interval_ms_;
  int64_t next_ms_ = 0;
  bool started_ = false;
  std::future<Result<audit::EraseSummary>> erasing_;
};

}  // namespace kp::gateway

#endif  // KETENPOORT_GATEWAY_RETENTION_H_
