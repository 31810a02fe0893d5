// Erasure of records whose retention has ended (`ketenpoort audit
// erase-expired`). The record body and its salt are replaced by a tombstone
// frame that keeps the index, the erasure time and the commitment
// SHA-256(salt || record), so the tree, every checkpoint and every proof stay
// valid while the content is gone.
//
// Only records covered by a signed checkpoint are erased (a tail not yet
// checkpointed waits for the next run). The records file is rewritten to a
// temporary file, synced and renamed into place; a crash leaves either the
// old or the new file. The offline form holds the folder lock; a running
// writer erases through LogWriter::EraseExpiredBodies, which rewrites the
// checkpointed prefix while appends go on and takes its lock only to copy
// the few frames appended meanwhile and rename (RewritePrefixErasing).
#ifndef KETENPOORT_CORE_AUDIT_LOG_ERASER_H_
#define KETENPOORT_CORE_AUDIT_LOG_ERASER_H_

#include <cstdint>
#include <memory>
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

// The first half of a rewrite: DIR/records.erase-tmp holds the frames of
// DIR/records up to `limit_offset` (a frame boundary), expired records among
// them as tombstones; `out` is left open and unsynced, for the caller to
// append the frames after `source_end` and rename it into place. When
// nothing was erased there is no temporary file (`out` is null).
struct PrefixRewrite {
  std::unique_ptr<LogFile> out;
  std::string tmp_path;
  uint64_t source_end = 0;  // where the copied prefix ends in DIR/records
  RewriteOutcome outcome;   // new_limit_offset: where source_end lies in the new file
};
Result<PrefixRewrite> RewritePrefixErasing(Storage& storage, const std::string& dir, uint64_t limit_offset,
                                           int64_t now_millis);

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
