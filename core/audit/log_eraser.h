// Erasure of records whose retention has ended (`ketenpoort audit
// erase-expired`). The record body and its salt are replaced by a tombstone
// frame that keeps the index, the erasure time and the commitment
// SHA-256(salt || record), so the tree, every checkpoint and every proof stay
// valid while the content is gone.
//
// Only records covered by a signed checkpoint are erased (a tail not yet
// checkpointed waits for the next run). The records file is rewritten to a
// temporary file, synced and renamed into place; a crash leaves either the
// old or the new file. The caller holds the folder lock.
#ifndef KETENPOORT_CORE_AUDIT_LOG_ERASER_H_
#define KETENPOORT_CORE_AUDIT_LOG_ERASER_H_

#include <cstdint>
#include <string>

#include "core/audit/log_writer.h"
#include "core/audit/storage.h"
#include "core/base/status.h"

namespace kp::audit {

struct RewriteOutcome {
  uint64_t erased = 0;
  uint64_t first_index = 0;
  uint64_t last_index = 0;
  // Where `limit_offset` of the old file lies in the new one.
  uint64_t new_limit_offset = 0;
};

// Rewrites DIR/records, turning expired records in frames that start before
// `limit_offset` into tombstones. The caller must not hold DIR/records open.
Result<RewriteOutcome> RewriteRecordsErasing(Storage& storage, const std::string& dir, uint64_t limit_offset,
                                             int64_t now_millis);

// The offline form, for a log no writer has open: takes the folder lock and
// erases the expired records below the latest checkpoint. It appends no
// erasure record (it holds no signing key); the tombstones are the trace.
Result<EraseSummary> EraseExpiredOffline(const std::string& dir, int64_t now_millis, Storage* storage = nullptr);

}  // namespace kp::audit

#endif  // KETENPOORT_CORE_AUDIT_LOG_ERASER_H_
